"""A member's standing: the tier they hold (since when, with a running grace period) and the debt
the platform expects on chain, as their ``member_states`` row keeps it (no row: the base tier, no
debt).

Pure rules, the only ones that change it: an award first repays the debt, as the contract does
(``after_award``); the tier follows the purchase points earned in the rolling window (``retier``,
with the state machine of ``tiers``). ``members`` applies them to ORM rows (refunds, partner
conversions, maintenance); the purchase assessment (``assessment``) to the rows that the purchase
paths load and write in bulk.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Protocol

from backend.loyalty.lots import repay_debt
from backend.loyalty.rules import RuleSet
from backend.loyalty.tiers import TierChange, TierState, evaluate


@dataclass(frozen=True)
class Standing:
    """The columns of a ``member_states`` row."""

    tier: str
    tier_since: datetime
    grace_until: datetime | None
    debt: int
    updated_at: datetime

    @classmethod
    def base(cls, rules: RuleSet, now: datetime) -> Standing:
        """What a member without a row holds: the base tier, no debt."""
        return cls(rules.base_tier.name, now, None, 0, now)


class HoldsTier(Protocol):
    """A standing, or the ``member_states`` row it is read from."""

    @property
    def tier(self) -> str: ...


def tier_name(standing: HoldsTier | None, rules: RuleSet) -> str:
    """The tier the rules give the member (the base tier for a tier these rules do not know)."""
    return rules.tier(standing.tier if standing else None).name


def after_award(standing: Standing | None, points: int, now: datetime) -> tuple[Standing | None, int]:
    """An award of ``points``: the standing once it has repaid the debt first (as on chain), and the
    points left to credit as a lot."""
    if standing is None or standing.debt <= 0:
        return standing, points
    repaid, credited = repay_debt(points, standing.debt)
    return replace(standing, debt=standing.debt - repaid, updated_at=now), credited


def retier(
    standing: Standing | None, qualifying: int, rules: RuleSet, now: datetime
) -> tuple[Standing | None, list[TierChange]]:
    """The standing once the tier rules have looked at ``qualifying`` (the member's purchase points
    in the window) at ``now``, and every change to record; the same standing if nothing changed."""
    current = TierState(tier_name(standing, rules), standing.grace_until if standing else None)
    new, changes = evaluate(current, qualifying, now, rules.tiers, rules.tier_grace_days)
    if not changes:
        return standing, []
    before = standing or Standing.base(rules, now)
    since = now if new.tier != before.tier else before.tier_since
    return Standing(new.tier, since, new.grace_until, before.debt, now), changes


def tier_event_rows(
    customer_id: int, changes: list[TierChange], standing: Standing, rules: RuleSet
) -> list[dict[str, Any]]:
    """The ``tier_events`` rows of ``changes``, which left the member at ``standing``."""
    return [
        {
            "customer_id": customer_id,
            "kind": change.kind,
            "from_tier": change.from_tier,
            "to_tier": change.to_tier,
            "qualifying": change.qualifying,
            "rule_version": rules.version,
            "grace_until": standing.grace_until,
            "at": change.at,
        }
        for change in changes
    ]
