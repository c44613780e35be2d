"""The catalogue of chain operations: every kind survives its outbox row, reads the rows earlier
releases wrote, names its confirm key the way its event does, encodes the contract call it says,
and says the facts the sender, indexer, reconcile and balances rely on."""

from __future__ import annotations

import json
from typing import Any

import pytest
from web3 import Web3

from backend.chain.artifacts import load_artifact
from backend.chain.calls import encode_award_batch
from backend.chain.context import ChainContext
from backend.chain.operations import (
    BATCHED_KINDS,
    CONFIRMED_BY_RECEIPT,
    CREDIT_KINDS,
    DEBIT_KINDS,
    KEY_EVENTS,
    KINDS,
    OPERATION_ID_EVENTS,
    OPERATION_ID_KINDS,
    AnchorEvents,
    AssignPrefix,
    Award,
    ByEventKey,
    ChainOperation,
    ClaimWallet,
    CreateEdition,
    Expire,
    Fund,
    IssuePassport,
    MalformedOperation,
    MintCollectible,
    OpenPoll,
    PublishRules,
    Recall,
    Redeem,
    RedeemWithPermit,
    RegisterItems,
    RegisterProduct,
    RelayCollectibleTransfer,
    RelayPassport,
    RelayVote,
    Reverse,
    SetOrganisation,
    SetPartnerRoles,
    SetTransferPolicy,
    Transfer,
    kind_of,
)
from backend.db.models import Operation
from backend.provenance.gtin import prefix_key
from backend.settings import Settings

ALICE = "0x" + "11" * 20
BOB = "0x" + "22" * 20
REF = "0x" + "33" * 32
ROOT = "0x" + "44" * 32
ORG = "0x" + "55" * 32
GTIN = 9506000134352
POINTS_ADDRESS = "0x5FbDB2315678afecb367f032d93F642f64180aa3"
REGISTRY_ADDRESS = "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512"
PASSPORTS_ADDRESS = "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0"
COLLECTIBLES_ADDRESS = "0xCf7Ed3AccA5a467e9e704C703E8D87F634fB0Fc9"

# One of every kind, with the contract function it calls.
EXAMPLES: list[tuple[ChainOperation, str]] = [
    (Award(account=ALICE, amount=120, ref=REF, rule_version=3), "awardBatch"),
    (Reverse(account=ALICE, amount=40, ref=REF), "reverse"),
    (Redeem(account=ALICE, amount=300, ref=REF), "redeemFor"),
    (RedeemWithPermit(account=ALICE, amount=100, ref=REF, deadline=2**40, v=27, r=ROOT, s=REF), "redeemWithPermit"),
    (Transfer(account=ALICE, amount=5, ref=REF, to=BOB), "transferFor"),
    (Expire(account=ALICE, amount=9), "expireBatch"),
    (ClaimWallet(account=ALICE, wallet=BOB), "claimWallet"),
    (PublishRules(rule_version=2, content_hash=REF), "publishRuleSet"),
    (SetTransferPolicy(enabled=True, daily_cap=500), "setTransferPolicy"),
    (Fund(account=ALICE, amount=5 * 10**16, organisation="acme"), ""),
    (SetOrganisation(org_id=ORG, controller=ALICE, roles=3, active=True, admits="acme"), "setOrganisation"),
    (SetPartnerRoles(org="acme", partner_id=ORG, roles=2), "setPartnerRoles"),
    (AssignPrefix(prefix_key=prefix_key("0950600"), org_id=ORG), "assignCompanyPrefix"),
    (RegisterProduct(org="acme", gtin=GTIN), "registerProduct"),
    (RegisterItems(org="acme", gtin=GTIN, root=ROOT, count=3), "registerItems"),
    (AnchorEvents(org="acme", root=ROOT, count=7), "anchorEvents"),
    (Recall(org="acme", gtin=GTIN, scope_root=ROOT, count=2, reason_ref=REF), "recall"),
    (
        IssuePassport(account=ALICE, ref=REF, gtin=GTIN, custodial=True, commitment=ROOT, root=ROOT, proof=[REF, ORG]),
        "issue",
    ),
    (RelayPassport(account=ALICE, ref=REF, to=BOB, custodial=False), "relayTransfer"),
    (CreateEdition(edition=7, cap=100), "createEdition"),
    (MintCollectible(account=ALICE, amount=2, edition=7, custodial=True), "mint"),
    (OpenPoll(poll=3, edition=7, options=4, close_block=900), "openPoll"),
    (RelayVote(account=ALICE, poll=3, option=1), "relayVote"),
    (RelayCollectibleTransfer(account=ALICE, amount=1, edition=7, to=BOB, custodial=True), "relayTransfer"),
]

