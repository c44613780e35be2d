"""The earning rules under random rule sets (multipliers, campaigns, tiers, exclusions, minimum
order): how an order is written does not change its points, buying more never earns less, paying
more with points never earns more, excluded SKUs never earn, and the published hash depends on the
rules' content only."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from decimal import Decimal

import pytest
from hypothesis import assume, given
from hypothesis import strategies as st

from backend.loyalty.rules import Campaign, OrderLine, QuoteContext, RuleSet, Tier, quote

pytestmark = pytest.mark.fuzz
NOW = datetime(2026, 12, 10, 12, tzinfo=UTC)
SKUS = ["A", "B", "C", "GIFT"]
CATEGORIES = [None, "coffee", "tea"]
money = st.decimals(min_value=Decimal("0.01"), max_value=5_000, places=2)
factors = st.decimals(min_value=Decimal("0.1"), max_value=5, places=2)
order_lines = st.builds(
    OrderLine,
    sku=st.sampled_from(SKUS),
    quantity=st.integers(1, 30),
    unit_price=money,
    category=st.sampled_from(CATEGORIES),
)
orders = st.lists(order_lines, min_size=1, max_size=12)


@st.composite
def campaigns(draw: st.DrawFn, index: int) -> Campaign:
    start = NOW + timedelta(days=draw(st.integers(-10, 5)))
    return Campaign(
        id=f"c{index}",
        starts_at=start,
        ends_at=start + timedelta(days=draw(st.integers(1, 20))),
        multiplier=draw(factors),
        bonus_points=draw(st.integers(0, 50)),
        segments=tuple(draw(st.lists(st.sampled_from(["fading", "vip", "tier:gold"]), max_size=2, unique=True))),
        skus=tuple(draw(st.lists(st.sampled_from(SKUS[:3]), max_size=2, unique=True))),
        categories=tuple(draw(st.lists(st.sampled_from(["coffee", "tea"]), max_size=1))),
    )


@st.composite
def rule_sets(draw: st.DrawFn) -> RuleSet:
    gold = draw(st.decimals(min_value=1, max_value=3, places=2))
    return RuleSet(
        version=draw(st.integers(1, 50)),
        points_per_unit=draw(factors),
        excluded_skus=("GIFT",),
        min_order_value=draw(st.sampled_from([Decimal(0), Decimal(0), Decimal(20), Decimal(500)])),
        sku_multipliers=draw(st.dictionaries(st.sampled_from(SKUS[:3]), factors, max_size=2)),
        category_multipliers=draw(st.dictionaries(st.sampled_from(["coffee", "tea"]), factors, max_size=2)),
        campaigns=tuple(draw(campaigns(i)) for i in range(draw(st.integers(0, 3)))),
        tiers=(Tier("member", 0), Tier("gold", 1000, gold)),
    )


contexts = st.builds(
    QuoteContext,
    at=st.just(NOW),
    tier=st.sampled_from([None, "member", "gold"]),
    segments=st.frozensets(st.sampled_from(["fading", "vip"])),
)


@given(rule_sets(), orders, contexts, st.randoms(use_true_random=False))
def test_line_order_and_line_splits_do_not_matter(
    rules: RuleSet, order: list[OrderLine], ctx: QuoteContext, rnd: random.Random
) -> None:
    points = quote(order, rules, ctx).points
    shuffled = list(order)
    rnd.shuffle(shuffled)
    assert quote(shuffled, rules, ctx).points == points
    index = rnd.randrange(len(order))
    line = order[index]
    assume(line.quantity > 1)
    first = rnd.randint(1, line.quantity - 1)
    split = [
        *order[:index],
        replace(line, quantity=first),
        replace(line, quantity=line.quantity - first),
        *order[index + 1 :],
    ]
    assert quote(split, rules, ctx).points == points


@given(rule_sets(), orders, contexts, st.data())
def test_buying_more_never_earns_less(
    rules: RuleSet, order: list[OrderLine], ctx: QuoteContext, data: st.DataObject
) -> None:
    before = quote(order, rules, ctx).points
    index = data.draw(st.integers(0, len(order) - 1))
    more = [
        *order[:index],
        replace(order[index], quantity=order[index].quantity + data.draw(st.integers(1, 10))),
        *order[index + 1 :],
    ]
    assert quote(more, rules, ctx).points >= before
    extra = data.draw(order_lines)
    assert quote([*order, extra], rules, ctx).points >= before


@given(rule_sets(), orders, contexts, st.integers(0, 10**6), st.integers(0, 10**6))
def test_paying_more_with_points_never_earns_more(
    rules: RuleSet, order: list[OrderLine], ctx: QuoteContext, a: int, b: int
) -> None:
    low, high = sorted((a, b))
    assert (
        quote(order, rules, replace(ctx, paid_with_points=high)).points
        <= quote(order, rules, replace(ctx, paid_with_points=low)).points
    )


@given(rule_sets(), orders, contexts, st.integers(1, 50), money)
def test_excluded_skus_earn_nothing(
    rules: RuleSet, order: list[OrderLine], ctx: QuoteContext, quantity: int, price: Decimal
) -> None:
    with_gift = [*order, OrderLine("GIFT", quantity, price, "coffee")]
    assert quote(with_gift, rules, ctx).points == quote(order, rules, ctx).points
    only_gifts = quote([OrderLine("GIFT", quantity, price)], rules, ctx)
    assert (only_gifts.points, only_gifts.eligible_amount) == (0, 0)


@given(rule_sets(), orders, contexts)
def test_points_are_the_rounded_exact_points_plus_whole_bonuses(
    rules: RuleSet, order: list[OrderLine], ctx: QuoteContext
) -> None:
    result = quote(order, rules, ctx)
    assert result.rounded_points == int(result.exact_points // 1)
    assert result.points == result.rounded_points + sum(b.points for b in result.bonuses)
    assert result.points >= 0
    assert sum(result.line_points) == pytest.approx(result.exact_points, abs=Decimal("1e-30"))


@given(rule_sets(), st.randoms(use_true_random=False))
def test_the_hash_depends_on_the_content_only(rules: RuleSet, rnd: random.Random) -> None:
    campaigns_ = list(rules.campaigns)
    rnd.shuffle(campaigns_)
    skus = list(rules.sku_multipliers.items())
    rnd.shuffle(skus)
    rewritten = replace(rules, version=rules.version + 1, campaigns=tuple(campaigns_), sku_multipliers=dict(skus))
    assert rewritten.content_hash() == rules.content_hash()
    assert replace(rules, points_per_unit=rules.points_per_unit + 1).content_hash() != rules.content_hash()
