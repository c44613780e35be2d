"""One purchase assessed: every rule a purchase is held to, in plain Python over facts already loaded.

Both write paths of purchases call it and apply no rule of their own: ``purchase_batch`` (plain
purchases, many at a time, facts read and rows written set-based) and ``purchases`` (a purchase
paid with points or carrying serialized items, one at a time: it also burns the points, and hands
the items to provenance, whose genuine-product bonuses it passes in). They load the facts (the
rules in force, the store's currency, the member's standing, segments and qualifying points) and
write the rows the assessment describes.

The rules, in the order they apply (the first refusal wins):

1. ``check_store``: the store exists and sells in the order's currency;
2. ``priced``: the order's total, and no more paid with points than it is worth;
3. ``assess``: the points the rules give (``rules.quote``, at the member's tier, for their
   segments), under the cap of one order; and what the award does to the member: it repays their
   debt first, its lot expires by the rules' policy, its points count towards the tier (``standing``);
4. ``answer``: the body the checkout gets (and gets again on a replay).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, NamedTuple

from backend.errors import NotFound, Unprocessable
from backend.loyalty.lots import expiry_of
from backend.loyalty.purchase_input import PurchaseInput
from backend.loyalty.rules import MAX_POINTS_PER_ORDER, Bonus, OrderLine, PointsQuote, QuoteContext, RuleSet, quote
from backend.loyalty.standing import Standing, after_award, retier, tier_name
from backend.loyalty.tiers import TierChange

# The assessment's values are named tuples, not frozen dataclasses: as immutable, and built in C
# (a frozen dataclass sets each field through ``object.__setattr__``), several times a purchase.


class MemberFacts(NamedTuple):
    """What the rules need to know of the member before a purchase (a new member: the defaults)."""

    standing: Standing | None = None
    segments: frozenset[str] = frozenset()  # needed only while a campaign targets segments
    qualifying: int = 0  # purchase points earned in the tier window; needed only with tier levels
    # Orders each campaign with a per-member limit has rewarded; needed only while one runs.
    campaign_uses: Mapping[str, int] = MappingProxyType({})


NEW_MEMBER = MemberFacts()


class Order(NamedTuple):
    lines: list[OrderLine]
    total: Decimal


class Assessment(NamedTuple):
    """What a purchase earns and does to the member's books."""

    order: Order
    quote: PointsQuote
    credited: int  # the new lot's points: the award less the debt it repaid
    expires_at: datetime | None  # of the new lot
    member: MemberFacts  # the member's facts once the purchase is recorded
    standing_changed: bool  # the member's ``member_states`` row must be written
    tier_changes: list[TierChange]  # to record as ``tier_events``

    @property
    def points(self) -> int:
        return self.quote.points


def check_store(request: PurchaseInput, currency: str | None) -> None:
    """The store (its currency, None if it does not exist) takes the order."""
    if currency is None:
        raise NotFound(f"store {request.store_id!r} does not exist", field="store_id")
    if request.currency != currency:
        raise Unprocessable(f"store {request.store_id!r} sells in {currency}, not {request.currency}", field="currency")


def priced(request: PurchaseInput, rules: RuleSet) -> Order:
    """The order's lines and total; refused if the points paid are worth more than the total."""
    lines = [OrderLine(line.sku, line.quantity, line.unit_price, line.category) for line in request.lines]
    total = sum((line.unit_price * line.quantity for line in lines), Decimal(0))
    if request.paid_with_points:
        paid_value = rules.point_value * request.paid_with_points
        if paid_value > total:
            raise Unprocessable(
                f"{request.paid_with_points} points are worth {paid_value}, more than the order total {total}",
                field="paid_with_points",
            )
    return Order(lines, total)


def assess(
    request: PurchaseInput,
    order: Order,
    rules: RuleSet,
    member: MemberFacts,
    now: datetime,
    bonuses: tuple[Bonus, ...] = (),
) -> Assessment:
    """The points ``order`` earns and what they do to ``member``'s books (``bonuses``: the
    genuine-product bonuses of its serialized items); refused above the cap of one order."""
    segments = member.segments if rules.needs_segments(now) else frozenset()
    context = QuoteContext(
        now, tier_name(member.standing, rules), segments, request.paid_with_points, bonuses, member.campaign_uses
    )
    result = quote(order.lines, rules, context)
    points = result.points
    if points > MAX_POINTS_PER_ORDER:
        raise Unprocessable(f"the order would earn more than {MAX_POINTS_PER_ORDER} points", field="lines")
    if points == 0:
        return Assessment(order, result, 0, None, member, False, [])
    standing, credited = after_award(member.standing, points, now)
    qualifying = member.qualifying + points
    changes: list[TierChange] = []
    if rules.has_tier_levels:
        standing, changes = retier(standing, qualifying, rules, now)
    after = MemberFacts(standing, member.segments, qualifying, _used(rules, result, member.campaign_uses, now))
    expires_at = expiry_of(rules.expiry, now)
    return Assessment(order, result, credited, expires_at, after, standing is not member.standing, changes)


def _used(rules: RuleSet, result: PointsQuote, uses: Mapping[str, int], now: datetime) -> Mapping[str, int]:
    """The member's campaign uses once this order is recorded: one more for each limited campaign
    that gave it something."""
    limited = {c.id for c in rules.campaigns if c.per_member_limit and c.running(now)}
    if not limited:  # the common case: nothing to count (and campaigns_used is not free)
        return uses
    used = [campaign for campaign in result.campaigns_used if campaign in limited]
    if not used:
        return uses
    return {**uses, **{campaign: uses.get(campaign, 0) + 1 for campaign in used}}


def answer(request: PurchaseInput, rules: RuleSet, points: int, award_id: int | None) -> dict[str, Any]:
    """The body of the purchase's answer (stored: a replay gets it again). It stays ``pending``
    while an award or the points paid are on their way to the chain."""
    return {
        "order_id": request.order_id,
        "store_id": request.store_id,
        "customer_id": request.customer_id,
        "points_awarded": points,
        "paid_with_points": request.paid_with_points,
        "rule_version": rules.version,
        "status": "pending" if award_id is not None or request.paid_with_points else "confirmed",
        "operation_id": award_id,
    }
