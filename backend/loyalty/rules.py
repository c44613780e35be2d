"""Earning rules: plain data, a canonical content hash, and the points an order earns.

How an order's points are computed (every step is shown to the customer by
``GET /v1/purchases/{order_id}``):

1. Each line's amount is ``quantity * unit_price``. Lines whose SKU is excluded (gift cards)
   earn nothing and do not count towards the minimum order value.
2. If the eligible amount is below ``min_order_value`` the order earns nothing.
3. The share paid with points earns nothing: every line's amount is scaled by the cash share
   ``(order total - value of the points paid) / order total``.
4. A line earns ``amount * points_per_unit * line multiplier * campaign multiplier * tier multiplier``.
   The line multiplier is the SKU's if one is set, else the category's, else 1 (the most specific
   rule wins; they do not compound). Of the campaigns running at the time of the order that target
   the customer's segments and the line, the one with the highest multiplier applies (campaigns do
   not stack). A campaign may also require holding a collectible edition (``holds_edition``): it
   applies only while the member's address or wallet holds a copy on the chain's mirror, and
   stops once the copy is transferred away. The tier multiplier is that of the customer's tier
   before this order.
5. Rounding happens once per order, down: ``floor(sum of the exact line points)``, computed exactly
   (no intermediate rounding), so a customer never gets a fraction and never more than the rules give.
6. Whole-point bonuses are added after rounding: the fixed bonus of every applicable campaign, then
   the genuine-product bonuses of the order's serialized items (``GenuineBonuses``: program rules
   per GTIN, GS1 company prefix or brand, under a cap per item and per order).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal, localcontext
from functools import cached_property
from typing import Any, Literal

from eth_utils import keccak

from backend.predictive.policy import PredictivePolicy

# Points of one order are capped well below the 64-bit SQL columns and uint128 on chain.
MAX_POINTS_PER_ORDER = 10**12
ROUNDING = "floor_per_order"
ExpiryKind = Literal["never", "after_days", "end_of_period"]
Period = Literal["month", "quarter", "year"]


@dataclass(frozen=True)
class OrderLine:
    sku: str
    quantity: int
    unit_price: Decimal
    category: str | None = None


@dataclass(frozen=True)
class Campaign:
    """A time-boxed promotion. Empty ``segments``/``skus``/``categories`` mean "everyone"/"every line".
    ``per_member_limit`` > 0 rewards at most that many orders of each member (a welcome-back bonus
    once, not on every order); 0 means no limit."""

    id: str
    starts_at: datetime
    ends_at: datetime
    name: str = ""
    multiplier: Decimal = Decimal(1)
    bonus_points: int = 0
    segments: tuple[str, ...] = ()
    skus: tuple[str, ...] = ()
    categories: tuple[str, ...] = ()
    per_member_limit: int = 0
    holds_edition: int | None = None  # only members holding a copy of this collectible edition

    def running(self, at: datetime) -> bool:
        return self.starts_at <= at < self.ends_at

    def targets(self, segments: frozenset[str]) -> bool:
        if self.holds_edition is not None and holds_segment(self.holds_edition) not in segments:
            return False
        return not self.segments or any(s in segments for s in self.segments)

    def covers(self, line: OrderLine) -> bool:
        if not self.skus and not self.categories:
            return True
        return line.sku in self.skus or (line.category is not None and line.category in self.categories)


def holds_segment(edition: int) -> str:
    """The member's facts say they hold a copy of ``edition`` with this pseudo-segment (like ``tier:…``)."""
    return f"holds:{edition}"


@dataclass(frozen=True)
class Tier:
    name: str
    threshold: int
    multiplier: Decimal = Decimal(1)


@dataclass(frozen=True)
class ExpiryPolicy:
    """When earned points expire: never, ``days`` after earning, or at the end of the period
    (month, quarter, year) in which they were earned, plus ``extra_periods`` whole periods."""

    kind: ExpiryKind = "never"
    days: int = 0
    period: Period = "year"
    extra_periods: int = 0


DEFAULT_TIERS = (Tier("member", 0),)


