"""The batch write path of purchases against the per-purchase path, on real databases.

For random programs (rules with multipliers, campaigns for segments and tiers, tier levels with
grace periods, expiry policies), members with history (segments, debt, tiers in grace, lots, a
confirmed balance) and random sequences of purchases (new and returning customers, replays and
conflicting reuses of order ids, unknown stores, wrong currencies, orders too big, paying with
points, serialized lines), recording them one per transaction through the per-purchase path and
in random batches through the batch path gives the same answers and the same books.
"""

from __future__ import annotations

import itertools
import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select
from sqlmodel import Session

from backend.db.engine import make_engine, session_scope
from backend.db.models import (
    Customer,
    CustomerSegment,
    MemberState,
    MirrorAccount,
    Operation,
    PointLot,
    Purchase,
    PurchaseLine,
    Retailer,
    Store,
    TierEvent,
)
from backend.db.schema import table_of
from backend.errors import DomainError
from backend.loyalty.customers import enrol
from backend.loyalty.program import current_rule_record, publish_rule_set
from backend.loyalty.purchases import PurchaseInput, PurchaseLineInput, PurchaseOutcome, record_purchases
from backend.loyalty.rules import Campaign, ExpiryPolicy, RuleSet, Tier
from tests.budget import examples
from tests.support import copy_database

NOW = datetime(2026, 12, 10, 12, 30, tzinfo=UTC)
counter = itertools.count()


# -- two databases of the kind under test -------------------------------------------------


@pytest.fixture
def engines(request: pytest.FixtureRequest, database_kind: str, tmp_path: Path) -> Iterator[tuple[Engine, Engine]]:
    """(reference, batched): two freshly migrated databases."""
    urls: list[str] = []
    names: list[str] = []
    for label in ("reference", "batched"):
        if database_kind == "sqlite":
            path = tmp_path / f"{label}.db"
            copy_database(request.getfixturevalue("migrated_template"), path)
            urls.append(f"sqlite:///{path}")
        else:
            server = request.getfixturevalue("postgres_server")
            name = f"test_{uuid.uuid4().hex[:12]}"
            names.append(name)
            urls.append(server.create_database(name, template=request.getfixturevalue("postgres_template")))
    pair = make_engine(urls[0]), make_engine(urls[1])
    yield pair
    for engine in pair:
        engine.dispose()
    for name in names:
        request.getfixturevalue("postgres_server").drop_database(name)


# -- what a scenario is made of -------------------------------------------------------------


@dataclass(frozen=True)
class Member:
    segments: tuple[str, ...]
    tier: str | None  # a member_states row with this tier (and debt, grace) when not None
    debt: int
    grace_days: int | None  # grace period ending this many days from NOW (negative: over)
    lots: tuple[tuple[int, int], ...]  # (points, days ago earned)


@dataclass(frozen=True)
class Scenario:
    rules: RuleSet
    members: tuple[Member, ...]
    purchases: tuple[dict[str, Any], ...]
    cuts: tuple[int, ...]  # where the batched side splits the sequence into transactions


TIERS = (Tier("member", 0), Tier("silver", 40, Decimal("1.25")), Tier("gold", 150, Decimal("1.5")))

