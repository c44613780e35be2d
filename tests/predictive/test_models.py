"""The models' numerics: finite figures for heavy buyers, grouped fits equal to plain ones,
probabilities within [0, 1]; the control group stable; per-member campaign limits in the quote."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pytest

from backend.loyalty.rules import Campaign, OrderLine, QuoteContext, RuleSet, quote
from backend.predictive.models import BgNbd, GammaGamma, ParetoNbd, Summary
from backend.predictive.scoring import in_control, segment_name

pytestmark = pytest.mark.sqlite_only

BG = BgNbd(0.243, 4.414, 0.793, 2.426)
PN = ParetoNbd(0.553, 10.578, 0.606, 11.669)


@pytest.mark.parametrize("model", [BG, PN])
def test_heavy_buyers_get_finite_figures(model: BgNbd | ParetoNbd) -> None:
    x = np.array([0, 1, 50, 1_000, 20_000, 1_000_000], dtype=float)
    t_x = np.array([0, 5, 30, 38, 39, 38.99])
    T = np.full(x.size, 39.0)
    for values in (
        model.p_alive(x, t_x, T),
        model.expected_purchases(39, x, t_x, T),
        model.p_no_purchase(39, x, t_x, T),
    ):
        assert np.isfinite(values).all(), values
    alive = model.p_alive(x, t_x, T)
    assert ((alive >= 0) & (alive <= 1)).all()
    none = model.p_no_purchase(39, x, t_x, T)
    assert ((none >= 0) & (none <= 1)).all()
    # A heavy buyer who bought on the last day keeps buying at their posterior mean rate, (r + x) / (α + T).
    rate = (model.r + 20_000) / (model.alpha + 39)
    assert model.expected_purchases(1, x[4:5], t_x[4:5], T[4:5])[0] == pytest.approx(rate, rel=0.02)
    terms = type(model).loglik_terms(np.array(list(model.params.values())), x, t_x, T)
    assert np.isfinite(terms).all()


def test_a_long_silence_makes_a_customer_look_gone() -> None:
    recent, silent = PN.p_alive([5, 5], [38, 5], [39, 39])
    assert recent > 0.8 > 0.2 > silent


def test_grouped_fit_equals_the_plain_likelihood() -> None:
    rng = np.random.default_rng(14)
    x = rng.integers(0, 4, 300).astype(float)
    t_x = np.where(x > 0, rng.integers(1, 30, 300), 0).astype(float)
    T = np.full(300, 39.0)
    grouped, inverse = Summary.of(x, t_x, T).grouped()
    assert grouped.customers == 300
    assert grouped.x.size < 300
    params = np.array([0.243, 4.414, 0.793, 2.426])
    plain = BgNbd.loglik_terms(params, x, t_x, T).sum()
    weighted = np.dot(grouped.weight, BgNbd.loglik_terms(params, grouped.x, grouped.t_x, grouped.T))
    assert weighted == pytest.approx(plain, rel=1e-12)
    assert (grouped.x[inverse] == x).all()


def test_gamma_gamma_shrinks_towards_the_population_mean() -> None:
    gg = GammaGamma(6.25, 3.74, 15.44)
    few, many = gg.expected_spend([1, 100], [100.0, 100.0])
    assert gg.population_mean < few < many < 100.0 + 1


def test_the_control_group_is_stable_and_about_its_share() -> None:
    ids = np.arange(1, 20_001, dtype=np.int64)
    held = in_control(ids, 10)
    assert 0.09 < held.mean() < 0.11
    assert (in_control(ids[::-1], 10)[::-1] == held).all()
    assert not in_control(ids, 0).any()


def test_affinity_segment_names() -> None:
    assert segment_name("Frozen Foods & Ice") == "predicted:affinity:frozen-foods-ice"
    assert segment_name("***") is None


def test_a_campaign_with_a_per_member_limit_stops_at_it() -> None:
    now = datetime.now(UTC)
    campaign = Campaign(
        "welcome-back",
        now - timedelta(hours=1),
        now + timedelta(hours=1),
        bonus_points=50,
        segments=("predicted:at-risk",),
        per_member_limit=1,
    )
    rules = RuleSet(version=1, points_per_unit=Decimal(1), campaigns=(campaign,))
    lines = [OrderLine("A", 1, Decimal(10))]
    first = quote(lines, rules, QuoteContext(now, segments=frozenset({"predicted:at-risk"})))
    assert first.points == 60
    assert first.campaigns_used == ("welcome-back",)
    used = QuoteContext(now, segments=frozenset({"predicted:at-risk"}), campaign_uses={"welcome-back": 1})
    assert quote(lines, rules, used).points == 10
    assert quote(lines, rules, QuoteContext(now)).points == 10  # not in the segment
    assert "per_member_limit" in rules.canonical()["campaigns"][0]
