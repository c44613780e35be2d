"""Tiers: computed from the points earned in a rolling window, with a grace period before a downgrade.

Pure state machine. ``qualifying`` is the number of points a member earned by purchases in the
window (refunds count against it; transfers and partner conversions do not). The target tier is
the highest whose threshold the member reaches.

- Target above the current tier: upgrade at once.
- Target equal: nothing changes; a running grace period is cancelled.
- Target below: a grace period of ``grace_days`` starts; if the member is still below when it ends,
  they move down to the target tier (directly, not one step at a time).
- A tier the rules no longer know is replaced by the target at once.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal

from backend.loyalty.rules import Tier

ChangeKind = Literal["upgrade", "downgrade", "grace_started", "grace_cancelled", "reassigned"]


@dataclass(frozen=True)
class TierState:
    tier: str
    grace_until: datetime | None = None


@dataclass(frozen=True)
class TierChange:
    kind: ChangeKind
    from_tier: str
    to_tier: str
    at: datetime
    qualifying: int


def target_tier(levels: Sequence[Tier], qualifying: int) -> Tier:
    reached = [t for t in levels if t.threshold <= qualifying]
    return max(reached, key=lambda t: t.threshold) if reached else min(levels, key=lambda t: t.threshold)


def rank(levels: Sequence[Tier], name: str) -> int:
    ordered = sorted(levels, key=lambda t: t.threshold)
    return next((i for i, t in enumerate(ordered) if t.name == name), -1)


def evaluate(
    state: TierState, qualifying: int, now: datetime, levels: Sequence[Tier], grace_days: int
) -> tuple[TierState, list[TierChange]]:
    """The member's tier after looking at ``qualifying`` at ``now``, and what changed."""
    target = target_tier(levels, qualifying)
    current = rank(levels, state.tier)
    wanted = rank(levels, target.name)

    def change(kind: ChangeKind, to: str) -> TierChange:
        return TierChange(kind, state.tier, to, now, qualifying)

    if current < 0:
        return TierState(target.name), [change("reassigned", target.name)]
    if wanted > current:
        return TierState(target.name), [change("upgrade", target.name)]
    if wanted == current:
        if state.grace_until is not None:
            return TierState(state.tier), [change("grace_cancelled", state.tier)]
        return state, []
    if state.grace_until is None:
        until = now + timedelta(days=grace_days)
        if grace_days == 0:
            return TierState(target.name), [change("downgrade", target.name)]
        return TierState(state.tier, until), [change("grace_started", state.tier)]
    if now >= state.grace_until:
        return TierState(target.name), [change("downgrade", target.name)]
    return state, []