rule_sets = st.builds(
    lambda ppu, minimum, sku_m, cat_m, campaigns, tiered, grace, expiry: RuleSet(
        version=0,
        points_per_unit=ppu,
        min_order_value=minimum,
        excluded_skus=("GIFT",),
        sku_multipliers={"BEANS": sku_m} if sku_m else {},
        category_multipliers={"tea": cat_m} if cat_m else {},
        campaigns=campaigns,
        tiers=TIERS if tiered else (Tier("member", 0),),
        tier_grace_days=grace,
        tier_window_days=30,
        expiry=expiry,
    ),
    st.sampled_from([Decimal(1), Decimal("0.5"), Decimal(2)]),
    st.sampled_from([Decimal(0), Decimal(5)]),
    st.sampled_from([None, Decimal(3)]),
    st.sampled_from([None, Decimal("1.5")]),
    st.lists(
        st.builds(
            lambda n, segments, multiplier, bonus, categories, edition: Campaign(
                id=f"c{n}",
                starts_at=NOW - timedelta(days=1),
                ends_at=NOW + timedelta(days=1),
                multiplier=multiplier,
                bonus_points=bonus,
                segments=segments,
                categories=categories,
                holds_edition=edition,  # nobody holds it here: the holdings query runs on both paths
            ),
            st.integers(0, 9),
            st.sampled_from([(), ("vip",), ("tier:silver",), ("lapsed", "tier:gold")]),
            st.sampled_from([Decimal(1), Decimal(2)]),
            st.sampled_from([0, 10]),
            st.sampled_from([(), ("tea",)]),
            st.sampled_from([None, None, 41]),
        ),
        max_size=2,
        unique_by=lambda c: c.id,
    ).map(tuple),
    st.booleans(),
    st.sampled_from([0, 30]),
    st.sampled_from([ExpiryPolicy(), ExpiryPolicy("after_days", days=90), ExpiryPolicy("end_of_period")]),
)
members = st.builds(
    Member,
    st.sampled_from([(), ("vip",), ("lapsed",)]),
    st.sampled_from([None, "member", "silver", "gold", "platinum"]),
    st.sampled_from([0, 0, 7, 500]),
    st.sampled_from([None, None, 5, -1]),
    st.lists(st.tuples(st.integers(1, 60), st.sampled_from([1, 10, 40])), max_size=2).map(tuple),
)
lines = st.lists(
    st.builds(
        lambda sku, category, quantity, price, serial: {
            "sku": sku,
            "category": category,
            "quantity": quantity,
            "unit_price": price,
            **({"gtin": "09506000134352", "serial": serial} if serial else {}),
        },
        st.sampled_from(["COFFEE", "BEANS", "GIFT", "CUP"]),
        st.sampled_from([None, "tea", "coffee"]),
        st.integers(1, 4),
        st.sampled_from([Decimal("0.99"), Decimal("4.50"), Decimal("12.5"), Decimal("12.50")]),
        st.sampled_from([None] * 12 + ["SN-1", "SN-2"]),
    ),
    min_size=1,
    max_size=3,
)
purchases = st.builds(
    lambda order, customer, store, currency, lines, paid, huge: {
        "order": order,
        "customer": customer,
        "store": store,
        "currency": currency,
        "lines": [{**lines[0], "quantity": 1_000_000, "unit_price": Decimal(999_999_999)}] if huge else lines,
        "paid": paid,
    },
    st.integers(0, 12),
    st.integers(0, 4),
    st.sampled_from(["own"] * 10 + ["unknown"]),
    st.sampled_from(["USD"] * 10 + ["EUR"]),
    lines,
    st.sampled_from([0] * 8 + [5, 1_000_000]),
    st.sampled_from([False] * 15 + [True]),
)
scenarios = st.builds(
    Scenario,
    rule_sets,
    st.lists(members, max_size=4).map(tuple),
    st.lists(purchases, min_size=3, max_size=25).map(tuple),
    st.lists(st.integers(1, 24), max_size=4).map(lambda cuts: tuple(sorted(set(cuts)))),
)


# -- setting a scenario up, identically on both sides -------------------------------------


def set_up(engine: Engine, scenario: Scenario, tag: str) -> None:
    with session_scope(engine) as session:
        record = current_rule_record(session)
        version = 1 if record is None else record.version + 1
        publish_rule_set(session, replace(scenario.rules, version=version))
        session.add(Retailer(id=f"{tag}-retailer", name=tag))
        session.flush()
        session.add(Store(id=f"{tag}-store", name=tag, currency="USD", retailer_id=f"{tag}-retailer"))
        session.flush()
        for n, member in enumerate(scenario.members):
            customer, _ = enrol(session, f"{tag}-c{n}")
            assert customer.id is not None
            for segment in member.segments:
                session.add(CustomerSegment(customer_id=customer.id, segment=segment))
            if member.tier is not None:
                grace = None if member.grace_days is None else NOW + timedelta(days=member.grace_days)
                session.add(
                    MemberState(
                        customer_id=customer.id,
                        tier=member.tier,
                        tier_since=NOW - timedelta(days=90),
                        grace_until=grace,
                        debt=member.debt,
                        updated_at=NOW - timedelta(days=1),
                    )
                )
            for points, days in member.lots:
                earned = NOW - timedelta(days=days)
                session.add(
                    PointLot(
                        customer_id=customer.id,
                        source="purchase",
                        earned_at=earned,
                        expires_at=None,
                        amount=points,
                        remaining=points,
                        qualifying=points,
                    )
                )
            balance = sum(points for points, _ in member.lots)
            if balance:  # confirmed on chain, as far as the mirror knows: paying with points can succeed
                session.add(MirrorAccount(address=customer.address, balance=balance, debt=0, last_block=1))


