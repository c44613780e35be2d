"""A reorganisation takes back a collectible's mint and a relayed vote: the mirror drops them (the
member holds nothing, the poll counts nothing), reconcile agrees with the chain, and once the
sender sends them again the copy and the vote are back, each applied once. The same for a relayed
transfer of a copy held in custody: the copy and its custody go back to the giver, then move once."""

from __future__ import annotations

import json

import pytest
from sqlmodel import Session, select

from backend.db.models import Operation
from backend.loyalty.collectible_transfers import copies_in_custody
from backend.loyalty.collectibles import copies_held
from tests.e2e.loyalty_helpers import buy, line, order
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain
EDITION = 77


def held(platform: Platform, address: str) -> int:
    with Session(platform.engine) as session:
        return copies_held(session, address, EDITION)


def test_a_reorg_takes_back_a_mint_and_a_vote_then_they_come_back_once(platform: Platform) -> None:
    client, admin = platform.client, platform.headers("admin")
    reward = {"id": "reorg-pin", "name": "Pin", "points_price": 10, "collectible": {"edition": EDITION, "cap": 3}}
    assert client.post("/v1/rewards", json=reward, headers=admin).status_code == 201
    buy(platform, order("RC-1", "ivy", line("A", 1, "50.00")))
    poll = {"edition": EDITION, "question": "?", "options": ["a", "b"], "blocks_open": 1000}
    platform.settle()
    redeem = {"redemption_id": "rc-1", "reward_id": "reorg-pin"}
    assert (
        client.post("/v1/customers/ivy/redemptions", json=redeem, headers=platform.as_customer("ivy")).status_code
        == 200
    )
    platform.settle()
    poll_id = client.post("/v1/polls", json=poll, headers=admin).json()["poll_id"]
    platform.settle()
    votes = f"/v1/customers/ivy/polls/{poll_id}/votes"
    assert client.post(votes, json={"option": 1}, headers=platform.as_customer("ivy")).status_code == 202
    platform.settle()
    with Session(platform.engine) as session:
        mint = session.exec(select(Operation).where(Operation.kind == "mint_collectible")).one()
        address = mint.account
    assert address is not None
    assert mint.confirmed_block is not None
    assert held(platform, address) == 1

    depth = int(platform.ctx.w3.eth.block_number) - mint.confirmed_block + 1
    rpc(platform.ctx.w3, "anvil_rollback", depth)  # the mint, the poll and the vote are gone
    result = platform.indexer.step()
    assert result is not None
    assert result.reorged_to == mint.confirmed_block - 1
    assert held(platform, address) == 0
    assert client.get(f"/v1/polls/{poll_id}", headers=admin).json()["results"] is None
    assert platform.reconcile().ok

    platform.sender.recover()
    platform.settle()
    platform.assert_mirror_matches_chain()
    assert held(platform, address) == 1
    assert platform.ctx.collectibles is not None
    assert tuple(platform.ctx.collectibles.functions.edition(EDITION).call()) == (3, 1)  # minted once
    assert client.get(f"/v1/polls/{poll_id}", headers=admin).json()["results"]["counts"] == [0, 1]


def test_a_reorg_takes_back_a_relayed_transfer_and_custody_then_it_moves_once(platform: Platform) -> None:
    client = platform.client
    reward = {"id": "reorg-gift", "name": "Gift", "points_price": 10, "collectible": {"edition": EDITION, "cap": 3}}
    assert client.post("/v1/rewards", json=reward, headers=platform.headers("admin")).status_code == 201
    buy(platform, order("RT-1", "ivy", line("A", 1, "50.00")))
    client.post("/v1/customers", json={"customer_id": "jon"}, headers=platform.headers())
    platform.settle()
    redeem = {"redemption_id": "rt-1", "reward_id": "reorg-gift"}
    assert (
        client.post("/v1/customers/ivy/redemptions", json=redeem, headers=platform.as_customer("ivy")).status_code
        == 200
    )
    platform.settle()
    give = {"transfer_id": "rt-g", "to_customer_id": "jon"}
    gave = client.post(
        f"/v1/customers/ivy/collectibles/{EDITION}/transfers", json=give, headers=platform.as_customer("ivy")
    )
    assert gave.status_code == 202, gave.text
    platform.settle()
    with Session(platform.engine) as session:
        relay = session.exec(select(Operation).where(Operation.kind == "relay_collectible_transfer")).one()
    giver, receiver = relay.account, json.loads(relay.payload or "{}")["to"]
    assert giver is not None
    assert relay.confirmed_block is not None

    def state() -> tuple[int, int, int, int]:
        with Session(platform.engine) as session:
            return (
                copies_held(session, giver, EDITION),
                copies_in_custody(session, giver, EDITION),
                copies_held(session, receiver, EDITION),
                copies_in_custody(session, receiver, EDITION),
            )

    assert state() == (0, 0, 1, 1)
    rpc(platform.ctx.w3, "anvil_rollback", int(platform.ctx.w3.eth.block_number) - relay.confirmed_block + 1)
    assert platform.indexer.step() is not None
    assert state() == (1, 1, 0, 0)  # the copy and its custody are the giver's again
    assert platform.reconcile().ok

    platform.sender.recover()
    platform.settle()
    platform.assert_mirror_matches_chain()
    assert state() == (0, 0, 1, 1)
