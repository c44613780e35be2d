"""Passport claims go to the chain in batches (``IssuePassport`` is a batched kind: one
``issueBatch`` for the claims ready together), on a real Anvil: fewer transactions than claims,
each passport minted once with its operation id applied, a claim an earlier transaction already
applied is recognised on the passports contract (not failed, not sent twice), and a batch that
reverts once mined comes back without its bad claim instead of holding the others."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest
from eth_account import Account
from hexbytes import HexBytes
from sqlmodel import Session

from backend.chain.local_signer import LocalSigner
from backend.chain.operations import IssuePassport
from backend.db.models import ChainTransaction, Operation, OperationStatus
from tests.contracts.helpers import send
from tests.e2e.test_passports import buy
from tests.e2e.test_provenance_ownership import anchor_and_settle
from tests.integration.test_sender import make_sender, operations, settle_with
from tests.provenance.support import FRESH, Api, at, commission, sgtin
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain

MEMBERS = ("ann", "ben", "cat", "dan")


def queue_claims(platform: Platform, api: Api, count: int) -> dict[str, dict[str, Any]]:
    """``count`` members each buy one item and claim its passport, nothing sent yet: their answers."""
    members = MEMBERS[:count]
    serials = [f"SN000{n}" for n in range(1, count + 1)]
    for member in members:
        enrolled = api.client.post("/v1/customers", json={"customer_id": member}, headers=api.headers("admin"))
        assert enrolled.status_code in (200, 201), enrolled.text
    api.accept("demo-brand", commission([sgtin(FRESH, s) for s in serials], at(0)))
    anchor_and_settle(platform)
    for number, (member, serial) in enumerate(zip(members, serials, strict=True)):
        buy(api, member, f"PB-{number}", serial)
    platform.settle()
    answers = {}
    for member, serial in zip(members, serials, strict=True):
        body = {"claim_id": f"batch-{member}", "gtin": FRESH, "serial": serial}
        claimed = api.client.post(f"/v1/customers/{member}/passports", json=body, headers=platform.as_customer(member))
        assert claimed.status_code == 202, claimed.text
        answers[member] = dict(claimed.json())
    return answers


def issued(platform: Platform) -> Counter[int]:
    """How many times each passport was issued on chain (``PassportIssued`` per token id)."""
    assert platform.ctx.passports is not None
    logs = platform.ctx.passports.events.PassportIssued().get_logs(from_block=0)
    return Counter(int(log["args"]["tokenId"]) for log in logs)


def held_by_buyers(platform: Platform, answers: dict[str, dict[str, Any]]) -> None:
    """Each passport at its buyer's custodial address, on chain and in their API answer."""
    assert platform.ctx.passports is not None
    for member, answer in answers.items():
        token_id = answer["token_id"]
        address = platform.client.get(f"/v1/customers/{member}/balance", headers=platform.headers("admin")).json()
        assert platform.ctx.passports.functions.ownerOf(int(token_id, 16)).call() == address["address"]
        mine = platform.client.get(f"/v1/customers/{member}/passports", headers=platform.as_customer(member)).json()
        assert [p["token_id"] for p in mine["passports"]] == [token_id]


