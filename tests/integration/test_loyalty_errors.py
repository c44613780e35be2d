"""Bad input to the loyalty program: a clear 4xx JSON error naming the field, and nothing written."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, func, select

from backend.db.models import (
    Customer,
    Operation,
    Partner,
    PartnerConversion,
    PointLot,
    PointTransfer,
    Purchase,
    Redemption,
    Refund,
    Reward,
    RuleSetRecord,
)
from tests.e2e.loyalty_helpers import add_reward, buy, enable_transfers, line, order, publish
from tests.support import Platform

pytestmark = pytest.mark.chain
TABLES = (
    Customer,
    Operation,
    Purchase,
    Refund,
    Redemption,
    PointTransfer,
    PointLot,
    RuleSetRecord,
    Reward,
    Partner,
    PartnerConversion,
)


def snapshot(platform: Platform) -> tuple[int, ...]:
    with Session(platform.engine) as session:
        return tuple(int(session.exec(select(func.count()).select_from(t)).one()) for t in TABLES)


@pytest.fixture
def ready(platform: Platform) -> Platform:
    """Alice has 100 confirmed points from order O-1 (two lines); Bob is enrolled; there is a reward."""
    buy(platform, order("O-1", "alice", line("A", 1, "60.00"), line("B", 2, "20.00")))
    platform.client.post("/v1/customers", json={"customer_id": "bob"}, headers=platform.headers())
    add_reward(platform, "mug", 80)
    platform.client.post(
        "/v1/partners", json={"id": "air", "name": "Air", "rate": "1"}, headers=platform.headers("admin")
    )
    enable_transfers(platform)
    return platform


def refused(
    platform: Platform,
    method: str,
    path: str,
    body: Any,
    status: int,
    field: str,
    who: str | dict[str, str] = "checkout",
) -> None:
    before = snapshot(platform)
    headers = who if isinstance(who, dict) else platform.headers(who)
    response = platform.client.request(method, path, json=body, headers=headers)
    assert response.status_code == status, (path, body, response.text)
    error = response.json()["error"]
    assert (error["field"], bool(error["message"])) == (field, True), error
    assert snapshot(platform) == before


PURCHASES = [
    ({"store_id": "nowhere"}, "admin", 404, "store_id"),
    ({"store_id": "other-store"}, "checkout", 403, "store_id"),
    ({"currency": "EUR"}, "checkout", 422, "currency"),
    ({"lines": [line("A", 0, "1.00")]}, "checkout", 422, "lines[0].quantity"),
    ({"lines": [line("A", -2, "1.00")]}, "checkout", 422, "lines[0].quantity"),
    ({"lines": [line("A", 1, "0")]}, "checkout", 422, "lines[0].unit_price"),
    ({"lines": [line("A", 1, "-5")]}, "checkout", 422, "lines[0].unit_price"),
    ({"lines": [line("A", 1, "1e40")]}, "checkout", 422, "lines[0].unit_price"),
    ({"lines": [line("A", 10**13, "1")]}, "checkout", 422, "lines[0].quantity"),
    ({"paid_with_points": 10**13}, "checkout", 422, "paid_with_points"),
    ({"paid_with_points": 200_000}, "checkout", 422, "paid_with_points"),  # worth 2,000.00 > the order
    ({"paid_with_points": 101}, "checkout", 422, "paid_with_points"),  # alice has 100
    ({"customer_id": "bob", "paid_with_points": 1}, "checkout", 422, "paid_with_points"),
]


def test_bad_purchases(ready: Platform) -> None:
    for change, who, status, field in PURCHASES:
        if "paid_with_points" in change:  # with the customer's consent, so that the amount is what is refused
            change = {**change, "customer_code": ready.till_code(str(change.get("customer_id", "alice")))}
        refused(
            ready, "POST", "/v1/purchases", order("N-1", "alice", line("A", 1, "50.00")) | change, status, field, who
        )


def test_an_order_earning_absurdly_many_points_is_refused(ready: Platform) -> None:
    publish(ready, {"points_per_unit": "1000", "sku_multipliers": {"A": "100"}})
    huge = order("N-2", "alice", *[line("A", 1_000_000, "1000000000")] * 3)
    refused(ready, "POST", "/v1/purchases", huge, 422, "lines")


REFUNDS = [
    ("/v1/purchases/NOPE/refunds", {"refund_id": "r", "amount": "1"}, 404, "order_id"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "lines": [{"sku": "B", "quantity": 3}]}, 422, "lines[0].quantity"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "lines": [{"sku": "Z", "quantity": 1}]}, 422, "lines[0].sku"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "lines": [{"sku": "A", "quantity": 0}]}, 422, "lines[0].quantity"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "amount": "100.01"}, 422, "amount"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "amount": "0"}, 422, "amount"),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r"}, 422, "lines"),
    (
        "/v1/purchases/O-1/refunds",
        {"refund_id": "r", "amount": "1", "lines": [{"sku": "A", "quantity": 1}]},
        422,
        "lines",
    ),
    ("/v1/purchases/O-1/refunds", {"refund_id": "r", "amount": "1", "store_id": "other-store"}, 403, "store_id"),
]


def test_bad_refunds(ready: Platform) -> None:
    for path, body, status, field in REFUNDS:
        refused(ready, "POST", path, body, status, field)


SPENDING = [
    ("/v1/customers/alice/redemptions", {"redemption_id": "x", "reward_id": "mug", "quantity": 2}, 422, "reward_id"),
    ("/v1/customers/alice/redemptions", {"redemption_id": "x", "reward_id": "nope"}, 404, "reward_id"),
    ("/v1/customers/alice/redemptions", {"redemption_id": "x", "reward_id": "mug", "quantity": 0}, 422, "quantity"),
    (
        "/v1/customers/alice/transfers",
        {"transfer_id": "t", "to_customer_id": "alice", "amount": 5},
        422,
        "to_customer_id",
    ),
    ("/v1/customers/alice/transfers", {"transfer_id": "t", "to_customer_id": "bob", "amount": 101}, 422, "amount"),
    ("/v1/customers/alice/transfers", {"transfer_id": "t", "to_customer_id": "bob", "amount": 0}, 422, "amount"),
    ("/v1/customers/alice/transfers", {"transfer_id": "t", "to_customer_id": "bob", "amount": 10**13}, 422, "amount"),
    (
        "/v1/customers/alice/wallet",
        {"wallet": "0x1234", "nonce": 0, "expiry": 2**40, "signature": "0x" + "11" * 65},
        422,
        "wallet",
    ),
]


def test_bad_spending(ready: Platform) -> None:
    """Each made by the customer (their own token), so that only the bad input is refused."""
    for path, body, status, field in SPENDING:
        customer = path.split("/")[3]
        refused(ready, "POST", path, body, status, field, who=ready.as_customer(customer))
    refused(ready, "POST", "/v1/customers/nobody/tokens", {}, 404, "customer_id", who="admin")


ADMIN = [
    ("POST", "/v1/rule-sets", {"points_per_unit": "-1"}, 422, "points_per_unit"),
    ("POST", "/v1/rule-sets", {"tiers": {"levels": [{"name": "gold", "threshold": 5}]}}, 422, "tiers"),
    ("POST", "/v1/rewards", {"id": "free", "name": "Free", "points_price": 0}, 422, "points_price"),
    ("POST", "/v1/partners", {"id": "p", "name": "P", "rate": "0"}, 422, "rate"),
    (
        "POST",
        "/v1/partners/air/conversions",
        {"conversion_id": "c", "customer_id": "alice", "partner_points": 0},
        422,
        "partner_points",
    ),
    (
        "POST",
        "/v1/partners/nope/conversions",
        {"conversion_id": "c", "customer_id": "alice", "partner_points": 5},
        404,
        "partner_id",
    ),
    ("PUT", "/v1/transfer-policy", {"enabled": True, "daily_cap": -1}, 422, "daily_cap"),
]


def test_bad_admin_input(ready: Platform) -> None:
    admin = ready.headers("admin") | {"X-Customer-Token": ready.customer_token("alice")}  # alice agrees to convert
    for method, path, body, status, field in ADMIN:
        refused(ready, method, path, body, status, field, who=admin)


def test_admin_calls_need_an_admin_key(ready: Platform) -> None:
    for method, path, body in [
        ("POST", "/v1/rule-sets", {}),
        ("PUT", "/v1/transfer-policy", {"enabled": False, "daily_cap": 0}),
        ("POST", "/v1/partners", {"id": "p", "name": "P", "rate": "1"}),
        ("GET", "/v1/reports/daily", None),
        ("POST", "/v1/maintenance", None),
        ("PUT", "/v1/customers/alice/segments", {"segments": ["vip"]}),
    ]:
        refused(ready, method, path, body, 403, "Authorization")
