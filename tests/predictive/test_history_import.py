"""The history import: CSV text and JSON rows read alike (columns in any order, short and blank
lines, a byte-order mark), the bulk route takes either body with the same checks and the same
answer, refuses every key but an admin's, and writes nothing when it refuses."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

import pytest
from eth_utils import to_checksum_address
from sqlmodel import Session, select

from backend.db.models import Customer, HistoryLine, HistoryOrder
from backend.loyalty.customers import new_custodial_addresses
from backend.predictive.history import HistoryProblems, parse_records, read_text
from tests.support import Platform

TODAY = date(2026, 6, 30)
CSV = (
    "\ufeffCustomer_ID,order_id,total,date,quantity,sku,category\n"
    "c1,A-1,10.50,2026-01-05,2,BEANS,coffee\n"
    "\n"
    "c1,A-1,4.5,2026-01-05,,GREEN,tea\n"
    "c2,A-2,0,2026-02-01T23:30:00-02:00\n"  # a short line (no sku); 1 February at -02:00 is 2 February UTC
)
ROWS: list[dict[str, Any]] = [
    {
        "order_id": "A-1",
        "customer_id": "c1",
        "date": "2026-01-05",
        "total": "10.50",
        "sku": "BEANS",
        "category": "coffee",
        "quantity": 2,
    },
    {"order_id": "A-1", "customer_id": "c1", "date": "2026-01-05", "total": "4.5", "sku": "GREEN", "category": "tea"},
    {"order_id": "A-2", "customer_id": "c2", "date": "2026-02-01T23:30:00-02:00", "total": "0"},
]


def shape(orders: list[Any]) -> list[tuple[Any, ...]]:
    return [
        (o.order_id, o.customer_id, o.day, o.total, [(li.sku, li.category, li.quantity, li.amount) for li in o.lines])
        for o in orders
    ]


def test_csv_text_and_json_rows_give_the_same_orders() -> None:
    from_csv, from_rows = read_text(CSV, TODAY), parse_records(ROWS, TODAY, first_line=0, where="rows")
    assert shape(from_csv) == shape(from_rows)
    assert shape(from_csv) == [
        (
            "A-1",
            "c1",
            date(2026, 1, 5),
            Decimal("15.00"),
            [("BEANS", "coffee", 2, Decimal("10.50")), ("GREEN", "tea", 1, Decimal("4.5"))],
        ),
        ("A-2", "c2", date(2026, 2, 2), Decimal("0"), []),
    ]


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("order_id,customer_id,date,total\nA,c,2026-01-01,1\x00\n", "NUL"),
        ("order_id,customer_id,total\nA,c,1\n", "missing date"),
        ("order_id,customer_id,date,total\n", "no orders"),
        ("order_id,customer_id,date,total\nA,c,2026-01-01,1.00001\n", "at most 4 decimals"),
        ("order_id,customer_id,date,total\nA,c,2026-01-01\n", "total '' is not a number"),
        ("order_id,customer_id,date,total,category\nA,c,2026-01-01,1,tea\n", "need a sku"),
        ("order_id,customer_id,date,total\nA,c,2026-13-01,1\n", "is not a date"),
    ],
)
def test_bad_text_is_refused_whole(text: str, problem: str) -> None:
    with pytest.raises(HistoryProblems) as refused:
        read_text(text, TODAY, field="body")
    assert problem in refused.value.message
    assert refused.value.field == "body"


def test_a_problem_found_once_is_reported_on_every_line_that_repeats_it() -> None:
    """Dates and totals are checked once per distinct text: a bad one is still named on each line."""
    text = "order_id,customer_id,date,total\n" + "".join(f"A{n},c,2026-02-30,1\n" for n in range(3))
    with pytest.raises(HistoryProblems) as refused:
        read_text(text, TODAY)
    assert [p.split(":")[0] for p in refused.value.problems] == ["line 2", "line 3", "line 4"]


def test_bulk_custodial_addresses_are_checksummed_and_distinct() -> None:
    addresses = new_custodial_addresses(2_000)
    assert all(to_checksum_address(address) == address for address in addresses)
    assert len(set(addresses)) == 2_000


def counts(platform: Platform) -> tuple[int, int, int]:
    with Session(platform.engine) as session:
        return (
            len(session.exec(select(HistoryOrder.id)).all()),
            len(session.exec(select(HistoryLine.order_pk)).all()),
            len(session.exec(select(Customer.id)).all()),
        )


def post_csv(platform: Platform, text: str | bytes, who: str = "admin", query: str = "?store_id=demo-store") -> Any:
    headers = {**platform.headers(who), "Content-Type": "text/csv; charset=utf-8"}
    return platform.client.post(f"/v1/history/imports{query}", content=text, headers=headers)


@pytest.mark.chain
@pytest.mark.sqlite_only
def test_the_bulk_route_takes_csv_and_json_alike_from_admins_only(platform: Platform) -> None:
    before = counts(platform)
    for who in ("checkout", "program", "brand"):  # a store's key, the program's, an organisation's
        denied = post_csv(platform, CSV, who)
        assert denied.status_code == 403, denied.text
    refusals = [
        (post_csv(platform, CSV.replace("10.50", "-1")), 422, "body"),
        (post_csv(platform, CSV, query=""), 422, "store_id"),
        (post_csv(platform, CSV.encode("utf-16")), 422, "body"),
        (post_csv(platform, CSV, query="?store_id=nowhere"), 404, "store"),
        (
            platform.client.post(
                "/v1/history/imports?store_id=demo-store",
                json={"store_id": "demo-store", "rows": ROWS},
                headers=platform.headers("admin"),
            ),
            422,
            "store_id",
        ),
        (
            platform.client.post(
                "/v1/history/imports",
                content=CSV,
                headers={**platform.headers("admin"), "Content-Type": "application/xml"},
            ),
            415,
            "body",
        ),
    ]
    for response, status, field in refusals:
        assert response.status_code == status, response.text
        assert response.json()["error"]["field"] == field
    assert counts(platform) == before

    from_csv = post_csv(platform, CSV)
    assert from_csv.status_code == 201, from_csv.text
    renamed = [{**row, "order_id": "J" + row["order_id"], "customer_id": "j" + row["customer_id"]} for row in ROWS]
    from_json = platform.client.post(
        "/v1/history/imports", json={"store_id": "demo-store", "rows": renamed}, headers=platform.headers("admin")
    )
    assert from_json.status_code == 201, from_json.text
    answers = [{k: v for k, v in r.json().items() if k != "import_id"} for r in (from_csv, from_json)]
    assert answers[0] == answers[1] == {"orders": 2, "lines": 2, "customers_enrolled": 2}
    with Session(platform.engine) as session:
        stored = {
            order.order_id: (order.total, order.ordered_at.date()) for order in session.exec(select(HistoryOrder)).all()
        }
    assert stored == {
        "A-1": (Decimal("15"), date(2026, 1, 5)),
        "A-2": (Decimal("0"), date(2026, 2, 2)),
        "JA-1": (Decimal("15"), date(2026, 1, 5)),
        "JA-2": (Decimal("0"), date(2026, 2, 2)),
    }
    again = post_csv(platform, CSV)
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "order_id"
