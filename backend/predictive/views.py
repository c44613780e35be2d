"""What a run published, as members, admins and reports read it: a member's predictions with the
inputs and figures behind them (like the purchase explanation), their recommendations, and the
report of segment sizes, backtest and treated against control."""

from __future__ import annotations

import json
from datetime import date, timedelta
from typing import Any

import numpy as np
from sqlmodel import Session, col, select

from backend.db.models import Customer, CustomerPrediction, PopularItem, PredictedNeighbour, PredictionRun
from backend.db.types import utcnow
from backend.errors import NotFound, Unprocessable
from backend.predictive import recommend as rec
from backend.predictive.extract import Rules, Window, activity, item_rows
from backend.predictive.policy import AT_RISK, HIGH_VALUE, LAPSED
from backend.predictive.runs import ITEM_WINDOW_DAYS, WEEK, _excluded_skus, get_run, latest_published

LEVELS = ("sku", "category")


def _published(session: Session, run_id: int | None) -> PredictionRun:
    found = get_run(session, run_id) if run_id is not None else latest_published(session)
    if found is None or found.status != "published":
        raise NotFound("no published prediction run", field="run_id")
    return found


def _reasons(row: CustomerPrediction, summary: dict[str, Any], figures: dict[str, Any]) -> list[str]:
    """Why the member has (or would have, in the control group) each segment."""
    policy = summary.get("policy", {}).get("segments", {})
    model = summary.get("model", "pareto_nbd")
    p_alive = figures[model]["p_alive"]
    names = json.loads(row.segments)
    out = []
    if LAPSED in names:
        out.append(f"{LAPSED}: P(alive) {p_alive:.3f} under {model} is below {policy['lapsed']['p_alive_below']}")
    if AT_RISK in names:
        rule = policy["at_risk"]
        out.append(
            f"{AT_RISK}: P(alive) {p_alive:.3f} is below {rule['p_alive_below']} with "
            f"{row.repeat_days} repeat purchase day(s), at least {rule['min_repeat_purchases']}"
        )
    if HIGH_VALUE in names:
        out.append(
            f"{HIGH_VALUE}: expected value {row.clv:.2f} over {summary['horizon_days']} days is in the top "
            f"{policy['high_value']['top_percent']} % of members"
        )
    for name in names:
        if name.startswith("predicted:affinity:"):
            rule = policy["affinity"]
            out.append(
                f"{name}: at least {rule['min_share']} of the member's spend on at least "
                f"{rule['min_days']} days in the last {ITEM_WINDOW_DAYS} days"
            )
    return out


def member_predictions(session: Session, customer: Customer, run_id: int | None = None) -> dict[str, Any]:
    """The member's figures in the latest published run (or ``run_id``), explained."""
    found = _published(session, run_id)
    row = session.get(CustomerPrediction, (found.id, customer.id))
    if row is None:
        raise NotFound(
            f"run {found.id} has no prediction for this customer (no purchase by {found.as_of}, "
            "or their personal data was erased)",
            field="customer_id",
        )
    summary = json.loads(found.summary)
    horizon = found.horizon_days
    figures = {
        "pareto_nbd": {
            "p_alive": row.pnbd_p_alive,
            "expected_purchases": row.pnbd_expected,
            "p_no_purchase": row.pnbd_p_none,
        },
        "bgnbd": {
            "p_alive": row.bgnbd_p_alive,
            "expected_purchases": row.bgnbd_expected,
            "p_no_purchase": row.bgnbd_p_none,
        },
    }
    expected = figures[summary.get("model", "pareto_nbd")]["expected_purchases"]
    as_of = date.fromisoformat(found.as_of)
    next_day = as_of + timedelta(days=round(horizon / expected)) if expected * 1.0 > 1 / 3650 else None
    segments = json.loads(row.segments)
    return {
        "customer_id": customer.external_id,
        "run": {
            "id": found.id,
            "as_of": found.as_of,
            "rule_version": found.rule_version,
            "horizon_days": horizon,
            "model": summary.get("model"),
            "time_unit": "weeks",
        },
        "inputs": {
            "repeat_purchase_days": row.repeat_days,
            "first_to_last_purchase_days": row.recency_days,
            "observed_days": row.age_days,
            "days_since_last_purchase": row.age_days - row.recency_days,
            "mean_repeat_spend": row.mean_spend,
            "weeks": {"x": row.repeat_days, "t_x": row.recency_days / WEEK, "T": max(row.age_days, 1) / WEEK},
        },
        "parameters": {name: summary.get(name) for name in ("bgnbd", "pareto_nbd", "gamma_gamma")},
        "figures": {
            **figures,
            "expected_spend_per_purchase": row.expected_spend,
            "value_over_horizon": row.clv,
            "expected_next_purchase": next_day.isoformat() if next_day else None,
        },
        "segments": [] if row.control else segments,
        "control_group": row.control,
        "explanation": _reasons(row, summary, figures)
        + (
            ["control group: held out of every predicted segment so that offers' uplift is measured"]
            if row.control
            else []
        ),
    }


