"""Purchases read and written set-based: the checkout's fast path, and the rows of every purchase.

The group-commit writer hands over every purchase that arrived while its previous transaction was
committing. For plain purchases (``PurchaseInput.is_plain``: nothing paid with points, no serialized
item) — a returning or a new customer, any rules — ``record_plain`` reads what the whole run needs
in a few queries (its stores, the purchases already recorded under its order ids, its customers,
their standing, and their segments and qualifying points when the rules use them), assesses every
purchase in order (``assessment``: the rules), carrying each member's books from one purchase of
the run to the next, then writes all rows with one bulk statement per table. Ids are allocated up
front (``backend.db.ids``) so that rows can name each other.

Every check runs before anything is written: a refused purchase writes nothing, and the others of
the run are recorded. The per-purchase path (``purchases``) reads its member and writes its rows
with the same ``load_members`` and ``write``; a property test holds both paths to the same answers
and rows, whatever the mix and the batches.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlmodel import Session

from backend.chain.operations import Award, outbox_row
from backend.db.direct import bind, bulk_insert, dialect_of, in_list, list_value, marker, select_rows
from backend.db.ids import allocate_ids
from backend.db.models import (
    CampaignUse,
    Customer,
    CustomerSegment,
    MemberState,
    Operation,
    OperationStatus,
    PointLot,
    Purchase,
    PurchaseLine,
    RuleSetRecord,
    Store,
    TierEvent,
)
from backend.db.schema import table_of
from backend.db.upsert import upsert_replace
from backend.errors import DomainError
from backend.loyalty.assessment import NEW_MEMBER, Assessment, MemberFacts, answer, assess, check_store, priced
from backend.loyalty.collectibles import editions_held
from backend.loyalty.customers import new_custodial_address
from backend.loyalty.idempotency import Outcome, replay
from backend.loyalty.purchase_input import PurchaseInput
from backend.loyalty.refs import order_ref
from backend.loyalty.rules import RuleSet, holds_segment
from backend.loyalty.standing import Standing, tier_event_rows

Result = Outcome | DomainError


@dataclass
class RunMember:
    """A member as a run sees them: their facts as the run's purchases so far left them."""

    external_id: str
    address: str  # where awards go: the wallet once claimed, else the custodial address
    facts: MemberFacts = NEW_MEMBER
    id: int | None = None  # None until allocated (enrolled by this run)
    enrolled: bool = False  # by this run: its ``customers`` row is written with the run's rows
    standing_changed: bool = False  # its ``member_states`` row is written with the run's rows
    uses_changed: bool = False  # its ``campaign_uses`` rows are written with the run's rows

    def accept(self, assessment: Assessment) -> None:
        self.uses_changed = self.uses_changed or assessment.member.campaign_uses is not self.facts.campaign_uses
        self.facts = assessment.member
        self.standing_changed = self.standing_changed or assessment.standing_changed


@dataclass
class Accepted:
    """A purchase to record: its assessment, then the ids and answer it is written with."""

    request: PurchaseInput
    digest: str
    member: RunMember
    assessment: Assessment
    redemption_id: int | None = None  # the burn of the points it was paid with
    operation_id: int | None = None
    purchase_id: int | None = None
    body: dict[str, Any] | None = None
    response: str = ""  # the body as stored


class RecordedAnswer(NamedTuple):
    """A recorded purchase's request digest and answer (``idempotency.Recorded``)."""

    request_hash: str
    response: str


@dataclass
class _Replay:
    """A later request of the run for an order an earlier one recorded."""

    first: Accepted
    request: PurchaseInput
    digest: str


