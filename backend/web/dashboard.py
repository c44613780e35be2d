"""The console's dashboard: figures for the program's admin, each one SQL aggregate (a ``GROUP BY``
or a ``SUM``, never a pass over members or events in Python), composed from what the API's reports
already compute (``loyalty.reports``: liability and the points per day; ``predictive.views``: the
segments and the treated-against-control uplift). Decides nothing."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.db.models import ChainCursor, Customer, MemberState, Operation
from backend.db.models.chain import OperationStatus
from backend.db.types import utcnow
from backend.errors import NotFound
from backend.indexer.reconcile_runs import latest_run
from backend.loyalty.program import current_rule_set
from backend.loyalty.reports import daily, liability
from backend.predictive import views as predictive

DAYS = 30
# What changes the points outstanding, with its sign (transfers move points between members).
NET = {"issued": 1, "reversed": -1, "redeemed": -1, "expired": -1}


def points_per_day(session: Session, last: date, days: int = DAYS) -> dict[str, Any]:
    """Points issued, redeemed, expired and reversed on each of the last ``days`` UTC days (zeros
    on quiet days, so a chart's axis is the calendar), and the points outstanding at each day's
    end (the liability over time), counted back from today's supply."""
    first = last - timedelta(days=days - 1)
    by_day = {row["day"]: row for row in daily(session, first, last)}
    calendar = [(first + timedelta(days=n)).isoformat() for n in range(days)]
    series = {name: [int(by_day.get(day, {}).get(name, 0)) for day in calendar] for name in NET}
    net = [sum(sign * series[name][n] for name, sign in NET.items()) for n in range(days)]
    outstanding = int(liability(session)["outstanding_points"])
    ends, running = [], outstanding
    for change in reversed(net):  # today's supply, less what each later day added
        ends.append(running)
        running -= change
    return {"days": calendar, **series, "outstanding": list(reversed(ends))}


def members_per_tier(session: Session) -> dict[str, int]:
    """Members per tier; members without a standing row hold the base tier."""
    rows = session.exec(select(MemberState.tier, func.count()).group_by(col(MemberState.tier))).all()
    counts = {str(tier): int(n) for tier, n in rows}
    members = int(session.exec(select(func.count()).select_from(Customer)).one())
    rules = current_rule_set(session)
    base = rules.base_tier.name if rules else "member"
    counts[base] = counts.get(base, 0) + members - sum(counts.values())
    return counts


def outbox_backlog(session: Session) -> dict[str, int]:
    """Chain operations waiting (pending: not sent; sent: not yet confirmed) and failed."""
    rows = session.exec(
        select(Operation.status, func.count())
        .where(col(Operation.status) != OperationStatus.CONFIRMED)
        .group_by(col(Operation.status))
    ).all()
    counts = {str(status): int(n) for status, n in rows}
    return {status: counts.get(status, 0) for status in ("pending", "sent", "failed")}


def indexer(session: Session) -> dict[str, Any]:
    """How far the mirror is behind the chain, as the indexer last saw it (``/readyz`` asks the node)."""
    cursor = session.get(ChainCursor, "indexer")
    if cursor is None:
        return {"block": None, "head": None, "lag": None, "checked_at": None, "reorgs": 0}
    return {
        "block": cursor.block_number,
        "head": cursor.head_block,
        "lag": max(0, cursor.head_block - cursor.block_number),
        "checked_at": cursor.checked_at,
        "reorgs": cursor.reorgs_total,
    }


def predictions(session: Session) -> dict[str, Any] | None:
    """Predicted segments and the uplift of treated members over the control group (None: no run)."""
    try:
        return predictive.report(session)
    except NotFound:
        return None


def dashboard(session: Session) -> dict[str, Any]:
    today = utcnow().date()
    return {
        "liability": liability(session),
        "per_day": points_per_day(session, today),
        "tiers": members_per_tier(session),
        "outbox": outbox_backlog(session),
        "indexer": indexer(session),
        "predictions": predictions(session),
        "reconcile": latest_run(session),
    }
