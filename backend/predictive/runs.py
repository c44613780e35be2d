"""A prediction run: extract, check the minimum of data, fit, score, backtest, publish.

One run is one transaction. It reads every customer's purchase history as of a day (SQL), refuses
to publish anything below the rules' minimum of data, fits BG/NBD, Pareto/NBD and Gamma-Gamma,
scores every customer, gives them the ``predicted:`` segments of the rules in force (none to the
control group), stores each member's figures and the items bought together, and backtests itself:
the same models fitted on the history up to one horizon earlier, scored against what happened
since, next to the baselines (``evaluation``). Its summary (``summary_json``) is the stable
machine-readable form the CLI prints with ``--json``.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlmodel import Session, col, select

from backend.db.direct import bulk_insert
from backend.db.models import (
    CustomerPrediction,
    CustomerSegment,
    PopularItem,
    PredictedNeighbour,
    PredictionRun,
)
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound
from backend.loyalty.program import rules_in_force
from backend.predictive import recommend as rec
from backend.predictive.evaluation import holdout_report
from backend.predictive.extract import Histories, Rules, Window, activity, customer_histories, item_rows
from backend.predictive.policy import DEFAULT_POLICY, PREFIX, PredictivePolicy
from backend.predictive.scoring import affinities, fit, in_control, score, segments

WEEK = 7.0
ITEM_WINDOW_DAYS = 365  # items bought together: the last year before the run's day
NEIGHBOURS_PER_ITEM = 20
POPULAR_ITEMS = 100
BACKTEST_RESAMPLES = 100
WRITE_BLOCK = 50_000


@dataclass(frozen=True)
class Outcome:
    run: PredictionRun
    summary: dict[str, Any]


def policy_in_force(session: Session) -> tuple[int | None, PredictivePolicy, bool]:
    """(rule version, policy, whether the rules publish one). Without a ``predictive`` section the
    defaults compute predictions, but no segment is published: targeting must be in the hashed rules."""
    try:
        record, rules = rules_in_force(session)
    except Conflict:  # no rules yet: predictions only
        return None, DEFAULT_POLICY, False
    if rules.predictive is None:
        return record.version, DEFAULT_POLICY, False
    return record.version, rules.predictive, True


def _minimum_problem(histories: Histories, policy: PredictivePolicy) -> str | None:
    customers = len(histories)
    repeat = int((histories.repeat_days > 0).sum())
    span = int(histories.age_days.max()) if customers else 0
    if customers < policy.min_customers:
        return f"{customers} customers with purchases, the rules want at least {policy.min_customers}"
    if repeat < policy.min_repeat_customers:
        return f"{repeat} repeat customers, the rules want at least {policy.min_repeat_customers}"
    if span < policy.min_history_days:
        return f"{span} days of history, the rules want at least {policy.min_history_days}"
    return None


def _excluded_skus(session: Session) -> tuple[str, ...]:
    try:
        return rules_in_force(session)[1].excluded_skus
    except Conflict:
        return ()


def backtest(
    session: Session, rules: Rules, as_of: date, policy: PredictivePolicy, resamples: int = BACKTEST_RESAMPLES
) -> dict[str, Any]:
    """Fit on the history up to one horizon before ``as_of``, score the horizon since, with the baselines."""
    cut = as_of - timedelta(days=policy.horizon_days)
    calibration = customer_histories(session, cut, rules)
    problem = _minimum_problem(calibration, policy)
    if problem is not None:
        return {"skipped": f"calibration to {cut.isoformat()}: {problem}"}
    fitted = fit(calibration)
    actual, _ = activity(session, cut + timedelta(days=1), as_of, rules).aligned(calibration.customer_id)
    report = holdout_report(
        calibration.summary(), actual, policy.horizon_days / WEEK, fitted.bgnbd, fitted.pnbd, resamples=resamples
    )
    return {"calibration_end": cut.isoformat(), "holdout_end": as_of.isoformat(), **report}


def run(session: Session, as_of: date, trigger: str, evaluate: bool = True, now: datetime | None = None) -> Outcome:
    """One run as of ``as_of`` (transactions of that day and before), in the caller's transaction."""
    now = now or utcnow()
    version, policy, targeting = policy_in_force(session)
    rules = Rules.of(session, _excluded_skus(session))
    record = PredictionRun(
        as_of=as_of.isoformat(),
        status="running",
        trigger=trigger,
        rule_version=version,
        horizon_days=policy.horizon_days,
        started_at=now,
    )
    session.add(record)
    session.flush()
    assert record.id is not None
    histories = customer_histories(session, as_of, rules)
    summary: dict[str, Any] = {
        "run_id": record.id,
        "as_of": as_of.isoformat(),
        "rule_version": version,
        "time_unit": "weeks",
        "horizon_days": policy.horizon_days,
        "model": policy.model,
        "targeting": targeting,
        "customers": len(histories),
        "repeat_customers": int((histories.repeat_days > 0).sum()),
        "policy": policy.canonical(),
    }
    problem = _minimum_problem(histories, policy)
    if problem is not None:
        return _finish(session, record, "refused", summary, now, reason=f"below the minimum of data: {problem}")
    fitted = fit(histories)
    summary.update(fitted.to_json())
    scores = score(histories, fitted, policy.horizon_days / WEEK, policy.model)
    control = in_control(histories.customer_id, policy.control_percent)
    window = Window(as_of - timedelta(days=ITEM_WINDOW_DAYS - 1), as_of)
    categories = item_rows(session, "category", window, rules)
    given = segments(histories, scores, policy, affinities(histories, categories, policy))
    _store_predictions(session, record.id, histories, scores, control, given)
    treated = Counter(name for names, held in zip(given, control.tolist(), strict=True) if not held for name in names)
    held_out = Counter(name for names, held in zip(given, control.tolist(), strict=True) if held for name in names)
    if targeting:
        _publish_segments(session, histories, control, given)
    summary["segments"] = dict(sorted(treated.items())) if targeting else {}
    summary["control"] = {
        "members": int(control.sum()),
        "percent": policy.control_percent,
        "segments": dict(sorted(held_out.items())),
    }
    summary["items"] = _store_items(session, record.id, window, rules, categories)
    if evaluate:
        summary["backtest"] = backtest(session, rules, as_of, policy)
    reason = "" if targeting else "the rules in force have no predictive section: predictions only, no segments"
    return _finish(session, record, "published", summary, now, reason=reason)