def record_plain(
    session: Session, requests: Sequence[PurchaseInput], record: RuleSetRecord, rules: RuleSet, now: datetime
) -> list[Result]:
    """Record plain purchases in order; the outcome of each, or the error that refused it."""
    digests = [request.digest() for request in requests]
    keys = [(request.store_id, request.order_id) for request in requests]  # ``request.key``, once
    recorded = recorded_answers(session, set(keys))
    stores = _stores(session, {store for store, _ in keys})
    members = load_members(session, {request.customer_id for request in requests}, rules, now)
    run: dict[tuple[str, str], Accepted] = {}
    pending: list[Accepted | _Replay | Result] = []
    for request, key, digest in zip(requests, keys, digests, strict=True):
        try:
            pending.append(_one(request, key, digest, recorded, run, stores, members, rules, now))
        except DomainError as exc:
            pending.append(exc)
    write(session, list(run.values()), members.values(), record, rules, now)
    results: list[Result] = []
    for item in pending:
        if isinstance(item, Accepted):
            assert item.body is not None
            results.append(Outcome(item.body, replayed=False))
        elif isinstance(item, _Replay):
            results.append(_replay_in_run(item))
        else:
            results.append(item)
    return results


def _replay_in_run(item: _Replay) -> Result:
    try:
        return replay(item.request, item.digest, RecordedAnswer(item.first.digest, item.first.response))
    except DomainError as exc:
        return exc


def _one(
    request: PurchaseInput,
    key: tuple[str, str],
    digest: str,
    recorded: dict[tuple[str, str], RecordedAnswer],
    run: dict[tuple[str, str], Accepted],
    stores: dict[str, str],
    members: dict[str, RunMember],
    rules: RuleSet,
    now: datetime,
) -> Accepted | _Replay | Outcome:
    """Assess one purchase (``key``: its ``request.key``) against the run so far (raises the
    error that refuses it)."""
    if key in recorded:
        return replay(request, digest, recorded[key])
    if key in run:
        return _Replay(run[key], request, digest)
    check_store(request, stores.get(request.store_id))
    order = priced(request, rules)
    member = members.get(request.customer_id)
    assessment = assess(request, order, rules, member.facts if member is not None else NEW_MEMBER, now)

    # Accepted: from here on the run's books change.
    if member is None:
        member = RunMember(request.customer_id, new_custodial_address(), enrolled=True)
        members[request.customer_id] = member
    member.accept(assessment)
    accepted = Accepted(request, digest, member, assessment)
    run[key] = accepted
    return accepted


# -- reading what a run needs ----------------------------------------------------------


def recorded_answers(session: Session, keys: set[tuple[str, str]]) -> dict[tuple[str, str], RecordedAnswer]:
    """The purchases already recorded under these (store, order id) keys."""
    dialect = dialect_of(session)
    stores = list_value(dialect, sorted({store for store, _ in keys}))
    orders = list_value(dialect, sorted({order for _, order in keys}))
    where = f"{in_list(dialect, 'store_id')} AND {in_list(dialect, 'order_id')}"
    columns = ("store_id", "order_id", "request_hash", "response")
    rows = select_rows(session, table_of(Purchase), columns, where, (stores, orders))
    return {(store, order): RecordedAnswer(request_hash, response) for store, order, request_hash, response in rows}


def _stores(session: Session, ids: set[str]) -> dict[str, str]:
    dialect = dialect_of(session)
    rows = select_rows(
        session, table_of(Store), ("id", "currency"), in_list(dialect, "id"), (list_value(dialect, sorted(ids)),)
    )
    return dict(rows)