def inputs(scenario: Scenario, tag: str) -> list[PurchaseInput]:
    return [
        PurchaseInput(
            order_id=f"{tag}-o{p['order']}",
            customer_id=f"{tag}-c{p['customer']}",
            store_id=f"{tag}-store" if p["store"] == "own" else f"{tag}-elsewhere",
            currency=p["currency"],
            lines=[PurchaseLineInput(**line) for line in p["lines"]],
            paid_with_points=p["paid"],
        )
        for p in scenario.purchases
    ]


# -- what is compared ------------------------------------------------------------------------


def answers(results: list[PurchaseOutcome | DomainError]) -> list[Any]:
    described: list[Any] = []
    for result in results:
        if isinstance(result, DomainError):
            described.append((type(result).__name__, result.field, result.message))
        else:
            described.append((result.replayed, result.body))
    return described


def in_order(rows: Iterator[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    return sorted(rows, key=repr)  # rows hold None: compare their text


def books(engine: Engine, tag: str) -> dict[str, Any]:
    """Everything the purchases of scenario ``tag`` wrote, with row ids replaced by what they name
    (operation ids by their rank among the scenario's operations: both sides allocate in order)."""
    with Session(engine) as session:
        customers = {
            row.id: (row.external_id, {row.address, row.wallet})
            for row in session.execute(
                select(table_of(Customer)).where(table_of(Customer).c.external_id.like(f"{tag}-%"))
            ).all()
        }
        ids = sorted(customers)
        owner = {address: external for external, addresses in customers.values() for address in addresses if address}
        operations = table_of(Operation)
        op_rows = session.execute(
            select(operations).where(operations.c.account.in_(sorted(owner))).order_by(operations.c.id)
        ).all()
        rank = {row.id: n for n, row in enumerate(op_rows)}
        purchases = table_of(Purchase)
        purchase_rows = session.execute(select(purchases).where(purchases.c.customer_id.in_(ids))).all()
        order_of = {row.id: row.order_id for row in purchase_rows}
        lines_table, lots, states, events = (
            table_of(PurchaseLine),
            table_of(PointLot),
            table_of(MemberState),
            table_of(TierEvent),
        )

        def response(text: str) -> dict[str, Any]:
            body = json.loads(text)
            body["operation_id"] = rank.get(body["operation_id"])
            return dict(body)

        return {
            "customers": sorted(external for external, _ in customers.values()),
            "operations": [
                (
                    row.kind,
                    owner[row.account],
                    row.amount,
                    row.ref,
                    row.rule_version,
                    row.payload,
                    row.depends_on is not None,
                    row.status,
                    row.signer,
                )
                for row in op_rows
            ],
            "purchases": in_order(
                (
                    row.order_id,
                    row.store_id,
                    customers[row.customer_id][0],
                    row.currency,
                    row.total,
                    row.points_awarded,
                    row.rule_version,
                    rank.get(row.operation_id),
                    row.paid_with_points,
                    rank.get(row.redemption_operation_id),
                    json.loads(row.explanation),
                    row.request_hash,
                    response(row.response),
                    row.created_at,
                )
                for row in purchase_rows
            ),
            "lines": in_order(
                (
                    order_of[row.purchase_id],
                    row.line_no,
                    row.sku,
                    row.quantity,
                    row.unit_price,
                    row.category,
                    row.gtin,
                    row.serial,
                    row.points,
                )
                for row in session.execute(
                    select(lines_table).where(lines_table.c.purchase_id.in_(sorted(order_of)))
                ).all()
            ),
            "lots": in_order(
                (
                    customers[row.customer_id][0],
                    row.source,
                    order_of.get(row.purchase_id),
                    rank.get(row.operation_id),
                    row.earned_at,
                    row.expires_at,
                    row.amount,
                    row.remaining,
                    row.expired,
                    row.qualifying,
                )
                for row in session.execute(select(lots).where(lots.c.customer_id.in_(ids))).all()
            ),
            "states": in_order(
                (customers[row.customer_id][0], row.tier, row.tier_since, row.grace_until, row.debt, row.updated_at)
                for row in session.execute(select(states).where(states.c.customer_id.in_(ids))).all()
            ),
            "tier_events": in_order(
                (
                    customers[row.customer_id][0],
                    row.kind,
                    row.from_tier,
                    row.to_tier,
                    row.qualifying,
                    row.grace_until,
                    row.at,
                )
                for row in session.execute(select(events).where(events.c.customer_id.in_(ids))).all()
            ),
        }


# -- the property ------------------------------------------------------------------------------


@settings(max_examples=examples(100, 1000), deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(scenario=scenarios)
def test_batches_record_what_one_purchase_at_a_time_records(engines: tuple[Engine, Engine], scenario: Scenario) -> None:
    assert_both_paths_agree(engines, scenario, describe=_describe)


def assert_both_paths_agree(
    engines: tuple[Engine, Engine], scenario: Scenario, describe: Callable[..., None] | None = None
) -> None:
    reference, batched = engines
    tag = f"x{next(counter)}"
    for engine in engines:
        set_up(engine, scenario, tag)
    requests = inputs(scenario, tag)

    expected: list[PurchaseOutcome | DomainError] = []
    for request in requests:  # one purchase per transaction, every one through the per-purchase path
        with session_scope(reference) as session:
            expected.extend(record_purchases(session, [request], NOW, batch=False))

    got: list[PurchaseOutcome | DomainError] = []
    bounds = [0, *(cut for cut in scenario.cuts if cut < len(requests)), len(requests)]
    for start, end in itertools.pairwise(bounds):
        with session_scope(batched) as session:
            got.extend(record_purchases(session, requests[start:end], NOW))

    normalise = books(reference, tag), books(batched, tag)
    if describe is not None:
        describe(got, normalise[1], requests)
    assert [_ranked(a, normalise[0]) for a in answers(expected)] == [_ranked(a, normalise[1]) for a in answers(got)]
    assert normalise[0] == normalise[1]


def _describe(
    results: list[PurchaseOutcome | DomainError], book: dict[str, Any], requests: list[PurchaseInput]
) -> None:
    """What the example covered (``pytest --hypothesis-show-statistics``)."""
    for result in results:
        event(type(result).__name__ + (" (replay)" if isinstance(result, PurchaseOutcome) and result.replayed else ""))
    event(f"tier events: {bool(book['tier_events'])}")
    event(f"debt repaid: {any(row[2] is not None and row[6] < row[9] for row in book['lots'])}")
    event(f"per-purchase path in the batch: {any(not r.is_plain for r in requests)}")


def _ranked(answer: Any, book: dict[str, Any]) -> Any:
    """An answer with its operation id replaced by the operation's rank (as in ``books``)."""
    if len(answer) != 2 or not isinstance(answer[1], dict):
        return answer
    body = dict(answer[1])
    by_order = {p[0]: p[7] for p in book["purchases"]}
    body["operation_id"] = by_order.get(body["order_id"]) if body["operation_id"] is not None else None
    return answer[0], body


# -- examples the property found -----------------------------------------------------------------


def test_a_tier_the_batch_path_changed_is_seen_by_the_next_purchase_of_the_run(engines: tuple[Engine, Engine]) -> None:
    """One run: a purchase through the per-purchase path is refused after reading the member's
    tier (its error keeps that read alive), a plain purchase lifts the member to silver, then
    another per-purchase purchase must earn at silver and record no second upgrade. (The
    per-purchase path read the tier through the ORM, which handed back the row it had read before
    the batch path's write: it earned at the old tier and recorded the upgrade twice.)"""
    scenario = Scenario(
        rules=RuleSet(version=0, tiers=TIERS, tier_grace_days=30, tier_window_days=30),
        members=(Member((), "member", 0, None, ((30, 1),)),),
        purchases=tuple(
            {"order": n, "customer": 0, "store": "own", "currency": "USD", "paid": paid, "lines": [coffee(price)]}
            for n, (price, paid) in enumerate([("10", 1_000), ("20", 0), ("8", 5)])
        ),
        cuts=(),
    )
    assert_both_paths_agree(engines, scenario)


def coffee(price: str) -> dict[str, Any]:
    return {"sku": "COFFEE", "category": None, "quantity": 1, "unit_price": Decimal(price)}