def _finish(
    session: Session, record: PredictionRun, status: str, summary: dict[str, Any], now: datetime, reason: str = ""
) -> Outcome:
    summary["status"] = status
    if reason:
        summary["reason"] = reason
    record.status, record.reason = status, reason
    record.summary = json.dumps(summary, sort_keys=True, default=_plain)
    record.finished_at = utcnow()
    session.add(record)
    session.flush()
    return Outcome(record, json.loads(record.summary))


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    raise TypeError(f"not JSON: {type(value).__name__}")


def _finite(value: float) -> float:
    return float(value) if np.isfinite(value) else 0.0


def _store_predictions(
    session: Session, run_id: int, histories: Histories, scores: Any, control: NDArray[np.bool_], given: list[list[str]]
) -> None:
    mean_spend = histories.mean_spend
    columns = {
        "bgnbd_p_alive": scores.bgnbd_p_alive,
        "bgnbd_expected": scores.bgnbd_expected,
        "bgnbd_p_none": scores.bgnbd_p_none,
        "pnbd_p_alive": scores.pnbd_p_alive,
        "pnbd_expected": scores.pnbd_expected,
        "pnbd_p_none": scores.pnbd_p_none,
        "expected_spend": scores.expected_spend,
        "clv": scores.clv,
    }
    lists = {name: np.nan_to_num(values, nan=0.0, posinf=0.0).tolist() for name, values in columns.items()}
    inputs = (
        histories.customer_id.tolist(),
        histories.repeat_days.tolist(),
        histories.recency_days.tolist(),
        histories.age_days.tolist(),
        mean_spend.tolist(),
        control.tolist(),
    )
    # Written a block at a time: a million rows as dicts at once would take gigabytes.
    for low in range(0, len(histories), WRITE_BLOCK):
        block = range(low, min(low + WRITE_BLOCK, len(histories)))
        bulk_insert(
            session,
            table_of(CustomerPrediction),
            [
                {
                    "run_id": run_id,
                    "customer_id": inputs[0][i],
                    "repeat_days": inputs[1][i],
                    "recency_days": inputs[2][i],
                    "age_days": inputs[3][i],
                    "mean_spend": inputs[4][i],
                    "control": inputs[5][i],
                    "segments": json.dumps(given[i]),
                    **{name: values[i] for name, values in lists.items()},
                }
                for i in block
            ],
        )


