"""How good the predictions are, always next to simple baselines measured in the same run.

Wübben & Wangenheim (2008) found that a manager's heuristic — customers who have not bought for a
while are gone ("hiatus") — often ranks customers as well as the models. So every figure here
comes with two baselines computed on the same customers:

* ``rate``: each customer keeps buying at their past repeat rate, x / T, over the horizon;
* ``hiatus``: ranks customers by how recently they bought (−(T − t_x)); it predicts no counts.

A holdout evaluation fits on a calibration period, predicts the next ``horizon`` weeks and
compares with what happened: the aggregate (predicted vs actual total), per-customer RMSE, the
calibration by calibration-period frequency (mean predicted vs mean actual per x), and the
ranking AUC of "buys at least once in the holdout". Differences with the baselines get a paired
bootstrap confidence interval over customers.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from backend.predictive.models import BgNbd, ParetoNbd, Summary

FloatArray = NDArray[np.float64]


def auc(scores: Any, labels: Any) -> float:
    """Area under the ROC curve (Mann-Whitney, ties counted half); NaN without both classes."""
    scores, labels = np.asarray(scores, dtype=np.float64), np.asarray(labels, dtype=bool)
    positives = int(labels.sum())
    negatives = labels.size - positives
    if positives == 0 or negatives == 0:
        return float("nan")
    from scipy.stats import rankdata  # here, not at import: scipy.stats takes seconds to load in every API worker

    ranks = rankdata(scores)
    return float((ranks[labels].sum() - positives * (positives + 1) / 2) / (positives * negatives))


def rmse(predicted: Any, actual: Any) -> float:
    return float(np.sqrt(np.mean((np.asarray(predicted) - np.asarray(actual)) ** 2)))


@dataclass(frozen=True)
class Interval:
    estimate: float
    low: float
    high: float

    def to_json(self) -> dict[str, float]:
        return {"estimate": self.estimate, "low": self.low, "high": self.high}


def bootstrap(
    statistic: Callable[[NDArray[np.intp]], float], n: int, resamples: int, seed: int = 14, level: float = 0.95
) -> Interval:
    """Percentile bootstrap of ``statistic(indices)`` over ``n`` units resampled with replacement."""
    rng = np.random.default_rng(seed)
    estimate = statistic(np.arange(n))
    values = np.array([statistic(rng.integers(0, n, n)) for _ in range(resamples)])
    values = values[np.isfinite(values)]
    if values.size == 0:
        return Interval(estimate, float("nan"), float("nan"))
    tail = (1 - level) / 2 * 100
    low, high = np.percentile(values, [tail, 100 - tail])
    return Interval(estimate, float(low), float(high))


def calibration_by_frequency(x: Any, predicted: Any, actual: Any, cap: int = 7) -> list[dict[str, Any]]:
    """Mean predicted and actual holdout transactions per calibration frequency (x = cap means cap or more)."""
    x = np.minimum(np.asarray(x, dtype=np.int64), cap)
    predicted, actual = np.asarray(predicted, dtype=np.float64), np.asarray(actual, dtype=np.float64)
    rows = []
    for value in range(cap + 1):
        group = x == value
        if group.any():
            rows.append(
                {
                    "x": f"{value}+" if value == cap else str(value),
                    "customers": int(group.sum()),
                    "predicted": float(predicted[group].mean()),
                    "actual": float(actual[group].mean()),
                }
            )
    return rows


@dataclass(frozen=True)
class Forecast:
    """One predictor's answers for the holdout: expected transactions and P(at least one)."""

    name: str
    expected: FloatArray | None  # None: ranks only (the hiatus heuristic)
    score: FloatArray  # the higher, the likelier a purchase


def forecasts(data: Summary, horizon_weeks: float, bgnbd: BgNbd | None, pnbd: ParetoNbd | None) -> list[Forecast]:
    """The models' and the baselines' forecasts for ``data`` (one row per customer)."""
    x, t_x, T = data.x, data.t_x, data.T
    out = []
    if pnbd is not None:
        out.append(
            Forecast(
                "pareto_nbd",
                pnbd.expected_purchases(horizon_weeks, x, t_x, T),
                1 - pnbd.p_no_purchase(horizon_weeks, x, t_x, T),
            )
        )
    if bgnbd is not None:
        out.append(
            Forecast(
                "bgnbd",
                bgnbd.expected_purchases(horizon_weeks, x, t_x, T),
                1 - bgnbd.p_no_purchase(horizon_weeks, x, t_x, T),
            )
        )
    rate = x / T * horizon_weeks
    # Ties of the rate (all one-time buyers have x = 0) are broken by recency, as a manager would.
    out.append(Forecast("rate", rate, rate + 1e-6 * (t_x - T)))
    out.append(Forecast("hiatus", None, -(T - t_x)))
    return out


def holdout_report(
    data: Summary,
    actual: Any,
    horizon_weeks: float,
    bgnbd: BgNbd | None,
    pnbd: ParetoNbd | None,
    resamples: int = 200,
    seed: int = 14,
) -> dict[str, Any]:
    """Every figure of the holdout evaluation, for the models and the baselines, with bootstrap
    intervals of each model's difference from the best baseline (AUC: hiatus; RMSE: rate)."""
    actual = np.asarray(actual, dtype=np.float64)
    bought = actual > 0
    results: dict[str, Any] = {
        "customers": int(data.x.size),
        "horizon_weeks": horizon_weeks,
        "actual_total": float(actual.sum()),
        "buyers": int(bought.sum()),
        "predictors": {},
    }
    found = forecasts(data, horizon_weeks, bgnbd, pnbd)
    by_name = {f.name: f for f in found}
    for forecast in found:
        entry: dict[str, Any] = {"auc": auc(forecast.score, bought)}
        if forecast.expected is not None:
            total = float(forecast.expected.sum())
            entry.update(
                {
                    "predicted_total": total,
                    "aggregate_error_percent": 100
                    * (total - results["actual_total"])
                    / max(results["actual_total"], 1e-12),
                    "rmse": rmse(forecast.expected, actual),
                    "calibration": calibration_by_frequency(data.x, forecast.expected, actual),
                }
            )
        results["predictors"][forecast.name] = entry
    n = data.x.size
    for forecast in found:
        if forecast.expected is None or forecast.name in ("rate",):
            continue
        model, hiatus, rate = forecast, by_name["hiatus"], by_name["rate"]
        assert model.expected is not None
        assert rate.expected is not None
        model_expected, rate_expected = model.expected, rate.expected

        def auc_gain(idx: NDArray[np.intp], m: Forecast = model, h: Forecast = hiatus) -> float:
            return auc(m.score[idx], bought[idx]) - auc(h.score[idx], bought[idx])

        def rmse_gain(idx: NDArray[np.intp], e: FloatArray = model_expected, r: FloatArray = rate_expected) -> float:
            return rmse(r[idx], actual[idx]) - rmse(e[idx], actual[idx])

        results["predictors"][forecast.name]["auc_minus_hiatus"] = bootstrap(auc_gain, n, resamples, seed).to_json()
        results["predictors"][forecast.name]["rmse_gain_over_rate"] = bootstrap(rmse_gain, n, resamples, seed).to_json()
    return results
