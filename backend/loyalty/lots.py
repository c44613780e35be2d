"""Earned points as lots: when they expire, in which order they are spent, and how debt is repaid.

Pure functions; ``backend.loyalty.members`` applies them to SQL rows. The bookkeeping mirrors the
contract exactly: an award first repays the account's debt and only the rest is credited (a lot);
a reversal takes what the lots hold and records the rest as debt; spending and expiry never go
below zero. Lots are spent soonest-expiring first (lots that never expire last, then oldest first).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from backend.loyalty.rules import ExpiryPolicy

NEVER = datetime.max.replace(tzinfo=UTC)


def expiry_of(policy: ExpiryPolicy, earned_at: datetime) -> datetime | None:
    """When a lot earned at ``earned_at`` expires under ``policy`` (None: never)."""
    if policy.kind == "after_days":
        return earned_at + timedelta(days=policy.days)
    if policy.kind == "end_of_period":
        start = earned_at.astimezone(UTC)
        months = {"month": 1, "quarter": 3, "year": 12}[policy.period]
        first_month = ((start.month - 1) // months) * months  # 0-based month opening the period
        index = start.year * 12 + first_month + months * (policy.extra_periods + 1)
        year, month = divmod(index, 12)
        return datetime(year, month + 1, 1, tzinfo=UTC)  # the instant the period is over
    return None


@dataclass(frozen=True)
class LotView:
    id: int
    remaining: int
    expires_at: datetime | None
    earned_at: datetime


def spending_order(lots: Iterable[LotView]) -> list[LotView]:
    return sorted(lots, key=lambda lot: (lot.expires_at or NEVER, lot.earned_at, lot.id))


def allocate(lots: Sequence[LotView], amount: int, first: int | None = None) -> tuple[list[tuple[int, int]], int]:
    """Take ``amount`` from ``lots``: lot ``first`` before the others (a refund takes back its own
    purchase's points first), then soonest-expiring first. Returns ``[(lot id, taken)]`` and the
    shortfall that the lots could not cover."""
    if amount < 0:
        raise ValueError("amount must not be negative")
    ordered = spending_order(lot for lot in lots if lot.remaining > 0)
    if first is not None:
        ordered.sort(key=lambda lot: lot.id != first)  # stable: the rest keep their order
    takes: list[tuple[int, int]] = []
    left = amount
    for lot in ordered:
        if left == 0:
            break
        take = min(lot.remaining, left)
        takes.append((lot.id, take))
        left -= take
    return takes, left


def repay_debt(amount: int, debt: int) -> tuple[int, int]:
    """An award of ``amount`` against ``debt``: (repaid, credited), as the contract does it."""
    repaid = min(amount, debt)
    return repaid, amount - repaid


def expired(lots: Iterable[LotView], now: datetime) -> list[LotView]:
    """Lots with points left whose expiry time has come."""
    return [lot for lot in lots if lot.remaining > 0 and lot.expires_at is not None and lot.expires_at <= now]
