"""Fitting and scoring a customer base, and the segments the published rules give each member."""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.loyalty.refs import Audience, references
from backend.predictive.extract import Histories, ItemRows
from backend.predictive.models import BgNbd, GammaGamma, ParetoNbd
from backend.predictive.policy import AFFINITY, AT_RISK, HIGH_VALUE, LAPSED, PredictivePolicy

MIN_SPEND_CUSTOMERS = 10  # Gamma-Gamma needs a few repeat customers with a positive spend


@dataclass(frozen=True)
class Fitted:
    bgnbd: BgNbd
    pnbd: ParetoNbd
    gamma_gamma: GammaGamma | None  # None: too few repeat customers with a spend

    def to_json(self) -> dict[str, Any]:
        gg = self.gamma_gamma
        return {
            "bgnbd": {**self.bgnbd.params, "loglik": self.bgnbd.loglik},
            "pareto_nbd": {**self.pnbd.params, "loglik": self.pnbd.loglik},
            "gamma_gamma": {**gg.params, "loglik": gg.loglik} if gg else None,
            # False: the optimiser stopped short (e.g. no heterogeneity for a parameter to describe).
            "converged": {
                name: bool(model.fit_info.converged) if model is not None and model.fit_info else None
                for name, model in (("bgnbd", self.bgnbd), ("pareto_nbd", self.pnbd), ("gamma_gamma", gg))
            },
        }


def fit(histories: Histories) -> Fitted:
    summary = histories.summary()
    spend = histories.mean_spend
    with_spend = int(((histories.repeat_days > 0) & (spend > 0)).sum())
    gamma_gamma = GammaGamma.fit(histories.repeat_days, spend) if with_spend >= MIN_SPEND_CUSTOMERS else None
    return Fitted(BgNbd.fit(summary), ParetoNbd.fit(summary), gamma_gamma)


@dataclass(frozen=True)
class Scores:
    """Each customer's figures over the horizon (arrays aligned with the histories)."""

    bgnbd_p_alive: NDArray[np.float64]
    bgnbd_expected: NDArray[np.float64]
    bgnbd_p_none: NDArray[np.float64]
    pnbd_p_alive: NDArray[np.float64]
    pnbd_expected: NDArray[np.float64]
    pnbd_p_none: NDArray[np.float64]
    expected_spend: NDArray[np.float64]
    clv: NDArray[np.float64]

    def p_alive(self, model: str) -> NDArray[np.float64]:
        return self.pnbd_p_alive if model == "pareto_nbd" else self.bgnbd_p_alive

    def expected(self, model: str) -> NDArray[np.float64]:
        return self.pnbd_expected if model == "pareto_nbd" else self.bgnbd_expected


def expected_spend(histories: Histories, gamma_gamma: GammaGamma | None) -> NDArray[np.float64]:
    """Gamma-Gamma's conditional mean spend; without a fit, the member's own mean (or everyone's)."""
    spend = histories.mean_spend
    if gamma_gamma is not None and np.isfinite(gamma_gamma.population_mean):
        return gamma_gamma.expected_spend(histories.repeat_days, spend)
    repeat = histories.repeat_days > 0
    overall = float(spend[repeat].mean()) if repeat.any() else 0.0
    return np.where(repeat, spend, overall)


def score(histories: Histories, fitted: Fitted, horizon_weeks: float, model: str) -> Scores:
    """Both models' answers, computed once per distinct (x, t_x, T) and spread back."""
    grouped, inverse = histories.summary().grouped()
    x, t_x, T = grouped.x, grouped.t_x, grouped.T
    bg, pn = fitted.bgnbd, fitted.pnbd
    parts = [
        bg.p_alive(x, t_x, T),
        bg.expected_purchases(horizon_weeks, x, t_x, T),
        bg.p_no_purchase(horizon_weeks, x, t_x, T),
        pn.p_alive(x, t_x, T),
        pn.expected_purchases(horizon_weeks, x, t_x, T),
        pn.p_no_purchase(horizon_weeks, x, t_x, T),
    ]
    bg_alive, bg_expected, bg_none, pn_alive, pn_expected, pn_none = (np.asarray(part)[inverse] for part in parts)
    spend = expected_spend(histories, fitted.gamma_gamma)
    expected = pn_expected if model == "pareto_nbd" else bg_expected
    return Scores(bg_alive, bg_expected, bg_none, pn_alive, pn_expected, pn_none, spend, expected * spend)


def in_control(customer_ids: NDArray[np.int64], percent: int) -> NDArray[np.bool_]:
    """The deterministic control group: a keyed hash of the member's id (the server secret, so
    nobody outside can tell or steer who is held out), the same members in every run."""
    if percent <= 0:
        return np.zeros(customer_ids.size, dtype=bool)
    refs = references()
    buckets = np.fromiter(
        (
            int(refs.reference(Audience.CHAIN, "predictive-control", str(int(c)))[2:10], 16) % 10_000
            for c in customer_ids
        ),
        dtype=np.int64,
        count=customer_ids.size,
    )
    return buckets < percent * 100


def segment_name(category: str) -> str | None:
    """``predicted:affinity:<category>`` with the category as a segment campaigns can name
    (lower case, letters, digits and dashes); None if that would be too long for a segment."""
    slug = re.sub(r"[^a-z0-9]+", "-", category.lower()).strip("-")
    name = AFFINITY + slug
    return name if slug and len(name) <= 64 else None


def affinities(histories: Histories, categories: ItemRows, policy: PredictivePolicy) -> dict[int, list[str]]:
    """Per customer id, the categories holding at least ``affinity_min_share`` of their spend on
    at least ``affinity_min_days`` days."""
    if categories.customer_id.size == 0:
        return {}
    totals: dict[int, float] = {}
    for customer, spend in zip(categories.customer_id.tolist(), categories.spend.tolist(), strict=True):
        totals[customer] = totals.get(customer, 0.0) + spend
    share, days = float(policy.affinity_min_share), policy.affinity_min_days
    found: dict[int, list[str]] = {}
    for customer, category, n_days, spend in zip(
        categories.customer_id.tolist(),
        categories.item.tolist(),
        categories.days.tolist(),
        categories.spend.tolist(),
        strict=True,
    ):
        total = totals[customer]
        if n_days >= days and total > 0 and spend / total >= share and (name := segment_name(str(category))):
            found.setdefault(customer, []).append(name)
    return found


def segments(
    histories: Histories, scores: Scores, policy: PredictivePolicy, affinity: dict[int, list[str]]
) -> list[list[str]]:
    """The ``predicted:`` segments the rules give each customer (control or not)."""
    p_alive = scores.p_alive(policy.model)
    lapsed = p_alive < float(policy.lapsed_below)
    at_risk = ~lapsed & (p_alive < float(policy.at_risk_below)) & (histories.repeat_days >= policy.at_risk_min_repeat)
    positive = scores.clv > 0
    high_value = np.zeros(p_alive.size, dtype=bool)
    if positive.any():
        cut = np.percentile(scores.clv[positive], 100 - float(policy.high_value_top_percent))
        high_value = positive & (scores.clv >= cut)
    out = []
    for i, customer in enumerate(histories.customer_id.tolist()):
        names = [LAPSED] if lapsed[i] else []
        if at_risk[i]:
            names.append(AT_RISK)
        if high_value[i]:
            names.append(HIGH_VALUE)
        names.extend(affinity.get(customer, []))
        out.append(names)
    return out
