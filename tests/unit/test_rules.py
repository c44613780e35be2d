"""The earning rules: every documented step, as examples and as properties."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import given
from hypothesis import strategies as st

from backend.errors import Unprocessable
from backend.loyalty.rule_document import parse_rules, rules_from_canonical
from backend.loyalty.rules import (
    Bonus,
    Campaign,
    GenuineBonuses,
    GenuineBonusRule,
    GenuineItem,
    OrderLine,
    QuoteContext,
    RuleSet,
    Tier,
    holds_segment,
    quote,
)

NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)
prices = st.decimals(min_value=Decimal("0.01"), max_value=10_000, places=2, allow_nan=False, allow_infinity=False)
lines = st.lists(
    st.builds(
        OrderLine,
        sku=st.sampled_from(["A", "B", "GIFT"]),
        quantity=st.integers(1, 50),
        unit_price=prices,
        category=st.sampled_from([None, "coffee", "tea"]),
    ),
    min_size=1,
    max_size=20,
)
multipliers = st.decimals(min_value=Decimal("0.1"), max_value=10, places=2)


def at(now: datetime = NOW, **values: object) -> QuoteContext:
    return QuoteContext(at=now, **values)  # type: ignore[arg-type]


def test_one_point_per_currency_unit_rounded_down() -> None:
    rules = RuleSet(version=1)
    assert quote([OrderLine("A", 2, Decimal("12.50"))], rules).points == 25
    assert quote([OrderLine("A", 1, Decimal("0.99"))], rules).points == 0


def test_rounding_happens_once_per_order_not_per_line() -> None:
    rules = RuleSet(version=1)
    three_halves = [OrderLine("A", 1, Decimal("0.50"))] * 3
    assert quote(three_halves, rules).points == 1  # per-line rounding would give 0


@given(lines)
def test_points_never_exceed_the_eligible_amount_times_the_rate(order: list[OrderLine]) -> None:
    rules = RuleSet(version=1, points_per_unit=Decimal("1.5"), excluded_skus=("GIFT",))
    result = quote(order, rules)
    eligible = sum((li.unit_price * li.quantity for li in order if li.sku != "GIFT"), Decimal(0))
    assert result.eligible_amount == eligible
    assert 0 <= eligible * Decimal("1.5") - result.points < 1


@given(lines, multipliers, multipliers, multipliers)
def test_points_are_the_floor_of_the_exact_sum(
    order: list[OrderLine], sku_m: Decimal, cat_m: Decimal, tier_m: Decimal
) -> None:
    rules = RuleSet(
        version=1,
        excluded_skus=("GIFT",),
        sku_multipliers={"A": sku_m},
        category_multipliers={"coffee": cat_m},
        tiers=(Tier("member", 0), Tier("gold", 100, tier_m)),
    )
    result = quote(order, rules, at(tier="gold"))
    exact = Decimal(0)
    for li in order:
        if li.sku == "GIFT":
            continue
        m = sku_m if li.sku == "A" else cat_m if li.category == "coffee" else Decimal(1)  # SKU wins over category
        exact += li.unit_price * li.quantity * m * tier_m
    assert result.points == math.floor(exact)
    assert sum(result.line_points) == pytest.approx(exact)


@given(lines, st.integers(0, 10**7))
def test_the_share_paid_with_points_earns_nothing(order: list[OrderLine], paid: int) -> None:
    rules = RuleSet(version=1, point_value=Decimal("0.01"))
    total = sum((li.unit_price * li.quantity for li in order), Decimal(0))
    paid = min(paid, int(total * 100))
    full = quote(order, rules, at()).points
    part = quote(order, rules, at(paid_with_points=paid))
    assert part.points == math.floor((total - paid * Decimal("0.01")) * 1)
    assert part.points <= full
    assert quote(order, rules, at(paid_with_points=int(total * 100))).points == 0


def test_minimum_order_counts_only_eligible_lines() -> None:
    rules = RuleSet(version=1, min_order_value=Decimal(10), excluded_skus=("GIFT",))
    assert quote([OrderLine("A", 1, Decimal("9.99")), OrderLine("GIFT", 1, Decimal(50))], rules).points == 0
    assert quote([OrderLine("A", 1, Decimal(10))], rules).points == 10
    explained = quote([OrderLine("A", 1, Decimal(5))], rules).explanation(rules)
    assert explained["met_minimum"] is False


def campaign(**values: object) -> Campaign:
    defaults: dict[str, object] = {"id": "c", "starts_at": NOW - timedelta(days=1), "ends_at": NOW + timedelta(days=1)}
    return Campaign(**{**defaults, **values})  # type: ignore[arg-type]


def test_campaigns_apply_in_their_window_to_their_segment_and_lines() -> None:
    double = campaign(id="double-coffee", multiplier=Decimal(2), categories=("coffee",), segments=("vip",))
    rules = RuleSet(version=1, campaigns=(double,))
    order = [OrderLine("BEANS", 1, Decimal(10), "coffee"), OrderLine("MUG", 1, Decimal(10), "ware")]
    assert quote(order, rules, at(segments=frozenset({"vip"}))).points == 30
    assert quote(order, rules, at(segments=frozenset())).points == 20  # not targeted
    assert quote(order, rules, at(NOW + timedelta(days=2), segments=frozenset({"vip"}))).points == 20  # over
    explained = quote(order, rules, at(segments=frozenset({"vip"}))).explanation(rules)
    assert [line["campaign"] for line in explained["lines"]] == ["double-coffee", None]


def test_a_campaign_for_holders_of_an_edition_applies_only_while_held() -> None:
    holders = campaign(id="gala-holders", multiplier=Decimal(2), holds_edition=41)
    rules = RuleSet(version=1, campaigns=(holders,))
    order = [OrderLine("A", 1, Decimal(10))]
    assert quote(order, rules, at(segments=frozenset({holds_segment(41)}))).points == 20
    assert quote(order, rules, at(segments=frozenset({holds_segment(42)}))).points == 10  # another edition
    assert quote(order, rules, at(segments=frozenset())).points == 10  # sold or never held
    explained = quote(order, rules, at(segments=frozenset({holds_segment(41)}))).explanation(rules)
    assert explained["lines"][0]["campaign_condition"] == "holds edition 41"
    assert rules.needs_segments(NOW)
    assert rules.held_editions(NOW) == {41}
    # the condition is part of the published rules (their hash), only when used
    assert (
        rules.content_hash()
        != RuleSet(version=1, campaigns=(campaign(id="gala-holders", multiplier=Decimal(2)),)).content_hash()
    )
    document = {
        "points_per_unit": "1",
        "campaigns": [
            {
                "id": "g",
                "starts_at": "2026-12-01T00:00:00Z",
                "ends_at": "2027-01-01T00:00:00Z",
                "multiplier": "2",
                "holds_edition": 41,
            }
        ],
    }
    assert parse_rules(document, 1).campaigns[0].holds_edition == 41


def test_the_best_campaign_applies_and_campaigns_do_not_stack() -> None:
    rules = RuleSet(
        version=1,
        campaigns=(
            campaign(id="x2", multiplier=Decimal(2)),
            campaign(id="x3", multiplier=Decimal(3), segments=("tier:gold",)),
        ),
        tiers=(Tier("member", 0), Tier("gold", 10)),
    )
    order = [OrderLine("A", 1, Decimal(10))]
    assert quote(order, rules, at(tier="member")).points == 20
    assert quote(order, rules, at(tier="gold")).points == 30


def test_bonuses_are_whole_points_added_after_rounding() -> None:
    rules = RuleSet(version=1, campaigns=(campaign(id="welcome", bonus_points=50),))
    result = quote([OrderLine("A", 1, Decimal("9.99"))], rules, at(extra_bonuses=(Bonus("genuine", 5, "SN1"),)))
    assert (result.rounded_points, result.points) == (9, 64)
    assert [b["source"] for b in result.explanation(rules)["bonuses"]] == ["campaign", "genuine"]


def test_rule_hash_is_canonical_and_version_independent() -> None:
    a = RuleSet(version=1, excluded_skus=("B", "A"))
    b = RuleSet(version=2, excluded_skus=("A", "B"))
    assert a.content_hash() == b.content_hash()
    assert a.content_hash() != RuleSet(version=1, points_per_unit=Decimal(2)).content_hash()


documents = st.fixed_dictionaries(
    {
        "points_per_unit": st.decimals(min_value=0, max_value=100, places=2).map(str),
        "excluded_skus": st.lists(st.sampled_from(["GIFT", "CARD", "X"]), unique=True),
        "sku_multipliers": st.dictionaries(st.sampled_from(["A", "B"]), multipliers.map(str)),
        "min_order_value": st.decimals(min_value=0, max_value=100, places=2).map(str),
        "tiers": st.just({"levels": [{"name": "member", "threshold": 0}, {"name": "gold", "threshold": 500}]}),
        "expiry": st.sampled_from(
            [
                {"kind": "never"},
                {"kind": "after_days", "days": 365},
                {"kind": "end_of_period", "period": "year", "extra_periods": 1},
            ]
        ),
        "campaigns": st.just(
            [
                {
                    "id": "c",
                    "starts_at": "2026-12-01T00:00:00Z",
                    "ends_at": "2026-12-24T00:00:00+01:00",
                    "multiplier": "2",
                    "segments": ["tier:gold"],
                }
            ]
        ),
    }
)


@given(documents)
def test_stored_rules_rebuild_to_the_same_hash(document: dict[str, object]) -> None:
    rules = parse_rules(document, 3)
    again = rules_from_canonical(rules.canonical_json(), 3)
    assert again == rules
    assert again.content_hash() == rules.content_hash()


def test_document_order_and_spelling_do_not_change_the_hash() -> None:
    a = parse_rules({"excluded_skus": ["B", "A"], "sku_multipliers": {"X": "2.0", "Y": 1.5}}, 1)
    b = parse_rules({"sku_multipliers": {"Y": "1.50", "X": 2}, "excluded_skus": ["A", "B"]}, 1)
    assert a.content_hash() == b.content_hash()


CAPS = {"max_points_per_item": 5, "max_points_per_order": 9}


@pytest.mark.parametrize(
    ("document", "field"),
    [
        ({"points_per_unit": "-1"}, "points_per_unit"),
        ({"sku_multipliers": {"A": "1000"}}, "sku_multipliers.A"),
        (
            {"campaigns": [{"id": "c", "starts_at": "2026-12-02T00:00:00Z", "ends_at": "2026-12-01T00:00:00Z"}]},
            "campaigns.0",
        ),
        ({"tiers": {"levels": [{"name": "silver", "threshold": 10}]}}, "tiers"),
        ({"expiry": {"kind": "after_days"}}, "expiry"),
        ({"surprise": 1}, "surprise"),
        ({"genuine_bonuses": {**CAPS, "rules": [{"id": "x", "points": 5}]}}, "genuine_bonuses.rules.0"),
        (
            {"genuine_bonuses": {**CAPS, "rules": [{"id": "x", "points": 5, "gtins": ["09506000134353"]}]}},
            "genuine_bonuses.rules.0.gtins",
        ),
        (
            {
                "genuine_bonuses": {
                    **CAPS,
                    "rules": [{"id": "x", "points": 5, "brands": ["b"]}, {"id": "y", "points": 1, "brands": ["b"]}],
                }
            },
            "genuine_bonuses",
        ),
        ({"genuine_bonuses": {"max_points_per_order": 5, "rules": []}}, "genuine_bonuses.max_points_per_item"),
    ],
)
def test_bad_documents_name_the_field(document: dict[str, object], field: str) -> None:
    with pytest.raises(Unprocessable) as raised:
        parse_rules(document, 1)
    assert raised.value.field == field


def test_genuine_bonuses_take_the_most_specific_rule_under_the_program_caps() -> None:
    bonuses = GenuineBonuses(
        rules=(
            GenuineBonusRule("gtin", 30, gtins=("09506000134352",)),
            GenuineBonusRule("short", 20, gtin_prefixes=("950600",)),
            GenuineBonusRule("long", 25, gtin_prefixes=("9506000",)),
            GenuineBonusRule("brand", 10, brands=("acme",)),
        ),
        max_points_per_item=28,
        max_points_per_order=60,
    )
    assert bonuses.rule_for("09506000134352", "acme") == (bonuses.rules[0], "gtin")
    assert bonuses.rule_for("09506000999999", "acme") == (bonuses.rules[2], "prefix 9506000")
    assert bonuses.rule_for("09506001000000", "acme") == (bonuses.rules[1], "prefix 950600")
    assert bonuses.rule_for("04000000000006", "acme") == (bonuses.rules[3], "brand")
    assert bonuses.rule_for("04000000000006", "another-brand") is None  # no rule: no bonus
    items = [
        GenuineItem("09506000134352", "S1", "x"),
        GenuineItem("04000000000006", "S2", "another-brand"),
        GenuineItem("09506000999999", "S3", "x"),
        GenuineItem("04000000000006", "S4", "acme"),
        GenuineItem("09506000134352", "S5", "x"),
    ]
    awarded = bonuses.award(items)
    assert [(b.points, b.rule) for b in awarded] == [(28, "gtin"), (25, "long"), (7, "brand")]
    assert "capped" in awarded[0].detail
    assert "capped" in awarded[2].detail
    assert "capped" not in awarded[1].detail
    assert sum(b.points for b in awarded) == 60


def test_bonus_rules_are_part_of_the_published_hash_only_when_used() -> None:
    plain = parse_rules({}, 1)
    assert plain.content_hash() == RuleSet(version=1).content_hash()
    assert "genuine_bonuses" not in plain.canonical()
    rule = {"id": "b", "points": 5, "brands": ["acme"], "gtins": ["9506000134352"]}
    document = {"genuine_bonuses": {**CAPS, "rules": [rule]}}
    rules = parse_rules(document, 1)
    assert rules.content_hash() != plain.content_hash()
    assert rules.canonical()["genuine_bonuses"]["rules"][0]["gtins"] == ["09506000134352"]  # normalised
    assert rules_from_canonical(rules.canonical_json(), 1) == rules
