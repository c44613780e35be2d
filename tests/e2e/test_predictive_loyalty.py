"""Predictive loyalty through the API on a real chain and database: past orders imported in bulk,
a run that publishes ``predicted:`` segments with a control group, and a campaign targeting
``predicted:at-risk`` that pays its bonus once to the treated members and never to the control
group; who may read whose predictions; erasure; the report of treated against control."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlmodel import Session, select

from backend.db.models import CampaignUse, Customer, CustomerPrediction, CustomerSegment, HistoryOrder
from backend.predictive.extract import Rules, customer_histories
from tests.e2e.loyalty_helpers import buy, line, order, publish
from tests.predictive.data import fading_history
from tests.support import Platform

pytestmark = pytest.mark.chain

NOW = datetime.now(UTC)
TODAY = NOW.date()


def rules() -> dict[str, Any]:
    start, end = (NOW - timedelta(hours=1)).isoformat(), (NOW + timedelta(days=1)).isoformat()
    return {
        "points_per_unit": "1",
        "campaigns": [
            {
                "id": "welcome-back",
                "starts_at": start,
                "ends_at": end,
                "bonus_points": 50,
                "segments": ["predicted:at-risk"],
                "per_member_limit": 1,
            }
        ],
        "predictive": {
            "horizon_days": 60,
            "control_percent": 30,
            "minimum": {"customers": 40, "repeat_customers": 20, "history_days": 120},
            "segments": {"lapsed": {"p_alive_below": "0.000001"}, "at_risk": {"p_alive_below": "0.9"}},
        },
    }


def member_with(platform: Platform, control: bool) -> str:
    """A member the run found at risk, in the control group or not."""
    with Session(platform.engine) as session:
        for prediction, external_id in session.exec(
            select(CustomerPrediction, Customer.external_id).where(CustomerPrediction.customer_id == Customer.id)
        ).all():
            if "predicted:at-risk" in prediction.segments and prediction.control == control:
                return str(external_id)
    raise AssertionError(f"no at-risk member with control={control}")


def test_a_campaign_for_predicted_at_risk_pays_once_to_treated_and_never_to_control(platform: Platform) -> None:
    admin = platform.headers("admin")
    publish(platform, rules())
    imported = platform.client.post(
        "/v1/history/imports",
        json={
            "store_id": "demo-store",
            "rows": fading_history(
                TODAY,
            ),
        },
        headers=admin,
    )
    assert imported.status_code == 201, imported.text
    assert imported.json()["customers_enrolled"] == 120

    started = platform.client.post("/v1/predictions/runs", json={}, headers=admin)
    assert started.status_code == 201, started.text
    run = started.json()
    assert run["status"] == "published", run
    summary = run["summary"]
    assert summary["customers"] == 120
    assert summary["segments"]["predicted:at-risk"] > 0
    assert summary["control"]["segments"]["predicted:at-risk"] > 0
    assert {"auc", "rmse"} <= set(summary["backtest"]["predictors"]["pareto_nbd"])

    treated, control = member_with(platform, control=False), member_with(platform, control=True)
    for customer, bonus in ((treated, 50), (control, 0)):
        first = buy(platform, order(f"W-{customer}-1", customer, line("A", 1, "10.00")))
        again = buy(platform, order(f"W-{customer}-2", customer, line("A", 1, "10.00")))
        assert (first["points_awarded"], again["points_awarded"]) == (10 + bonus, 10), customer
    platform.settle()
    with Session(platform.engine) as session:
        uses = session.exec(select(CampaignUse)).all()
        segments = session.exec(
            select(CustomerSegment.segment).where(
                CustomerSegment.customer_id == Customer.id, Customer.external_id == control
            )
        ).all()
    assert [(u.campaign_id, u.uses) for u in uses] == [("welcome-back", 1)]
    assert segments == []  # the control group gets no predicted segment

    # The member reads their own predictions and recommendations, explained; nobody else's.
    own = platform.as_customer(treated, ["read"])
    mine = platform.client.get(f"/v1/customers/{treated}/predictions", headers=own)
    assert mine.status_code == 200, mine.text
    body = mine.json()
    assert "predicted:at-risk" in body["segments"]
    assert body["control_group"] is False
    assert body["inputs"]["repeat_purchase_days"] >= 1
    assert any(reason.startswith("predicted:at-risk: P(alive)") for reason in body["explanation"])
    assert set(body["parameters"]["pareto_nbd"]) == {"r", "alpha", "s", "beta", "loglik"}
    held = platform.client.get(f"/v1/customers/{control}/predictions", headers=admin).json()
    assert held["control_group"] is True
    assert held["segments"] == []
    recommended = platform.client.get(f"/v1/customers/{treated}/recommendations?level=category", headers=own)
    assert recommended.status_code == 200, recommended.text
    assert recommended.json()["items"][0]["source"] == "buy_again"

    for path in (f"/v1/customers/{control}/predictions", f"/v1/customers/{control}/recommendations"):
        refused = platform.client.get(path, headers=own)
        assert refused.status_code == 403, refused.text
        assert refused.json()["error"]["field"] == "customer_id"
    for who in ("checkout",):
        assert (
            platform.client.get(f"/v1/customers/{treated}/predictions", headers=platform.headers(who)).status_code
            == 403
        )
    assert platform.client.post("/v1/predictions/runs", json={}, headers=platform.headers()).status_code == 403
    assert platform.client.post("/v1/predictions/runs", json={}, headers=own).status_code in (401, 403)
    assert platform.client.get("/v1/reports/predictions", headers=own).status_code in (401, 403)

    # Predicted segments are the runs' own: refused by hand.
    by_hand = platform.client.put(
        f"/v1/customers/{control}/segments", json={"segments": ["predicted:at-risk"]}, headers=admin
    )
    assert by_hand.status_code == 422
    assert by_hand.json()["error"]["field"] == "segments"

    report = platform.client.get("/v1/reports/predictions", headers=admin)
    assert report.status_code == 200, report.text
    at_risk = report.json()["since_run"]["segments"]["predicted:at-risk"]
    assert at_risk["treated"]["members"] > 0
    assert at_risk["control"]["members"] > 0

    # Erasure of personal data deletes the member's predictions.
    erased = platform.client.delete(f"/v1/customers/{treated}/personal-data", headers=admin)
    assert erased.status_code == 200, erased.text
    gone = platform.client.get(f"/v1/customers/{treated}/predictions", headers=admin)
    assert gone.status_code == 404
    assert gone.json()["error"]["field"] == "customer_id"


@pytest.mark.sqlite_only
def test_history_import_is_checked_whole_and_admin_only(platform: Platform) -> None:
    admin = platform.headers("admin")
    rows = fading_history(TODAY, 4)
    bad = [*rows, {"order_id": "X", "customer_id": "p900", "date": "2999-01-01", "total": "-1"}]
    refused = platform.client.post("/v1/history/imports", json={"store_id": "demo-store", "rows": bad}, headers=admin)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["field"] == "rows"
    for who in ("checkout", "program"):
        denied = platform.client.post(
            "/v1/history/imports", json={"store_id": "demo-store", "rows": rows}, headers=platform.headers(who)
        )
        assert denied.status_code == 403, denied.text
    with Session(platform.engine) as session:
        assert session.exec(select(HistoryOrder)).all() == []
    assert (
        platform.client.post(
            "/v1/history/imports", json={"store_id": "demo-store", "rows": rows}, headers=admin
        ).status_code
        == 201
    )
    again = platform.client.post("/v1/history/imports", json={"store_id": "demo-store", "rows": rows}, headers=admin)
    assert again.status_code == 409
    assert again.json()["error"]["field"] == "order_id"
    # Too little data: the run is refused and publishes nothing.
    publish(platform, rules())
    refused_run = platform.client.post("/v1/predictions/runs", json={}, headers=admin).json()
    assert refused_run["status"] == "refused"
    assert "minimum" in refused_run["reason"]
    with Session(platform.engine) as session:
        assert session.exec(select(CustomerPrediction)).all() == []


def test_transactions_are_net_of_refunds_and_excluded_skus(platform: Platform) -> None:
    """A fully refunded order and an order of excluded SKUs only are no transaction; a partial
    refund, excluded lines and the share paid with points come off the day's spend (the SQL
    extraction, on live purchases)."""
    publish(platform, {"points_per_unit": "1", "excluded_skus": ["GIFTCARD"], "point_value": "0.50"})
    buy(platform, order("N-1", "q1", line("BEANS", 1, "10.00")))
    buy(platform, order("N-2", "q2", line("GIFTCARD", 1, "50.00")))
    buy(platform, order("N-3", "q3", line("BEANS", 1, "10.00"), line("GIFTCARD", 1, "50.00")))
    buy(platform, order("N-4", "q4", line("BEANS", 1, "10.00")))
    buy(platform, order("N-5", "q5", line("BEANS", 1, "10.00")))  # earns 10 points
    platform.settle()
    # The 10 points are worth 5.00 at this rule version's point value: the day is 10.00 + 20.00 - 5.00.
    code = platform.till_code("q5")
    buy(platform, order("N-6", "q5", line("BEANS", 2, "10.00"), paid_with_points=10, customer_code=code))
    platform.settle()
    for order_id, refund in (
        ("N-1", {"refund_id": "all", "amount": "10.00"}),
        ("N-4", {"refund_id": "part", "amount": "4.00"}),
    ):
        done = platform.client.post(f"/v1/purchases/{order_id}/refunds", json=refund, headers=platform.headers())
        assert done.status_code == 200, done.text
    with Session(platform.engine) as session:
        histories = customer_histories(session, TODAY, Rules.of(session, ["GIFTCARD"]))
        names = dict(session.exec(select(Customer.id, Customer.external_id)).all())
    spend = {names[int(c)]: float(s) for c, s in zip(histories.customer_id, histories.total_spend, strict=True)}
    assert spend == {"q3": 10.0, "q4": 6.0, "q5": 25.0}