def load_members(session: Session, external_ids: set[str], rules: RuleSet, now: datetime) -> dict[str, RunMember]:
    """The enrolled customers among ``external_ids``, locked (PostgreSQL: ``FOR UPDATE``, as
    ``members.lock`` does, in id order), with their standing, and their segments and qualifying
    points when the rules in force use them."""
    dialect = dialect_of(session)
    lock = "ORDER BY id FOR UPDATE" if dialect.name == "postgresql" else ""
    members: dict[str, RunMember] = {}
    rows = select_rows(
        session,
        table_of(Customer),
        ("id", "external_id", "address", "wallet"),
        in_list(dialect, "external_id"),
        (list_value(dialect, sorted(external_ids)),),
        lock,
    )
    for customer_id, external_id, address, wallet in rows:
        members[external_id] = RunMember(external_id, wallet or address, id=int(customer_id))
    by_id = {m.id: m for m in members.values() if m.id is not None}
    if not by_id:
        return members
    ids = (list_value(dialect, sorted(by_id)),)
    by_customer = in_list(dialect, "customer_id")
    state_columns = ("customer_id", "tier", "tier_since", "grace_until", "debt", "updated_at")
    standings = {
        customer_id: Standing(tier, since, grace, debt, updated)
        for customer_id, tier, since, grace, debt, updated in select_rows(
            session, table_of(MemberState), state_columns, by_customer, ids
        )
    }
    segments: dict[int, set[str]] = {}
    if rules.needs_segments(now):
        for customer_id, segment in select_rows(
            session, table_of(CustomerSegment), ("customer_id", "segment"), by_customer, ids
        ):
            segments.setdefault(customer_id, set()).add(segment)
    if editions := rules.held_editions(now):  # campaigns for holders of a collectible (a pseudo-segment)
        # custodial address and wallet -> customer id (built only then: the checkout's common case
        # runs no such campaign)
        addresses = {a: int(customer_id) for customer_id, _, address, wallet in rows for a in (address, wallet) if a}
        for address, held in editions_held(session, sorted(addresses), editions).items():
            segments.setdefault(addresses[address], set()).update(holds_segment(e) for e in held)
    qualifying: dict[int, int] = {}
    if rules.has_tier_levels:
        lots = table_of(PointLot)
        since = bind(dialect, lots, "earned_at", now - timedelta(days=rules.tier_window_days))
        where = f"{by_customer} AND earned_at > {marker(dialect)} AND source = 'purchase'"
        for customer_id, total in select_rows(
            session,
            lots,
            ("customer_id",),
            where,
            (*ids, since),
            "GROUP BY customer_id",
            ("coalesce(sum(qualifying), 0)",),
        ):
            qualifying[customer_id] = int(total)
    uses: dict[int, dict[str, int]] = {}
    if rules.limits_campaigns(now):
        columns = ("customer_id", "campaign_id", "uses")
        for customer_id, campaign_id, count in select_rows(session, table_of(CampaignUse), columns, by_customer, ids):
            uses.setdefault(customer_id, {})[campaign_id] = int(count)
    for customer_id, member in by_id.items():
        if customer_id in standings or customer_id in segments or customer_id in qualifying or customer_id in uses:
            member.facts = MemberFacts(
                standings.get(customer_id),
                frozenset(segments.get(customer_id, ())),
                qualifying.get(customer_id, 0),
                uses.get(customer_id, {}),
            )
    return members


# -- writing what a run accepted -------------------------------------------------------