def test_claims_queued_together_are_issued_in_one_transaction_each_once(brand_goods: tuple[Platform, Api]) -> None:
    platform, api = brand_goods
    answers = queue_claims(platform, api, 4)
    ids = [answer["operation_id"] for answer in answers.values()]
    passports = platform.ctx.passports
    assert passports is not None
    # each claim waits for its item batch's registration (a reorg that takes it back re-sends it first)
    registrations = {op.depends_on for op in operations(platform, ids)}
    assert len(registrations) == 1
    with Session(platform.engine) as session:
        registration = session.get(Operation, registrations.pop())
        assert registration is not None
        assert registration.kind == "register_items"
    # A transaction the outbox lost track of (a crash before its record, an operator's script)
    # issued ann's claim already, under its own operation id.
    sender = make_sender(platform)
    lost = IssuePassport.batch_call(platform.ctx, operations(platform, ids[:1]))
    sender.signers.get("issuer").transact(lost)

    sent = sender.step()
    assert (sent.transactions, sent.operations) == (1, 3)
    ops = {op.id: op for op in operations(platform, ids)}
    assert {op.status for op in ops.values()} == {OperationStatus.SENT}
    assert ops[ids[0]].tx_hash is None  # recognised as applied on ItemPassports: the indexer confirms it
    assert len({ops[i].tx_hash for i in ids[1:]}) == 1  # the three others in one issueBatch

    settle_with(platform, sender)
    assert {op.status for op in operations(platform, ids)} == {OperationStatus.CONFIRMED}
    assert all(passports.functions.isOperationApplied(i).call() for i in ids)
    tokens = [int(answer["token_id"], 16) for answer in answers.values()]
    assert issued(platform) == Counter(tokens)  # each passport once, the retried one included
    held_by_buyers(platform, answers)
    platform.assert_mirror_matches_chain()


def test_a_batch_that_reverts_on_chain_comes_back_without_its_bad_claim(
    brand_goods: tuple[Platform, Api], dev_keys: list[str]
) -> None:
    """The batch passes simulation, then another issuer key issues one of its items first: mined,
    it reverts whole. Its claims go back to the queue, the next simulation halves the batch until
    the claim the chain refuses is alone (it fails), and the others go in one transaction."""
    platform, api = brand_goods
    answers = queue_claims(platform, api, 3)
    ids = [answer["operation_id"] for answer in answers.values()]
    w3, passports = platform.ctx.w3, platform.ctx.passports
    assert passports is not None
    admin = LocalSigner(w3, dev_keys[0], platform.ctx.chain_id)  # the deployer: DEFAULT_ADMIN_ROLE
    rival = LocalSigner(w3, "0x" + bytes(Account.create().key).hex(), platform.ctx.chain_id)
    rpc(w3, "anvil_setBalance", rival.address, hex(10**18))
    send(admin, passports.functions.grantRole(passports.functions.ISSUER_ROLE().call(), rival.address))

    sender = make_sender(platform)
    rpc(w3, "evm_setAutomine", False)
    try:
        assert sender.step().transactions == 1  # simulated, recorded and broadcast: in the pool
        (batch,) = {op.tx_hash for op in operations(platform, ids)}
        assert batch is not None
        rpc(w3, "anvil_dropTransaction", batch)  # held back while the rival's issue is mined first
    finally:
        rpc(w3, "evm_setAutomine", True)
    first = IssuePassport.from_row(operations(platform, ids[:1])[0])
    rival.transact(first.call(platform.ctx, 2**40))  # ann's item, to ann, under another id
    with Session(platform.engine) as session:
        recorded = session.get(ChainTransaction, batch)
        assert recorded is not None
    w3.eth.send_raw_transaction(HexBytes(recorded.raw))  # the sender's own signed batch, as it recorded it
    assert w3.eth.wait_for_transaction_receipt(batch)["status"] == 0  # the whole batch reverted

    sender.step()  # the receipt sends the three back to the queue; the new batch is refused, halved
    ops = {op.id: op for op in operations(platform, ids)}
    assert ops[ids[0]].status == OperationStatus.FAILED
    assert "ItemPassportsAlreadyIssued" in (ops[ids[0]].last_error or "")
    resent = {ops[i].tx_hash for i in ids[1:]}
    assert len(resent) == 1  # the two others together...
    assert batch not in resent  # ...in a new transaction
    settle_with(platform, sender)
    assert [op.status for op in operations(platform, ids[1:])] == [OperationStatus.CONFIRMED] * 2
    assert [passports.functions.isOperationApplied(i).call() for i in ids] == [False, True, True]
    assert issued(platform) == Counter(int(answer["token_id"], 16) for answer in answers.values())
    held_by_buyers(platform, answers)
    platform.assert_mirror_matches_chain()
