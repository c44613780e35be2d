"""The rule-set document admins write (API body, YAML or JSON file), validated into a ``RuleSet``.

Every bound is explicit so that no document can make an order overflow: multipliers at most 100,
at most 1,000 points per currency unit, campaign bonuses at most a million points, genuine-product
bonuses at most a million points per item and ten million per order.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictInt,
    StringConstraints,
    ValidationError,
    field_validator,
    model_validator,
)

from backend.bounds import TooDeep, check_json_depth
from backend.errors import Unprocessable
from backend.loyalty.rules import Campaign, ExpiryPolicy, GenuineBonuses, GenuineBonusRule, RuleSet, Tier
from backend.predictive.policy import PredictivePolicy
from backend.provenance.gtin import InvalidGtin, normalise_gtin

Name = Annotated[str, StringConstraints(min_length=1, max_length=64, pattern=r"^[\x21-\x7e]+$")]
Multiplier = Annotated[Decimal, Field(gt=0, le=100, max_digits=12, decimal_places=6)]
Rate = Annotated[Decimal, Field(ge=0, le=1000, max_digits=12, decimal_places=6)]
Money = Annotated[Decimal, Field(ge=0, le=Decimal("1000000000"), max_digits=16, decimal_places=4)]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CampaignDoc(_Strict):
    id: Name
    name: str = Field(default="", max_length=200)
    starts_at: datetime
    ends_at: datetime
    multiplier: Multiplier = Decimal(1)
    bonus_points: StrictInt = Field(default=0, ge=0, le=1_000_000)
    segments: list[Name] = Field(default_factory=list, max_length=100)
    skus: list[Name] = Field(default_factory=list, max_length=10_000)
    categories: list[Name] = Field(default_factory=list, max_length=1000)
    per_member_limit: StrictInt = Field(
        default=0, ge=0, le=1000, description="Orders rewarded per member; 0: no limit."
    )
    holds_edition: StrictInt | None = Field(
        default=None, ge=1, le=2**63 - 1, description="Only members holding a copy of this collectible edition."
    )

    @field_validator("starts_at", "ends_at", mode="before")
    @classmethod
    def _iso_text(cls, value: Any) -> Any:
        if not isinstance(value, str | datetime):  # no Unix timestamps: a date must say its time zone
            raise ValueError("a date and time in ISO 8601 with a time zone, e.g. 2026-12-01T00:00:00Z")
        return value

    @model_validator(mode="after")
    def _window(self) -> CampaignDoc:
        if self.starts_at.tzinfo is None or self.ends_at.tzinfo is None:
            raise ValueError("starts_at and ends_at need a time zone (e.g. 2026-12-01T00:00:00Z)")
        if not (self.starts_at.year >= 1970 and self.ends_at.year <= 9000):
            raise ValueError("campaign dates must lie between 1970 and 9000")
        if self.ends_at <= self.starts_at:
            raise ValueError("ends_at must be after starts_at")
        return self


class TierDoc(_Strict):
    name: Name
    threshold: StrictInt = Field(ge=0, le=10**12)
    multiplier: Annotated[Decimal, Field(gt=0, le=10, max_digits=12, decimal_places=6)] = Decimal(1)


class TiersDoc(_Strict):
    window_days: StrictInt = Field(default=365, ge=1, le=3650)
    grace_days: StrictInt = Field(default=30, ge=0, le=3650)
    levels: list[TierDoc] = Field(default_factory=lambda: [TierDoc(name="member", threshold=0)], min_length=1)

    @model_validator(mode="after")
    def _levels(self) -> TiersDoc:
        names = [t.name for t in self.levels]
        thresholds = [t.threshold for t in self.levels]
        if len(set(names)) != len(names):
            raise ValueError("tier names must be unique")
        if len(set(thresholds)) != len(thresholds):
            raise ValueError("tier thresholds must be unique")
        if min(thresholds) != 0:
            raise ValueError("the lowest tier must have threshold 0")
        return self


class ExpiryDoc(_Strict):
    kind: Literal["never", "after_days", "end_of_period"] = "never"
    days: StrictInt = Field(default=0, ge=0, le=36500)
    period: Literal["month", "quarter", "year"] = "year"
    extra_periods: StrictInt = Field(default=0, ge=0, le=100)

    @model_validator(mode="after")
    def _days(self) -> ExpiryDoc:
        if self.kind == "after_days" and self.days < 1:
            raise ValueError("after_days needs days >= 1")
        return self


GtinText = Annotated[str, StringConstraints(pattern=r"^\d{8}$|^\d{12,14}$")]
CompanyPrefix = Annotated[str, StringConstraints(pattern=r"^\d{6,12}$")]


class GenuineBonusRuleDoc(_Strict):
    """Points per genuine serialized item sold of the listed GTINs, GS1 company prefixes or brands."""

    id: Name
    points: StrictInt = Field(ge=1, le=1_000_000)
    gtins: list[GtinText] = Field(default_factory=list, max_length=10_000)
    gtin_prefixes: list[CompanyPrefix] = Field(default_factory=list, max_length=1000)
    brands: list[Name] = Field(default_factory=list, max_length=1000)

    @field_validator("gtins")
    @classmethod
    def _gtins(cls, values: list[str]) -> list[str]:
        try:
            return [normalise_gtin(value) for value in values]
        except InvalidGtin as exc:
            raise ValueError(exc.message) from None

    @model_validator(mode="after")
    def _selects(self) -> GenuineBonusRuleDoc:
        if not (self.gtins or self.gtin_prefixes or self.brands):
            raise ValueError("a bonus rule names gtins, gtin_prefixes or brands")
        return self


class GenuineBonusesDoc(_Strict):
    """The program's genuine-product bonuses and the caps they are paid under."""

    max_points_per_item: StrictInt = Field(ge=1, le=1_000_000)
    max_points_per_order: StrictInt = Field(ge=1, le=10_000_000)
    rules: list[GenuineBonusRuleDoc] = Field(default_factory=list, max_length=1000)

    @model_validator(mode="after")
    def _consistent(self) -> GenuineBonusesDoc:
        ids = [r.id for r in self.rules]
        if len(set(ids)) != len(ids):
            raise ValueError("bonus rule ids must be unique")
        for kind in ("gtins", "gtin_prefixes", "brands"):
            named = [value for r in self.rules for value in set(getattr(r, kind))]
            repeated = sorted({v for v in named if named.count(v) > 1})
            if repeated:
                raise ValueError(f"{kind} {', '.join(repeated[:5])} appear in more than one bonus rule")
        over = [r.id for r in self.rules if r.points > self.max_points_per_item]
        if over:
            raise ValueError(f"bonus rules {', '.join(over[:5])} give more than max_points_per_item")
        return self

    def to_bonuses(self) -> GenuineBonuses:
        return GenuineBonuses(
            rules=tuple(
                GenuineBonusRule(
                    r.id,
                    r.points,
                    tuple(sorted(set(r.gtins))),
                    tuple(sorted(set(r.gtin_prefixes))),
                    tuple(sorted(set(r.brands))),
                )
                for r in sorted(self.rules, key=lambda r: r.id)
            ),
            max_points_per_item=self.max_points_per_item,
            max_points_per_order=self.max_points_per_order,
        )