@dataclass(frozen=True)
class GenuineBonusRule:
    """Points for each genuine serialized item sold whose GTIN is listed, lies under a listed GS1
    company prefix, or belongs to a listed brand."""

    id: str
    points: int
    gtins: tuple[str, ...] = ()
    gtin_prefixes: tuple[str, ...] = ()
    brands: tuple[str, ...] = ()


@dataclass(frozen=True)
class GenuineItem:
    """A serialized item of the order that provenance found genuine."""

    gtin: str  # 14 digits
    serial: str
    brand_id: str


@dataclass(frozen=True)
class GenuineBonuses:
    """The program's genuine-product bonuses: rules set by the program (never by a brand), paid
    only under the program-wide caps. The most specific rule of an item applies (its GTIN, else
    the longest GS1 company prefix it lies under, else its brand); rules never stack."""

    rules: tuple[GenuineBonusRule, ...] = ()
    max_points_per_item: int = 0
    max_points_per_order: int = 0

    def rule_for(self, gtin: str, brand_id: str) -> tuple[GenuineBonusRule, str] | None:
        """The rule that applies to an item, and why (``gtin``, ``prefix 950600``, ``brand``)."""
        by_gtin = next((r for r in self.rules if gtin in r.gtins), None)
        if by_gtin is not None:
            return by_gtin, "gtin"
        # A GTIN-14's company prefix follows its indicator digit.
        prefixed = [(p, r) for r in self.rules for p in r.gtin_prefixes if gtin[1:].startswith(p)]
        if prefixed:
            prefix, rule = max(prefixed, key=lambda found: len(found[0]))
            return rule, f"prefix {prefix}"
        by_brand = next((r for r in self.rules if brand_id in r.brands), None)
        return (by_brand, "brand") if by_brand is not None else None

    def award(self, items: list[GenuineItem]) -> tuple[Bonus, ...]:
        """One bonus per rewarded item, in order, each capped per item and all under the order's cap."""
        bonuses: list[Bonus] = []
        left = self.max_points_per_order
        for item in items:
            found = self.rule_for(item.gtin, item.brand_id)
            if found is None:
                continue
            rule, why = found
            points = min(rule.points, self.max_points_per_item, left)
            if points <= 0:
                continue
            capped = "" if points == rule.points else f", capped to {points} (program cap)"
            bonuses.append(Bonus("genuine_item", points, f"{item.gtin}/{item.serial} by {why}{capped}", rule.id))
            left -= points
        return tuple(bonuses)

    def canonical(self) -> dict[str, Any]:
        return {
            "max_points_per_item": self.max_points_per_item,
            "max_points_per_order": self.max_points_per_order,
            "rules": [
                {
                    "id": r.id,
                    "points": r.points,
                    "gtins": sorted(set(r.gtins)),
                    "gtin_prefixes": sorted(set(r.gtin_prefixes)),
                    "brands": sorted(set(r.brands)),
                }
                for r in sorted(self.rules, key=lambda r: r.id)
            ],
        }


