"""Time in the program, on a real chain: lots expire and are burned, tiers rise at once and fall
after a grace period, personal data is erased, reports add up."""

from __future__ import annotations

from datetime import timedelta

import pytest

from backend.db.engine import session_scope
from backend.db.types import utcnow
from backend.loyalty.maintenance import maintain
from tests.e2e.loyalty_helpers import add_reward, assert_books_match_chain, balance, buy, line, on_chain, order, publish
from tests.support import Platform

pytestmark = pytest.mark.chain

TIERS = {
    "window_days": 365,
    "grace_days": 30,
    "levels": [
        {"name": "member", "threshold": 0},
        {"name": "silver", "threshold": 100, "multiplier": "2"},
    ],
}


def run_maintenance(platform: Platform, days_ahead: int) -> dict[str, int]:
    with session_scope(platform.engine) as session:
        report = maintain(session, utcnow() + timedelta(days=days_ahead))
    platform.settle()
    return report.__dict__


def test_lots_expire_soonest_first_and_are_burned_on_chain(platform: Platform) -> None:
    publish(platform, {"expiry": {"kind": "after_days", "days": 30}})
    buy(platform, order("X-1", "kim", line("A", 1, "100.00")))
    platform.settle()
    view = balance(platform, "kim")
    assert view["next_expiry"]["points"] == 100

    assert run_maintenance(platform, 29)["expired_points"] == 0
    publish(platform, {"expiry": {"kind": "after_days", "days": 90}})
    buy(platform, order("X-2", "kim", line("A", 1, "50.00")))  # a later lot, expiring later
    platform.settle()
    add_reward(platform, "pen", 30)
    platform.client.post(
        "/v1/customers/kim/redemptions",
        json={"redemption_id": "p", "reward_id": "pen"},
        headers=platform.as_customer("kim"),
    )  # spends the soonest-expiring lot
    platform.settle()

    report = run_maintenance(platform, 31)
    assert (report["expired_points"], report["expiry_operations"]) == (70, 1)
    assert run_maintenance(platform, 31)["expired_points"] == 0  # nothing twice
    view = balance(platform, "kim")
    assert (view["balance"], view["next_expiry"]["points"]) == (50, 50)
    assert on_chain(platform, view["address"]) == (50, 0)
    history = platform.client.get("/v1/customers/kim/history", headers=platform.headers("admin")).json()["entries"]
    assert (history[0]["kind"], history[0]["amount"]) == ("expiry", -70)
    daily = platform.client.get("/v1/reports/daily", headers=platform.headers("admin")).json()["days"]
    assert sum(d["expired"] for d in daily) == 70
    assert sum(d["issued"] for d in daily) == 150
    assert sum(d["redeemed"] for d in daily) == 30
    assert_books_match_chain(platform, "kim")


def test_tiers_rise_at_once_multiply_points_and_fall_after_grace(platform: Platform) -> None:
    publish(platform, {"tiers": TIERS})
    buy(platform, order("G-1", "lena", line("A", 1, "120.00")))
    view = balance(platform, "lena")
    assert (view["tier"], view["qualifying_points"]) == ("silver", 120)
    second = buy(platform, order("G-2", "lena", line("A", 1, "10.00")))
    assert second["points_awarded"] == 20  # silver doubles
    why = platform.client.get("/v1/purchases/G-2", headers=platform.headers()).json()["explanation"]
    assert (why["tier"], why["tier_multiplier"]) == ("silver", "2")
    platform.settle()

    refund = platform.client.post(
        "/v1/purchases/G-1/refunds", json={"refund_id": "all", "amount": "120"}, headers=platform.headers()
    )
    assert refund.json()["points_reversed"] == 120
    view = balance(platform, "lena")
    assert (view["tier"], view["qualifying_points"]) == ("silver", 20)  # refunds count against the window
    assert view["tier_grace_until"] is not None

    assert run_maintenance(platform, 29)["tier_changes"] == 0
    assert run_maintenance(platform, 31)["tier_changes"] == 1
    assert balance(platform, "lena")["tier"] == "member"
    events = platform.client.get("/v1/customers/lena/history", headers=platform.headers("admin")).json()["tier_events"]
    assert [(e["kind"], e["from_tier"], e["to_tier"]) for e in events] == [
        ("downgrade", "silver", "member"),
        ("grace_started", "silver", "silver"),
        ("upgrade", "member", "silver"),
    ]
    assert_books_match_chain(platform, "lena")


def test_personal_data_is_erased_and_the_ledger_stays(platform: Platform) -> None:
    headers, admin = platform.headers(), platform.headers("admin")
    platform.client.post(
        "/v1/customers",
        json={"customer_id": "mia", "name": "Mia Rossi", "email": "mia@example.com", "phone": "+39 055 123"},
        headers=headers,
    )
    buy(platform, order("E-1", "mia", line("A", 1, "40.00")))
    platform.settle()
    assert platform.client.get("/v1/customers/mia", headers=admin).json()["email"] == "mia@example.com"
    assert platform.client.get("/v1/customers/mia", headers=headers).status_code == 403  # a till reads no PII

    assert platform.client.delete("/v1/customers/mia/personal-data", headers=headers).status_code == 403
    erased = platform.client.delete("/v1/customers/mia/personal-data", headers=admin)
    assert erased.status_code == 200, erased.text
    member = platform.client.get("/v1/customers/mia", headers=admin).json()
    assert (member["name"], member["email"], member["phone"]) == (None, None, None)
    assert member["erased_at"] is not None
    view = balance(platform, "mia")
    assert view["balance"] == 40
    assert on_chain(platform, view["address"]) == (40, 0)
    assert platform.client.delete("/v1/customers/mia/personal-data", headers=admin).status_code == 200  # idempotent


def test_liability_report_values_outstanding_points(platform: Platform) -> None:
    publish(platform, {"point_value": "0.02", "expiry": {"kind": "after_days", "days": 10}})
    buy(platform, order("L-1", "noah", line("A", 1, "300.00")))
    buy(platform, order("L-2", "olga", line("A", 1, "200.00")))
    pending = platform.client.get("/v1/reports/liability", headers=platform.headers("admin")).json()
    assert pending["pending_points"] == 500
    platform.settle()
    report = platform.client.get("/v1/reports/liability", headers=platform.headers("admin")).json()
    assert (report["outstanding_points"], report["point_value"], report["outstanding_value"]) == (500, "0.02", "10")
    assert (report["pending_points"], report["expiring_within_30_days"]) == (0, 500)
    assert platform.client.get("/v1/reports/liability", headers=platform.headers()).status_code == 403