Share = Annotated[Decimal, Field(gt=0, le=1, max_digits=8, decimal_places=6)]
Percent = Annotated[Decimal, Field(gt=0, le=100, max_digits=8, decimal_places=4)]


class MinimumDoc(_Strict):
    customers: StrictInt = Field(default=200, ge=1, le=10**9)
    repeat_customers: StrictInt = Field(default=50, ge=1, le=10**9)
    history_days: StrictInt = Field(default=180, ge=1, le=36500)


class LapsedDoc(_Strict):
    p_alive_below: Share = Decimal("0.2")


class AtRiskDoc(_Strict):
    p_alive_below: Share = Decimal("0.5")
    min_repeat_purchases: StrictInt = Field(default=1, ge=0, le=10_000)


class HighValueDoc(_Strict):
    top_percent: Percent = Decimal(10)


class AffinityDoc(_Strict):
    min_share: Share = Decimal("0.5")
    min_days: StrictInt = Field(default=2, ge=1, le=10_000)


class SegmentRulesDoc(_Strict):
    lapsed: LapsedDoc = Field(default_factory=LapsedDoc)
    at_risk: AtRiskDoc = Field(default_factory=AtRiskDoc)
    high_value: HighValueDoc = Field(default_factory=HighValueDoc)
    affinity: AffinityDoc = Field(default_factory=AffinityDoc)