# What each event-keyed kind's event says about the example above.
EVENT_ARGS: dict[str, dict[str, Any]] = {
    "publish_rules": {"version": 2, "contentHash": REF},
    "assign_prefix": {"prefixKey": prefix_key("0950600"), "orgId": ORG},
    "register_product": {"gtin": GTIN, "brandId": ORG},
    "register_items": {"root": ROOT, "gtin": GTIN, "manufacturerId": ORG, "count": 3},
    "anchor_events": {"root": ROOT, "orgId": ORG, "count": 7},
    "recall": {"recallId": 1, "gtin": GTIN, "brandId": ORG, "scopeRoot": ROOT, "count": 2, "reasonRef": REF},
    "create_edition": {"edition": 7, "cap": 100},
    "open_poll": {"pollId": 3, "edition": 7, "options": 4, "snapshotBlock": 800, "closeBlock": 900},
}


def _ctx() -> ChainContext:
    build = Settings().build_dir
    w3 = Web3()
    points = w3.eth.contract(address=POINTS_ADDRESS, abi=load_artifact(build, "LoyaltyPoints").abi)
    registry = w3.eth.contract(address=REGISTRY_ADDRESS, abi=load_artifact(build, "ProvenanceRegistry").abi)
    passports = w3.eth.contract(address=PASSPORTS_ADDRESS, abi=load_artifact(build, "ItemPassports").abi)
    collectibles = w3.eth.contract(address=COLLECTIBLES_ADDRESS, abi=load_artifact(build, "CollectibleRewards").abi)
    return ChainContext(w3, 31337, None, points, registry, passports, collectibles)  # type: ignore[arg-type]


CTX = _ctx()


def _row(op: ChainOperation, id: int = 7) -> Operation:
    return Operation(id=id, **op.row())


def test_the_examples_cover_every_kind() -> None:
    assert sorted(op.kind for op, _ in EXAMPLES) == sorted(KINDS)


@pytest.mark.parametrize(("op", "function"), EXAMPLES, ids=[op.kind for op, _ in EXAMPLES])
def test_every_kind_comes_back_from_its_row(op: ChainOperation, function: str) -> None:
    row = _row(op)
    back = kind_of(row.kind).from_row(row)
    key_only = {"organisation", "admits"}  # name the operation (its confirm key); not needed to send it
    assert {k: v for k, v in vars(back).items() if k not in key_only} == {
        k: v for k, v in vars(op).items() if k not in key_only
    }
    assert (row.kind, row.signer, row.confirm_key) == (op.kind, op.signer(), op.confirm_key())


@pytest.mark.parametrize(("op", "function"), EXAMPLES, ids=[op.kind for op, _ in EXAMPLES])
def test_every_kind_encodes_the_call_it_names(op: ChainOperation, function: str) -> None:
    tx = kind_of(op.kind).from_row(_row(op)).call(CTX, 7)
    if not function:  # a value transfer
        assert (tx["to"], tx["value"]) == (Web3.to_checksum_address(ALICE), 5 * 10**16)
        return
    by_address = {POINTS_ADDRESS: CTX.points, PASSPORTS_ADDRESS: CTX.passports, COLLECTIBLES_ADDRESS: CTX.collectibles}
    contract = by_address.get(tx["to"], CTX.registry)
    assert contract is not None
    called, args = contract.decode_function_input(tx["data"])
    assert called.fn_name == function
    if op.carries_operation_id:  # the outbox id travels with the call (in a batch: in each item)
        if "operationId" in args:
            carried = args["operationId"]
        else:  # a struct (a passport claim, a mint) or a batch of them (awards, expiries)
            first = next(iter(args.values()))
            carried = (first if isinstance(first, dict) else first[0])["operationId"]
        assert carried == 7


def test_an_award_alone_is_the_batch_of_one() -> None:
    award = Award(account=ALICE, amount=120, ref=REF, rule_version=3)
    assert award.call(CTX, 7)["data"] == Award.batch_call(CTX, [_row(award)])["data"]
    assert "0x" + encode_award_batch([_row(award)]).hex() == award.call(CTX, 7)["data"]


def test_mints_go_in_one_mint_batch_each_with_its_own_operation_id() -> None:
    rows = [
        _row(MintCollectible(account=ALICE, amount=1, edition=7, custodial=True), 11),
        _row(MintCollectible(BOB, 2, 8, False), 12),
    ]
    tx = MintCollectible.batch_call(CTX, rows)
    assert CTX.collectibles is not None
    called, args = CTX.collectibles.decode_function_input(tx["data"])
    assert called.fn_name == "mintBatch"
    assert [(m["operationId"], m["edition"], m["amount"]) for m in args["requests"]] == [(11, 7, 1), (12, 8, 2)]
    assert [m["custodial"] for m in args["requests"]] == [True, False]  # custody travels with each mint


