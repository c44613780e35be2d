"""A poll where one holder votes with their own wallet, on chain, and another through the
platform, on a real Anvil: the wallet's vote (``CollectibleRewards.vote`` signed by its key) is
counted once by the API, by the recount from the node and by ``credance polls recount`` run
with the deployment's defaults (no ``--address``); a relayed vote for the same address is
refused by the API (nothing written) and, queued behind its back, by the chain."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlmodel import Session
from typer.testing import CliRunner

from backend.chain.operations import RelayVote, enqueue
from backend.cli.main import app as cli
from backend.db.models import Operation, OperationStatus
from backend.indexer.poll_recount import recount_from_node
from backend.indexer.rpc import JsonRpc
from backend.settings import get_settings
from tests.e2e.loyalty_helpers import buy, claim_typed_data, line, new_wallet, order, permit, signed_claim
from tests.e2e.test_collectibles import refused, written
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain

EDITION = 61


def own_wallet(platform: Platform, member: str) -> Any:
    """The member takes their points to a wallet of their own (the EIP-712 claim): its account."""
    wallet, headers = new_wallet(), platform.as_customer(member)
    claim = signed_claim(claim_typed_data(platform, member, wallet.address, headers), wallet)
    linked = platform.client.post(f"/v1/customers/{member}/wallet", json=claim, headers=headers)
    assert linked.status_code == 202, linked.text
    platform.settle()
    return wallet


def vote_with(platform: Platform, wallet: Any, poll_id: int, option: int) -> None:
    """``CollectibleRewards.vote`` signed by the wallet's own key (its gas paid by the wallet)."""
    w3, contract = platform.ctx.w3, platform.ctx.collectibles
    assert contract is not None
    rpc(w3, "anvil_setBalance", wallet.address, hex(10**18))
    nonce = w3.eth.get_transaction_count(wallet.address)
    tx = contract.functions.vote(poll_id, option).build_transaction({"from": wallet.address, "nonce": nonce})
    sent = w3.eth.send_raw_transaction(wallet.sign_transaction(tx).raw_transaction)
    assert w3.eth.wait_for_transaction_receipt(sent)["status"] == 1


def recount_by_cli(platform: Platform, poll_id: int, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    """``credance polls recount ID --json`` as an operator runs it: the contract's address and first
    block from the deployment's manifest, the node from the configuration."""
    s = platform.settings
    monkeypatch.setenv("CREDANCE_HOME", str(s.home))
    monkeypatch.setenv("CREDANCE_RPC_URL", s.resolved_rpc_url)
    monkeypatch.setenv("CREDANCE_DEPLOYMENTS_DIR", str(s.deployments_dir))
    monkeypatch.setenv("CREDANCE_BUILD_DIR", str(s.build_dir))
    # The command would point the process's logs at the runner's captured stderr, closed afterwards.
    monkeypatch.setattr("backend.cli.common.configure_logging", lambda *args: None)
    get_settings.cache_clear()
    try:
        printed = CliRunner().invoke(cli, ["polls", "recount", str(poll_id), "--json"])
    finally:
        get_settings.cache_clear()
    assert printed.exit_code == 0, printed.output
    return dict(json.loads(printed.stdout.strip().splitlines()[-1]))


def test_a_wallet_votes_on_chain_once_and_every_count_agrees(
    platform: Platform, monkeypatch: pytest.MonkeyPatch
) -> None:
    client, admin = platform.client, platform.headers("admin")
    collectible = {"edition": EDITION, "cap": 3}
    reward = {"id": "poll-pass", "name": "Poll pass", "points_price": 100, "collectible": collectible}
    assert client.post("/v1/rewards", json=reward, headers=admin).status_code == 201
    for member, number in (("wren", "V-1"), ("carl", "V-2")):
        buy(platform, order(number, member, line("A", 1, "250.00")))
    platform.settle()
    wallet = own_wallet(platform, "wren")
    wren = platform.as_customer("wren")
    with_permit = {"redemption_id": "pp-1", "reward_id": "poll-pass", "permit": permit(platform, wallet, 100)}
    redeemed = client.post("/v1/customers/wren/redemptions", json=with_permit, headers=wren)
    assert redeemed.status_code == 200, redeemed.text
    carl_redeems = {"redemption_id": "pp-2", "reward_id": "poll-pass"}
    redeemed = client.post("/v1/customers/carl/redemptions", json=carl_redeems, headers=platform.as_customer("carl"))
    assert redeemed.status_code == 200, redeemed.text
    platform.settle()
    contract = platform.ctx.collectibles
    assert contract is not None
    assert contract.functions.balanceOf(wallet.address, EDITION).call() == 1  # her copy is in her wallet
    poll = {"edition": EDITION, "question": "Which colour?", "options": ["Red", "Teal", "Sand"], "blocks_open": 60}
    opened = client.post("/v1/polls", json=poll, headers=admin)
    assert opened.status_code == 202, opened.text
    poll_id = opened.json()["poll_id"]
    platform.settle()

    vote_with(platform, wallet, poll_id, 2)  # wren votes herself
    carl = platform.as_customer("carl", ["collectibles"])
    assert client.post(f"/v1/customers/carl/polls/{poll_id}/votes", json={"option": 0}, headers=carl).status_code == 202
    # A second vote for wren's address, relayed: the API refuses it (her wallet votes for her)...
    before = written(platform)
    wren_votes = f"/v1/customers/wren/polls/{poll_id}/votes"
    relayed = client.post(wren_votes, json={"option": 1}, headers=platform.as_customer("wren", ["collectibles"]))
    refused(relayed, 409, "customer_id")
    assert written(platform) == before
    # ...and queued behind its back (a script with database access), the chain refuses it.
    with Session(platform.engine) as session:
        queued = enqueue(session, RelayVote(account=wallet.address, poll=poll_id, option=1))
        session.commit()
        relay_id = queued.id
    platform.settle()
    with Session(platform.engine) as session:
        relay = session.get(Operation, relay_id)
        assert relay is not None
        assert relay.status == OperationStatus.FAILED
        assert "CollectibleRewardsAlreadyVoted" in (relay.last_error or "")
    assert contract.functions.hasVoted(poll_id, wallet.address).call()

    answer = client.get(f"/v1/polls/{poll_id}", headers=admin).json()["results"]
    assert answer["counts"] == [1, 0, 1]  # carl's relayed vote and wren's own, once each
    assert (answer["eligible"], answer["ignored"]) == (2, 0)
    start = platform.ctx.manifest.contracts["CollectibleRewards"].deploy_block
    node = JsonRpc(platform.settings.resolved_rpc_url)
    assert recount_from_node(node, contract.address, contract.abi, start, poll_id).as_dict() == answer
    assert recount_by_cli(platform, poll_id, monkeypatch) == answer
    platform.assert_mirror_matches_chain()
