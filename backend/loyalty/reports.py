"""Reports for the admin: the program's liability, and points issued, redeemed and expired per day.

Figures on chain come from the mirror (and say which block they reflect); the lots add what the
chain cannot know, such as how many points expire soon.
"""

from __future__ import annotations

from collections import defaultdict
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import func
from sqlmodel import Session, col, select

from backend.chain.operations import CREDIT_KINDS, DEBIT_KINDS
from backend.db.models import MirrorAccount, MirrorLedgerEntry, MirrorTokenState, Operation, PointLot
from backend.db.types import utcnow
from backend.loyalty.accounts import mirrored_block
from backend.loyalty.in_flight import IN_FLIGHT
from backend.loyalty.program import current_rule_set

DAY = 86_400
EXPIRING_SOON_DAYS = 30


def _in_flight(session: Session, kinds: tuple[str, ...]) -> int:
    total = session.exec(
        select(func.coalesce(func.sum(Operation.amount), 0)).where(
            col(Operation.kind).in_(kinds), col(Operation.status).in_(IN_FLIGHT)
        )
    ).one()
    return int(total)


def liability(session: Session, now: datetime | None = None) -> dict[str, Any]:
    """Outstanding points (confirmed on chain) and what they are worth at the configured point value."""
    now = now or utcnow()
    rules = current_rule_set(session)
    point_value = rules.point_value if rules else Decimal(0)
    state = session.get(MirrorTokenState, 1)
    outstanding = state.total_supply if state else 0
    debt = int(session.exec(select(func.coalesce(func.sum(MirrorAccount.debt), 0))).one())
    expiring = session.exec(
        select(func.coalesce(func.sum(PointLot.remaining), 0)).where(
            col(PointLot.expires_at).is_not(None), col(PointLot.expires_at) <= now + timedelta(days=EXPIRING_SOON_DAYS)
        )
    ).one()
    pending = _in_flight(session, CREDIT_KINDS)
    return {
        "outstanding_points": outstanding,
        "point_value": format(point_value.normalize(), "f"),
        "outstanding_value": format((point_value * outstanding).normalize(), "f"),
        "pending_points": pending,
        "pending_debits": _in_flight(session, DEBIT_KINDS),
        "debt_points": debt,
        "expiring_within_30_days": int(expiring),
        "as_of_block": mirrored_block(session),
        "rule_version": rules.version if rules else None,
    }


FIELDS = ("issued", "debt_repaid", "reversed", "debt_incurred", "redeemed", "expired", "transferred")


def daily(session: Session, first: date, last: date) -> list[dict[str, Any]]:
    """Points per UTC day (by block time) between ``first`` and ``last`` inclusive, days with activity only."""
    start = int(datetime(first.year, first.month, first.day, tzinfo=UTC).timestamp())
    end = int(datetime(last.year, last.month, last.day, tzinfo=UTC).timestamp()) + DAY
    day = col(MirrorLedgerEntry.block_time) // DAY
    rows = session.exec(
        select(day, MirrorLedgerEntry.kind, func.sum(MirrorLedgerEntry.amount), func.sum(MirrorLedgerEntry.debt_change))
        .where(col(MirrorLedgerEntry.block_time) >= start, col(MirrorLedgerEntry.block_time) < end)
        .group_by(day, col(MirrorLedgerEntry.kind))
    ).all()
    days: dict[int, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    for number, kind, amount, debt_change in rows:
        entry = days[int(number)]
        amount, debt_change = int(amount or 0), int(debt_change or 0)
        if kind == "award":
            entry["issued"] += amount
            entry["debt_repaid"] += -debt_change
        elif kind == "reversal":
            entry["reversed"] += -amount
            entry["debt_incurred"] += debt_change
        elif kind == "redemption":
            entry["redeemed"] += -amount
        elif kind == "expiry":
            entry["expired"] += -amount
        elif kind == "transfer_in":
            entry["transferred"] += amount
    return [
        {"day": (date(1970, 1, 1) + timedelta(days=number)).isoformat(), **values}
        for number, values in sorted(days.items())
    ]