@dataclass(frozen=True)
class RuleSet:
    """A version of the program rules. Its content hash is published on chain."""

    version: int
    points_per_unit: Decimal = Decimal(1)
    excluded_skus: tuple[str, ...] = field(default_factory=tuple)
    point_value: Decimal = Decimal("0.01")
    min_order_value: Decimal = Decimal(0)
    sku_multipliers: dict[str, Decimal] = field(default_factory=dict)
    category_multipliers: dict[str, Decimal] = field(default_factory=dict)
    campaigns: tuple[Campaign, ...] = ()
    tiers: tuple[Tier, ...] = DEFAULT_TIERS
    tier_window_days: int = 365
    tier_grace_days: int = 30
    expiry: ExpiryPolicy = field(default_factory=ExpiryPolicy)
    genuine_bonuses: GenuineBonuses = field(default_factory=GenuineBonuses)
    predictive: PredictivePolicy | None = None

    # -- canonical form ------------------------------------------------------------------

    def canonical(self) -> dict[str, Any]:
        """The content without the version, in one canonical shape: equal rules, equal hash.
        Sections that were added later appear only when used, so older rule sets keep their hash."""
        document = {
            "points_per_unit": _dec(self.points_per_unit),
            "rounding": ROUNDING,
            "excluded_skus": sorted(set(self.excluded_skus)),
            "point_value": _dec(self.point_value),
            "min_order_value": _dec(self.min_order_value),
            "sku_multipliers": {k: _dec(v) for k, v in sorted(self.sku_multipliers.items())},
            "category_multipliers": {k: _dec(v) for k, v in sorted(self.category_multipliers.items())},
            "campaigns": [
                {
                    "id": c.id,
                    "name": c.name,
                    "starts_at": _time(c.starts_at),
                    "ends_at": _time(c.ends_at),
                    "multiplier": _dec(c.multiplier),
                    "bonus_points": c.bonus_points,
                    "segments": sorted(set(c.segments)),
                    "skus": sorted(set(c.skus)),
                    "categories": sorted(set(c.categories)),
                    **({"per_member_limit": c.per_member_limit} if c.per_member_limit else {}),
                    **({"holds_edition": c.holds_edition} if c.holds_edition is not None else {}),
                }
                for c in sorted(self.campaigns, key=lambda c: c.id)
            ],
            "tiers": {
                "window_days": self.tier_window_days,
                "grace_days": self.tier_grace_days,
                "levels": [
                    {"name": t.name, "threshold": t.threshold, "multiplier": _dec(t.multiplier)}
                    for t in sorted(self.tiers, key=lambda t: t.threshold)
                ],
            },
            "expiry": _expiry(self.expiry),
        }
        if self.genuine_bonuses.rules:
            document["genuine_bonuses"] = self.genuine_bonuses.canonical()
        if self.predictive is not None:
            document["predictive"] = self.predictive.canonical()
        return document

    def canonical_json(self) -> str:
        return json.dumps(self.canonical(), sort_keys=True, separators=(",", ":"))

    def content_hash(self) -> str:
        return self._content_hash

    @cached_property
    def _content_hash(self) -> str:  # every purchase's explanation names it: compute it once
        return "0x" + keccak(text=self.canonical_json()).hex()

    # -- lookups -------------------------------------------------------------------------

    @property
    def base_tier(self) -> Tier:
        return min(self.tiers, key=lambda t: t.threshold)

    def tier(self, name: str | None) -> Tier:
        """The named tier, or the base tier if the name is unknown to these rules."""
        return next((t for t in self.tiers if t.name == name), self.base_tier)

    @property
    def has_tier_levels(self) -> bool:
        return len(self.tiers) > 1

    def needs_segments(self, at: datetime) -> bool:
        """Whether any campaign running at ``at`` targets segments other than tiers (or holders of an edition)."""
        return any(
            c.running(at) and (c.holds_edition is not None or any(not s.startswith("tier:") for s in c.segments))
            for c in self.campaigns
        )

    def held_editions(self, at: datetime) -> frozenset[int]:
        """The collectible editions the campaigns running at ``at`` require members to hold."""
        return frozenset(c.holds_edition for c in self.campaigns if c.running(at) and c.holds_edition is not None)

    def limits_campaigns(self, at: datetime) -> bool:
        """Whether any campaign running at ``at`` limits how often it rewards a member."""
        return any(c.running(at) and c.per_member_limit > 0 for c in self.campaigns)


def _dec(value: Decimal) -> str:
    return format(Decimal(value).normalize(), "f")