class PredictiveDoc(_Strict):
    """How prediction runs target members (see ``backend.predictive.policy``)."""

    horizon_days: StrictInt = Field(default=90, ge=7, le=730)
    model: Literal["pareto_nbd", "bgnbd"] = "pareto_nbd"
    control_percent: StrictInt = Field(default=10, ge=0, le=50)
    every_days: StrictInt = Field(default=7, ge=1, le=365)
    minimum: MinimumDoc = Field(default_factory=MinimumDoc)
    segments: SegmentRulesDoc = Field(default_factory=SegmentRulesDoc)

    @model_validator(mode="after")
    def _ordered(self) -> PredictiveDoc:
        if self.segments.lapsed.p_alive_below > self.segments.at_risk.p_alive_below:
            raise ValueError("segments.lapsed.p_alive_below must not exceed segments.at_risk.p_alive_below")
        return self

    def to_policy(self) -> PredictivePolicy:
        seg = self.segments
        return PredictivePolicy(
            horizon_days=self.horizon_days,
            model=self.model,
            control_percent=self.control_percent,
            every_days=self.every_days,
            min_customers=self.minimum.customers,
            min_repeat_customers=self.minimum.repeat_customers,
            min_history_days=self.minimum.history_days,
            lapsed_below=seg.lapsed.p_alive_below,
            at_risk_below=seg.at_risk.p_alive_below,
            at_risk_min_repeat=seg.at_risk.min_repeat_purchases,
            high_value_top_percent=seg.high_value.top_percent,
            affinity_min_share=seg.affinity.min_share,
            affinity_min_days=seg.affinity.min_days,
        )