def write(
    session: Session,
    accepted: list[Accepted],
    members: Iterable[RunMember],
    record: RuleSetRecord,
    rules: RuleSet,
    now: datetime,
) -> None:
    """Every row of the ``accepted`` purchases, in order, and of the ``members`` they enrolled or
    whose standing they changed; sets each purchase's ids and answer."""
    if not accepted:
        return
    members = list(members)
    enrolled = [m for m in members if m.enrolled and m.id is None]
    for member, customer_id in zip(enrolled, allocate_ids(session, table_of(Customer), len(enrolled)), strict=True):
        member.id = customer_id
    awarded = [item for item in accepted if item.assessment.points > 0]
    for item, operation_id in zip(awarded, allocate_ids(session, table_of(Operation), len(awarded)), strict=True):
        item.operation_id = operation_id
    for item, purchase_id in zip(accepted, allocate_ids(session, table_of(Purchase), len(accepted)), strict=True):
        item.purchase_id = purchase_id
        item.body = answer(item.request, rules, item.assessment.points, item.operation_id)
        item.response = orjson.dumps(item.body).decode()

    bulk_insert(
        session,
        table_of(Customer),
        [
            {
                "id": m.id,
                "external_id": m.external_id,
                "address": m.address,
                "wallet": None,
                "created_at": now,
                "erased_at": None,
            }
            for m in enrolled
        ],
    )
    # The rule set's record is an ORM object: each attribute read is a descriptor call, so once.
    rules_operation, rules_hash = record.operation_id, record.content_hash
    bulk_insert(session, table_of(Operation), [_operation_row(item, rules_operation, rules, now) for item in awarded])
    bulk_insert(session, table_of(Purchase), [_purchase_row(item, rules_hash, rules, now) for item in accepted])
    bulk_insert(
        session,
        table_of(PurchaseLine),
        [
            {
                "purchase_id": item.purchase_id,
                "line_no": number,
                "sku": line.sku,
                "quantity": line.quantity,
                "unit_price": line.unit_price,
                "category": line.category,
                "gtin": line.gtin,
                "serial": line.serial,
                "points": int(item.assessment.quote.line_points[number]),
            }
            for item in accepted
            for number, line in enumerate(item.request.lines)
        ],
    )
    bulk_insert(
        session,
        table_of(PointLot),
        [
            {
                "customer_id": item.member.id,
                "source": "purchase",
                "purchase_id": item.purchase_id,
                "operation_id": item.operation_id,
                "earned_at": now,
                "expires_at": item.assessment.expires_at,
                "amount": item.assessment.credited,
                "remaining": item.assessment.credited,
                "expired": 0,
                "qualifying": item.assessment.points,
            }
            for item in awarded
        ],
    )
    upsert_replace(
        session,
        table_of(MemberState),
        ["customer_id"],
        [
            {
                "customer_id": m.id,
                "tier": standing.tier,
                "tier_since": standing.tier_since,
                "grace_until": standing.grace_until,
                "debt": standing.debt,
                "updated_at": standing.updated_at,
            }
            for m in members
            if m.standing_changed and (standing := m.facts.standing) is not None
        ],
    )
    upsert_replace(
        session,
        table_of(CampaignUse),
        ["customer_id", "campaign_id"],
        [
            {"customer_id": m.id, "campaign_id": campaign, "uses": count}
            for m in members
            if m.uses_changed
            for campaign, count in sorted(m.facts.campaign_uses.items())
        ],
    )
    bulk_insert(
        session,
        table_of(TierEvent),
        [
            row
            for item in accepted
            if item.assessment.tier_changes and (standing := item.assessment.member.standing) is not None
            for row in tier_event_rows(_id(item.member), item.assessment.tier_changes, standing, rules)
        ],
    )


def _id(member: RunMember) -> int:
    assert member.id is not None  # allocated before any row is built
    return member.id


def _operation_row(item: Accepted, rules_operation: int | None, rules: RuleSet, now: datetime) -> dict[str, Any]:
    award = Award(
        account=item.member.address,
        amount=item.assessment.points,
        ref=order_ref(*item.request.key),
        rule_version=rules.version,
    )
    return outbox_row(
        award,
        id=item.operation_id,
        depends_on=rules_operation,
        status=OperationStatus.PENDING.value,
        tx_hash=None,
        attempts=0,
        last_error=None,
        created_at=now,
        sent_at=None,
        confirmed_at=None,
        confirmed_block=None,
    )


def _purchase_row(item: Accepted, rules_hash: str, rules: RuleSet, now: datetime) -> dict[str, Any]:
    request = item.request
    explanation = item.assessment.quote.explanation(rules, rules_hash)
    return {
        "id": item.purchase_id,
        "store_id": request.store_id,
        "order_id": request.order_id,
        "customer_id": item.member.id,
        "currency": request.currency,
        "total": item.assessment.order.total,
        "points_awarded": item.assessment.points,
        "rule_version": rules.version,
        "operation_id": item.operation_id,
        "paid_with_points": request.paid_with_points,
        "redemption_operation_id": item.redemption_id,
        "explanation": orjson.dumps(explanation).decode(),
        "request_hash": item.digest,
        "response": item.response,
        "created_at": now,
    }