def _time(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _expiry(policy: ExpiryPolicy) -> dict[str, Any]:
    if policy.kind == "after_days":
        return {"kind": "after_days", "days": policy.days}
    if policy.kind == "end_of_period":
        return {"kind": "end_of_period", "period": policy.period, "extra_periods": policy.extra_periods}
    return {"kind": "never"}


# -- quoting ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Bonus:
    """Whole points added after rounding, with where they come from (and the rule that gave them)."""

    source: str
    points: int
    detail: str = ""
    rule: str | None = None


@dataclass(frozen=True)
class QuoteContext:
    """What the rules need to know about the order besides its lines."""

    at: datetime
    tier: str | None = None
    segments: frozenset[str] = frozenset()
    paid_with_points: int = 0
    extra_bonuses: tuple[Bonus, ...] = ()
    campaign_uses: Mapping[str, int] = field(default_factory=dict)  # orders each limited campaign rewarded


@dataclass(frozen=True)
class LineQuote:
    sku: str
    category: str | None
    quantity: int
    unit_price: Decimal
    amount: Decimal
    excluded: bool
    multiplier: Decimal
    multiplier_source: str | None
    campaign: str | None
    campaign_multiplier: Decimal
    base_points: Decimal  # before the cash share and the tier multiplier: the line's weight in refunds
    exact_points: Decimal  # the line's share of the order's exact points


@dataclass(frozen=True)
class PointsQuote:
    points: int
    eligible_amount: Decimal
    line_points: tuple[Decimal, ...]
    order_total: Decimal = Decimal(0)
    paid_value: Decimal = Decimal(0)
    met_minimum: bool = True
    tier: str = "member"
    tier_multiplier: Decimal = Decimal(1)
    lines: tuple[LineQuote, ...] = ()
    exact_points: Decimal = Decimal(0)
    rounded_points: int = 0
    bonuses: tuple[Bonus, ...] = ()

    @property
    def campaigns_used(self) -> tuple[str, ...]:
        """The campaigns that gave this order something (a bonus, or a multiplier above 1 on a
        line that earns): each counts once towards its per-member limit."""
        used = {b.detail for b in self.bonuses if b.source == "campaign"}
        used |= {
            li.campaign for li in self.lines if li.campaign and li.campaign_multiplier != 1 and li.exact_points > 0
        }
        return tuple(sorted(used))

    def explanation(self, rules: RuleSet, rule_hash: str | None = None) -> dict[str, Any]:
        """Why the order earned what it did, in terms a customer can check against the rules
        (``rule_hash``: the hash stored and published for the version, if known)."""
        held = {c.id: f"holds edition {c.holds_edition}" for c in rules.campaigns if c.holds_edition is not None}
        return {
            "rule_version": rules.version,
            "rule_hash": rule_hash or rules.content_hash(),
            "rounding": ROUNDING,
            "points_per_unit": _dec(rules.points_per_unit),
            "order_total": _dec(self.order_total),
            "paid_value": _dec(self.paid_value),
            "eligible_amount": _dec(self.eligible_amount),
            "min_order_value": _dec(rules.min_order_value),
            "met_minimum": self.met_minimum,
            "tier": self.tier,
            "tier_multiplier": _dec(self.tier_multiplier),
            "lines": [
                {
                    "line_no": n,
                    "sku": li.sku,
                    "category": li.category,
                    "quantity": li.quantity,
                    "unit_price": _dec(li.unit_price),
                    "amount": _dec(li.amount),
                    "excluded": li.excluded,
                    "multiplier": _dec(li.multiplier),
                    "multiplier_source": li.multiplier_source,
                    "campaign": li.campaign,
                    "campaign_multiplier": _dec(li.campaign_multiplier),
                    **({"campaign_condition": held[li.campaign]} if li.campaign in held else {}),
                    "base_points": _dec(li.base_points),
                    "exact_points": _dec(li.exact_points.quantize(Decimal("0.000001"))),
                }
                for n, li in enumerate(self.lines)
            ],
            "exact_points": _dec(self.exact_points.quantize(Decimal("0.000001"))),
            "rounded_points": self.rounded_points,
            "bonuses": [
                {"source": b.source, "points": b.points, "detail": b.detail, **({"rule": b.rule} if b.rule else {})}
                for b in self.bonuses
            ],
            "points": self.points,
        }


def order_total(lines: list[OrderLine]) -> Decimal:
    return sum((line.unit_price * line.quantity for line in lines), Decimal(0))


def _line_multiplier(line: OrderLine, rules: RuleSet) -> tuple[Decimal, str | None]:
    if line.sku in rules.sku_multipliers:
        return rules.sku_multipliers[line.sku], "sku"
    if line.category is not None and line.category in rules.category_multipliers:
        return rules.category_multipliers[line.category], "category"
    return Decimal(1), None


def _best_campaign(line: OrderLine, campaigns: list[Campaign]) -> Campaign | None:
    best = None
    for campaign in campaigns:
        if campaign.covers(line) and (best is None or campaign.multiplier > best.multiplier):
            best = campaign
    return best


def campaigns_for(rules: RuleSet, at: datetime, segments: frozenset[str], uses: Mapping[str, int]) -> list[Campaign]:
    """The campaigns that reward an order at ``at`` of a member in ``segments`` (tier included, as
    ``tier:<name>``) who has had ``uses`` of each: running, aimed at them, under their limit. What
    the quote applies and what the member's page offers."""
    return [
        c
        for c in rules.campaigns
        if c.running(at)
        and c.targets(segments)
        and not (c.per_member_limit and uses.get(c.id, 0) >= c.per_member_limit)
    ]


def quote(lines: list[OrderLine], rules: RuleSet, context: QuoteContext | None = None) -> PointsQuote:
    """Points earned by an order under ``rules`` (see the module docstring for every step)."""
    ctx = context or QuoteContext(at=datetime.now(UTC))
    tier = rules.tier(ctx.tier)
    running = campaigns_for(rules, ctx.at, ctx.segments | {f"tier:{tier.name}"}, ctx.campaign_uses)
    excluded = set(rules.excluded_skus)
    with localcontext() as dec:
        dec.prec = 80  # exact for every value the API admits: no rounding before the final floor
        total = order_total(lines)
        paid_value = rules.point_value * ctx.paid_with_points
        cash = total - paid_value if total > paid_value else Decimal(0)
        eligible_full = sum((li.unit_price * li.quantity for li in lines if li.sku not in excluded), Decimal(0))
        met_minimum = eligible_full >= rules.min_order_value
        earns = met_minimum and eligible_full > 0
        quotes: list[LineQuote] = []
        base_sum = Decimal(0)
        for line in lines:
            amount = line.unit_price * line.quantity
            is_excluded = line.sku in excluded
            multiplier, source = _line_multiplier(line, rules)
            campaign = None if is_excluded else _best_campaign(line, running)
            campaign_multiplier = campaign.multiplier if campaign else Decimal(1)
            base = Decimal(0) if is_excluded else amount * rules.points_per_unit * multiplier * campaign_multiplier
            base_sum += base
            exact = base * tier.multiplier * cash / total if earns else Decimal(0)
            quotes.append(
                LineQuote(
                    line.sku,
                    line.category,
                    line.quantity,
                    line.unit_price,
                    amount,
                    is_excluded,
                    multiplier,
                    source,
                    campaign.id if campaign else None,
                    campaign_multiplier,
                    base,
                    exact,
                )
            )
        if earns:
            numerator = base_sum * tier.multiplier * cash
            rounded = int(numerator // total)  # floor, exactly: one division, no intermediate rounding
            exact_total = numerator / total
        else:
            rounded, exact_total = 0, Decimal(0)
        eligible = eligible_full * cash / total if total else Decimal(0)
    bonuses: list[Bonus] = []
    if earns:
        used = {q.campaign for q in quotes if q.campaign}
        for campaign in sorted(running, key=lambda c: c.id):
            if campaign.bonus_points and (campaign.id in used or not (campaign.skus or campaign.categories)):
                bonuses.append(Bonus("campaign", campaign.bonus_points, campaign.id))
    bonuses.extend(b for b in ctx.extra_bonuses if b.points > 0)
    points = rounded + sum(b.points for b in bonuses)
    return PointsQuote(
        points=points,
        eligible_amount=eligible,
        line_points=tuple(q.exact_points for q in quotes),
        order_total=total,
        paid_value=paid_value,
        met_minimum=met_minimum,
        tier=tier.name,
        tier_multiplier=tier.multiplier,
        lines=tuple(quotes),
        exact_points=exact_total,
        rounded_points=rounded,
        bonuses=tuple(bonuses),
    )