class RuleDocument(_Strict):
    """What an admin writes. ``rounding`` is fixed (documented) and may be stated for clarity."""

    points_per_unit: Rate = Decimal(1)
    rounding: Literal["floor_per_order"] = "floor_per_order"
    point_value: Annotated[Decimal, Field(gt=0, le=1000, max_digits=12, decimal_places=6)] = Decimal("0.01")
    min_order_value: Money = Decimal(0)
    excluded_skus: list[Name] = Field(default_factory=list, max_length=10_000)
    sku_multipliers: dict[Name, Multiplier] = Field(default_factory=dict, max_length=10_000)
    category_multipliers: dict[Name, Multiplier] = Field(default_factory=dict, max_length=1000)
    campaigns: list[CampaignDoc] = Field(default_factory=list, max_length=200)
    tiers: TiersDoc = Field(default_factory=TiersDoc)
    expiry: ExpiryDoc = Field(default_factory=ExpiryDoc)
    genuine_bonuses: GenuineBonusesDoc | None = None
    predictive: PredictiveDoc | None = None

    @model_validator(mode="after")
    def _unique_campaigns(self) -> RuleDocument:
        ids = [c.id for c in self.campaigns]
        if len(set(ids)) != len(ids):
            raise ValueError("campaign ids must be unique")
        return self

    def to_rule_set(self, version: int) -> RuleSet:
        return RuleSet(
            version=version,
            points_per_unit=self.points_per_unit,
            excluded_skus=tuple(sorted(set(self.excluded_skus))),
            point_value=self.point_value,
            min_order_value=self.min_order_value,
            sku_multipliers=dict(sorted(self.sku_multipliers.items())),
            category_multipliers=dict(sorted(self.category_multipliers.items())),
            campaigns=tuple(
                Campaign(
                    id=c.id,
                    name=c.name,
                    starts_at=c.starts_at.astimezone(UTC),
                    ends_at=c.ends_at.astimezone(UTC),
                    multiplier=c.multiplier,
                    bonus_points=c.bonus_points,
                    segments=tuple(sorted(set(c.segments))),
                    skus=tuple(sorted(set(c.skus))),
                    categories=tuple(sorted(set(c.categories))),
                    per_member_limit=c.per_member_limit,
                    holds_edition=c.holds_edition,
                )
                for c in sorted(self.campaigns, key=lambda c: c.id)
            ),
            tiers=tuple(
                Tier(t.name, t.threshold, t.multiplier) for t in sorted(self.tiers.levels, key=lambda t: t.threshold)
            ),
            tier_window_days=self.tiers.window_days,
            tier_grace_days=self.tiers.grace_days,
            expiry=ExpiryPolicy(self.expiry.kind, self.expiry.days, self.expiry.period, self.expiry.extra_periods),
            genuine_bonuses=self.genuine_bonuses.to_bonuses() if self.genuine_bonuses else GenuineBonuses(),
            predictive=self.predictive.to_policy() if self.predictive else None,
        )


def parse_rules(data: Any, version: int) -> RuleSet:
    """Validate a document (a mapping) into rules; a bad one raises ``Unprocessable`` naming the field."""
    try:
        return RuleDocument.model_validate(data).to_rule_set(version)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ())) or "rules"
        raise Unprocessable(f"{where}: {first.get('msg', 'invalid value')}", field=where) from None


def rules_from_canonical(content: str, version: int) -> RuleSet:
    """Rebuild rules from stored canonical JSON (which also accepts older, shorter documents)."""
    data = json.loads(content)
    data.pop("rounding", None)
    return parse_rules({**data, "rounding": "floor_per_order"}, version)


# A rule document is a few levels deep; a file nested deeper is refused before a parser recurses.
MAX_DOCUMENT_DEPTH = 32


def load_rules_file(path: Path) -> dict[str, Any]:
    """Read a YAML or JSON rule document (``Unprocessable`` naming the problem if it is not one)."""
    text = path.read_text()
    try:
        if path.suffix.lower() == ".json":
            check_json_depth(text.encode(), MAX_DOCUMENT_DEPTH, str(path), "rules")
            data = json.loads(text)
        else:
            if _yaml_depth_exceeds(text, MAX_DOCUMENT_DEPTH):
                raise TooDeep(str(path), MAX_DOCUMENT_DEPTH, "rules")
            data = yaml.safe_load(text)
    except (json.JSONDecodeError, yaml.YAMLError) as exc:
        raise Unprocessable(f"{path} is not a valid rule document: {exc}", field="rules") from None
    if not isinstance(data, dict):
        raise Unprocessable(f"{path} must hold a mapping of rule settings", field="rules")
    return data


def _yaml_depth_exceeds(text: str, limit: int) -> bool:
    """PyYAML builds nested values recursively, but parses into a flat stream of events: count
    the depth on the events first."""
    depth = 0
    for event in yaml.parse(text, Loader=yaml.SafeLoader):
        if isinstance(event, yaml.MappingStartEvent | yaml.SequenceStartEvent):
            depth += 1
            if depth > limit:
                return True
        elif isinstance(event, yaml.MappingEndEvent | yaml.SequenceEndEvent):
            depth -= 1
    return False