def member_recommendations(
    session: Session, customer: Customer, level: str = "sku", limit: int = 10, run_id: int | None = None
) -> dict[str, Any]:
    """Buy-again, then items bought together with the member's, then popular items."""
    if level not in LEVELS:
        raise Unprocessable(f"level must be one of {', '.join(LEVELS)}", field="level")
    found = _published(session, run_id)
    as_of = date.fromisoformat(found.as_of)
    window = Window(as_of - timedelta(days=ITEM_WINDOW_DAYS - 1), as_of)
    assert customer.id is not None
    rows = item_rows(session, level, window, Rules.of(session, _excluded_skus(session)), customer_id=customer.id)
    bought = {
        str(item): (int(days), int(last)) for item, days, last in zip(rows.item, rows.days, rows.last_day, strict=True)
    }
    near: dict[str, list[tuple[str, float]]] = {}
    if bought:
        for item, other, value in session.exec(
            select(PredictedNeighbour.item, PredictedNeighbour.neighbour, PredictedNeighbour.score).where(
                PredictedNeighbour.run_id == found.id,
                PredictedNeighbour.level == level,
                col(PredictedNeighbour.item).in_(sorted(bought)),
            )
        ).all():
            near.setdefault(item, []).append((other, value))
    popular = [
        (item, int(buyers))
        for item, buyers in session.exec(
            select(PopularItem.item, PopularItem.buyers)
            .where(PopularItem.run_id == found.id, PopularItem.level == level)
            .order_by(col(PopularItem.rank))
        ).all()
    ]
    listed = rec.recommend(bought, near, popular, limit)
    return {
        "customer_id": customer.external_id,
        "run_id": found.id,
        "as_of": found.as_of,
        "level": level,
        "items": [{"item": r.item, "source": r.source, "score": r.score, "because": r.because} for r in listed],
    }


def report(session: Session, run_id: int | None = None, today: date | None = None) -> dict[str, Any]:
    """Segment sizes, the backtest (calibration, AUC, errors against the baselines), and for each
    segment the treated members against the control group's since the run: purchase days and
    spend per member, so an offer's uplift is measured, not assumed."""
    found = _published(session, run_id)
    summary = json.loads(found.summary)
    as_of = date.fromisoformat(found.as_of)
    today = today or utcnow().date()
    rows = session.exec(
        select(CustomerPrediction.customer_id, CustomerPrediction.control, CustomerPrediction.segments).where(
            CustomerPrediction.run_id == found.id
        )
    ).all()
    since: dict[str, Any] = {"from": (as_of + timedelta(days=1)).isoformat(), "through": today.isoformat()}
    if today > as_of and rows:
        ids = np.array([r[0] for r in rows], dtype=np.int64)
        order = np.argsort(ids)
        days, spend = activity(
            session, as_of + timedelta(days=1), today, Rules.of(session, _excluded_skus(session))
        ).aligned(ids[order])
        by_id = {int(c): (int(d), float(s)) for c, d, s in zip(ids[order], days, spend, strict=True)}
    else:
        by_id = {int(r[0]): (0, 0.0) for r in rows}
    groups: dict[str, dict[str, list[tuple[int, float]]]] = {}
    for customer_id, held, names in rows:
        for name in [*json.loads(names), "all"]:
            groups.setdefault(name, {"treated": [], "control": []})["control" if held else "treated"].append(
                by_id[int(customer_id)]
            )
    uplift = {}
    for name, sides in sorted(groups.items()):
        uplift[name] = {side: _group(values) for side, values in sides.items()}
        treated, control = uplift[name]["treated"], uplift[name]["control"]
        if treated["members"] and control["members"]:
            uplift[name]["difference"] = {
                "purchase_days_per_member": treated["purchase_days_per_member"] - control["purchase_days_per_member"],
                "spend_per_member": treated["spend_per_member"] - control["spend_per_member"],
            }
    return {
        "run": {
            "id": found.id,
            "as_of": found.as_of,
            "rule_version": found.rule_version,
            "horizon_days": found.horizon_days,
        },
        "customers": summary.get("customers"),
        "repeat_customers": summary.get("repeat_customers"),
        "segments": summary.get("segments", {}),
        "control": summary.get("control", {}),
        "backtest": summary.get("backtest"),
        "since_run": {**since, "segments": uplift},
    }


def _group(values: list[tuple[int, float]]) -> dict[str, Any]:
    n = len(values)
    days = sum(v[0] for v in values)
    spend = sum(v[1] for v in values)
    return {
        "members": n,
        "buyers": sum(1 for v in values if v[0] > 0),
        "purchase_days_per_member": days / n if n else 0.0,
        "spend_per_member": spend / n if n else 0.0,
    }
