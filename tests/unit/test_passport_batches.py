"""Passport claims are a batched kind: ready claims go in one ``issueBatch``, each with its own
outbox id, at most ``IssuePassport.max_batch`` to a transaction, and a batch refused as "already
applied" is sorted on the contract of its kind (the chain side is in
tests/e2e/test_passport_batches.py)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from backend.chain.operations import (
    BATCHED_KINDS,
    KINDS,
    OPERATION_ID_KINDS,
    Award,
    ByOperationId,
    IssuePassport,
    operation_id_contract,
)
from backend.chain.sender import Sender
from backend.db.models import Operation
from backend.db.types import utcnow
from tests.unit.test_operations_catalogue import ALICE, BOB, CTX, GTIN, REF, ROOT

PROOF = ["0x" + "66" * 32, "0x" + "77" * 32]


def claim(account: str = ALICE, ref: str = REF) -> IssuePassport:
    return IssuePassport(account=account, ref=ref, gtin=GTIN, custodial=True, commitment=ROOT, root=ROOT, proof=PROOF)


def test_claims_go_in_one_issue_batch_each_with_its_own_operation_id() -> None:
    assert "issue_passport" in BATCHED_KINDS
    rows = [Operation(id=11, **claim().row()), Operation(id=12, **claim(BOB, ROOT).row())]
    tx = IssuePassport.batch_call(CTX, rows)
    assert CTX.passports is not None
    called, args = CTX.passports.decode_function_input(tx["data"])
    assert called.fn_name == "issueBatch"
    sent = [(c["operationId"], c["holder"].lower(), "0x" + c["proof"][1].hex()) for c in args["claims"]]
    assert sent == [(11, ALICE, PROOF[1]), (12, BOB, PROOF[1])]
    single = CTX.passports.decode_function_input(claim().call(CTX, 11)["data"])[1]["claim"]
    assert single == args["claims"][0]  # the claim is the same alone or in a batch


def _sender(batch_size: int) -> Sender:
    """A sender for planning only (planning reads no database, chain or key)."""
    none: Any = None
    return Sender(none, CTX, none, batch_size=batch_size, max_delay_ms=200, max_in_flight=16)


def _planned(sender: Sender, ops: list[Operation]) -> list[tuple[str, int]]:
    return [(group[0].kind, len(group)) for _, group in sender._plan(ops, {})]


def test_the_sender_keeps_a_kind_within_its_own_cap_per_transaction() -> None:
    """Claims carry a Merkle proof and cost ~3x an award: 256 of them could pass a block's gas
    limit. The sender's batch size still bounds every kind, and a partial batch still waits."""
    cap = IssuePassport.max_batch
    assert cap is not None
    assert cap < 256
    old = utcnow() - timedelta(seconds=5)
    claims = [Operation(id=n, created_at=old, **claim().row()) for n in range(1, cap + 11)]
    award = Award(account=ALICE, amount=5, ref=REF, rule_version=1)
    awards = [Operation(id=1000 + n, created_at=old, **award.row()) for n in range(300)]
    sender = _sender(batch_size=256)
    planned = _planned(sender, claims + awards)
    assert planned == [("issue_passport", cap), ("issue_passport", 10), ("award", 256), ("award", 44)]
    small = _planned(_sender(batch_size=8), claims[:20])
    assert small == [("issue_passport", 8), ("issue_passport", 8), ("issue_passport", 4)]
    fresh = [Operation(id=n, created_at=utcnow(), **claim().row()) for n in range(1, cap + 3)]
    assert _planned(sender, fresh) == [("issue_passport", cap)]  # the 2 left wait for company


@pytest.mark.parametrize("kind", sorted(OPERATION_ID_KINDS))
def test_the_sender_asks_the_contract_that_keeps_a_kinds_operation_ids(kind: str) -> None:
    """A batch refused as "already applied" is sorted with ``isOperationApplied`` of the contract
    that confirms its kind (asking the points token about a passport claim finds nothing)."""
    confirmation = KINDS[kind].confirmed_by
    assert isinstance(confirmation, ByOperationId)
    expected = {"LoyaltyPoints": CTX.points, "ItemPassports": CTX.passports, "CollectibleRewards": CTX.collectibles}
    assert CTX.contract(operation_id_contract(kind)) is expected[confirmation.contract]