@pytest.mark.parametrize("kind", sorted(k for k, c in KINDS.items() if isinstance(c.confirmed_by, ByEventKey)))
def test_event_keyed_kinds_name_their_key_as_their_event_does(kind: str) -> None:
    op = next(op for op, _ in EXAMPLES if op.kind == kind)
    confirmed_by = KINDS[kind].confirmed_by
    assert isinstance(confirmed_by, ByEventKey)
    assert KEY_EVENTS[(confirmed_by.contract, confirmed_by.event)](EVENT_ARGS[kind]) == op.confirm_key()


def test_rows_written_before_the_catalogue_read_back() -> None:
    """Pending operations of an earlier release are sent after an upgrade (key order, the legacy
    ``admin`` signer name and unsorted payloads included)."""
    stored = json.dumps({"deadline": 2**40, "v": 27, "r": ROOT, "s": REF}, sort_keys=True)
    permit = Operation(id=3, kind="redeem_permit", signer="issuer", account=ALICE, amount=100, ref=REF, payload=stored)
    assert RedeemWithPermit.from_row(permit) == RedeemWithPermit(ALICE, 100, REF, 2**40, 27, ROOT, REF)
    items = Operation(
        id=4,
        kind="register_items",
        signer="org:acme",
        confirm_key=f"items:{ROOT}",
        payload=json.dumps({"gtin": GTIN, "root": ROOT, "count": 3}),
    )
    assert RegisterItems.from_row(items) == RegisterItems(org="acme", gtin=GTIN, root=ROOT, count=3)
    policy = Operation(id=5, kind="set_transfer_policy", signer="admin", payload='{"daily_cap": 0, "enabled": true}')
    assert SetTransferPolicy.from_row(policy) == SetTransferPolicy(enabled=True, daily_cap=0)
    fund = Operation(id=6, kind="fund", signer="admin", account=ALICE, amount=5, confirm_key="org:acme:funded")
    assert Fund.from_row(fund).call(CTX, 6) == {"to": Web3.to_checksum_address(ALICE), "value": 5}


def test_rows_that_are_not_their_kind_are_refused_as_values() -> None:
    """The sender fails such an operation with the reason (a ValueError), it does not crash."""
    broken = Operation(id=8, kind="transfer", signer="issuer", account=ALICE, amount=1, ref=REF, payload="{}")
    with pytest.raises(MalformedOperation, match="operation 8"):
        Transfer.from_row(broken)
    with pytest.raises(MalformedOperation, match="unknown operation kind"):
        kind_of("mint_freely")
    with pytest.raises(ValueError, match="bytes"):
        Reverse(account=ALICE, amount=1, ref="0x12").call(CTX, 1)


def test_what_the_platform_reads_off_the_catalogue() -> None:
    # Every loyalty burn, the permit one included, carries its outbox id: reconcile asks the chain.
    assert set(OPERATION_ID_KINDS) == {
        *("award", "reverse", "redeem", "redeem_permit", "transfer", "expire", "claim"),
        *("issue_passport", "relay_passport"),  # on ItemPassports, which keeps its own used ids
        *("mint_collectible", "relay_vote", "relay_collectible_transfer"),  # on CollectibleRewards, likewise
    }
    assert set(DEBIT_KINDS) == {"reverse", "redeem", "redeem_permit", "transfer", "expire"}
    assert set(CREDIT_KINDS) == {"award"}
    assert set(BATCHED_KINDS) == {"award", "mint_collectible", "issue_passport"}
    assert set(CONFIRMED_BY_RECEIPT) == {"fund", "set_transfer_policy"}
    assert {event for _, event in OPERATION_ID_EVENTS} == {
        "PointsAwarded",
        "PointsReversed",
        "PointsRedeemed",
        "PointsTransferred",
        "PointsExpired",
        "WalletClaimed",
        "PassportIssued",
        "PassportRelayed",
        "CollectiblesMinted",
        "PollVoted",
        "CollectiblesRelayed",
    }
    signers = {op.kind: op.signer() for op, _ in EXAMPLES}
    assert {signers[k] for k in OPERATION_ID_KINDS} == {"issuer"}  # never the deployer, never an organisation
    assert signers["register_items"] == "org:acme"
    assert {signers[k] for k in ("publish_rules", "set_transfer_policy", "fund", "set_organisation")} == {"operator"}
    assert {signers[k] for k in ("create_edition", "open_poll")} == {"operator"}


def test_set_organisation_keeps_its_controller_in_the_account_column() -> None:
    row = SetOrganisation(org_id=ORG, controller=ALICE, roles=3, active=True).row()
    assert (row["account"], row["confirm_key"], json.loads(row["payload"])["controller"]) == (ALICE, None, ALICE)