def _publish_segments(
    session: Session, histories: Histories, control: NDArray[np.bool_], given: list[list[str]]
) -> None:
    """Replace every ``predicted:`` segment with this run's (never the control group's)."""
    table = table_of(CustomerSegment)
    session.execute(table.delete().where(table.c.segment.startswith(PREFIX)))
    bulk_insert(
        session,
        table,
        [
            {"customer_id": customer, "segment": name}
            for customer, held, names in zip(histories.customer_id.tolist(), control.tolist(), given, strict=True)
            if not held
            for name in names
        ],
    )


def _store_items(session: Session, run_id: int, window: Window, rules: Rules, categories: Any) -> dict[str, int]:
    """Each level's item neighbours and popular items, for members' recommendations."""
    counts: dict[str, int] = {}
    for level in ("sku", "category"):
        rows = categories if level == "category" else item_rows(session, level, window, rules)
        if rows.customer_id.size == 0:
            counts[level] = 0
            continue
        interactions = rec.Interactions.of(rows.customer_id, rows.item, rows.days, rows.last_day)
        near = rec.neighbours(interactions, top=NEIGHBOURS_PER_ITEM)
        bulk_insert(
            session,
            table_of(PredictedNeighbour),
            [
                {"run_id": run_id, "level": level, "item": item, "neighbour": other, "score": value}
                for item, others in near.items()
                for other, value in others
            ],
        )
        bulk_insert(
            session,
            table_of(PopularItem),
            [
                {"run_id": run_id, "level": level, "rank": rank, "item": item, "buyers": buyers}
                for rank, (item, buyers) in enumerate(rec.popular(interactions, POPULAR_ITEMS))
            ],
        )
        counts[level] = int(interactions.items.size)
    return counts


# -- reading runs ---------------------------------------------------------------------------


def get_run(session: Session, run_id: int) -> PredictionRun:
    found = session.get(PredictionRun, run_id)
    if found is None:
        raise NotFound(f"prediction run {run_id} does not exist", field="run_id")
    return found


def latest_published(session: Session) -> PredictionRun | None:
    return session.exec(
        select(PredictionRun).where(PredictionRun.status == "published").order_by(col(PredictionRun.id).desc()).limit(1)
    ).first()


def list_runs(session: Session, limit: int = 20) -> list[PredictionRun]:
    return list(session.exec(select(PredictionRun).order_by(col(PredictionRun.id).desc()).limit(limit)).all())


def run_view(record: PredictionRun) -> dict[str, Any]:
    return {
        "id": record.id,
        "as_of": record.as_of,
        "status": record.status,
        "trigger": record.trigger,
        "rule_version": record.rule_version,
        "horizon_days": record.horizon_days,
        "reason": record.reason,
        "started_at": record.started_at,
        "finished_at": record.finished_at,
        "summary": json.loads(record.summary),
    }


def due(session: Session, today: date) -> bool:
    """Whether the upkeep should run one: the rules publish a predictive section, and no run
    (published or refused) started within its ``every_days``."""
    _, policy, targeting = policy_in_force(session)
    if not targeting:
        return False
    last = session.exec(
        select(PredictionRun)
        .where(col(PredictionRun.status).in_(("published", "refused")))
        .order_by(col(PredictionRun.id).desc())
        .limit(1)
    ).first()
    return last is None or date.fromisoformat(last.as_of) + timedelta(days=policy.every_days) <= today
