"""The buy-till-you-die models and the spend model, on numpy and scipy, in log space.

* BG/NBD (Fader, Hardie & Lee 2005, "Counting Your Customers the Easy Way"): purchases at a
  Poisson rate λ ~ Gamma(r, α); after each purchase the customer drops out with probability
  p ~ Beta(a, b).
* Pareto/NBD (Schmittlein, Morrison & Colombo 1987; likelihood as in Fader & Hardie's 2005 note
  "A Note on Deriving the Pareto/NBD Model and Related Expressions"): purchases at rate λ ~
  Gamma(r, α) until an exponential lifetime with rate μ ~ Gamma(s, β) ends.
* Gamma-Gamma (Fader & Hardie 2013, "The Gamma-Gamma Model of Monetary Value"): the spend of a
  repeat transaction ~ Gamma(p, ν), ν ~ Gamma(q, γ), independent of the purchase process.

A customer is summarised by ``x`` (repeat transactions: customer-days after the first), ``t_x``
(time from the first to the last transaction) and ``T`` (time from the first transaction to the
end of the observation), in weeks as in the papers. Fitting takes identical rows once, with a
weight (the number of customers who share them), so millions of customers fit as fast as their
distinct summaries.

Every expression is evaluated in log space: Gauss hypergeometric functions appear only in forms
whose value stays moderate however large ``x`` is (an Euler transformation for BG/NBD; an
integral of two power laws, a sum of positive terms, for Pareto/NBD), and differences go through
``log1mexp``. A heavy buyer (x in the thousands) gets finite figures, never NaN.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray
from scipy.special import betaln, expit, gammaln, hyp2f1

Array = NDArray[np.float64]
# Log-parameters are kept within e^-12 .. e^12: wide enough for any sensible data, narrow enough
# that the optimiser never evaluates a power law at an exponent that overflows.
LOG_BOUND = 12.0


def _as_arrays(*values: Any) -> list[Array]:
    return [np.asarray(v, dtype=np.float64) for v in values]


def log1mexp(d: Array) -> Array:
    """log(1 - e^d) for d <= 0, accurate near both ends (Mächler 2012)."""
    d = np.asarray(d, dtype=np.float64)
    with np.errstate(divide="ignore"):
        return np.where(d > -np.log(2.0), np.log(-np.expm1(d)), np.log1p(-np.exp(d)))


@dataclass(frozen=True)
class Summary:
    """Customers' sufficient statistics (weeks), distinct rows with how many customers share each."""

    x: Array
    t_x: Array
    T: Array
    weight: Array

    @classmethod
    def of(cls, x: Any, t_x: Any, T: Any, weight: Any = None) -> Summary:
        xs, txs, Ts = _as_arrays(x, t_x, T)
        weights = np.ones_like(xs) if weight is None else np.asarray(weight, dtype=np.float64)
        if not (xs.shape == txs.shape == Ts.shape == weights.shape):
            raise ValueError("x, t_x, T and weight must have one value per customer")
        if xs.size and (np.any(xs < 0) or np.any(txs < 0) or np.any(txs > Ts + 1e-9) or np.any(Ts <= 0)):
            raise ValueError("need x >= 0, 0 <= t_x <= T and T > 0")
        return cls(xs, txs, Ts, weights)

    def grouped(self) -> tuple[Summary, NDArray[np.intp]]:
        """Identical (x, t_x, T) rows once, weighted; and for each input row the index of its group."""
        rows = np.stack([self.x, self.t_x, self.T], axis=1)
        unique, inverse = np.unique(rows, axis=0, return_inverse=True)
        inverse = inverse.reshape(-1)
        weights = np.bincount(inverse, weights=self.weight, minlength=len(unique)).astype(np.float64)
        return Summary(unique[:, 0].copy(), unique[:, 1].copy(), unique[:, 2].copy(), weights), inverse

    @property
    def customers(self) -> float:
        return float(self.weight.sum())


@dataclass(frozen=True)
class Fit:
    """What an optimiser run did: converged or not, iterations, the message."""

    converged: bool
    iterations: int
    message: str


def _maximise(
    negative_loglik: Callable[[Array], float], start: Array, names: tuple[str, ...]
) -> tuple[Array, float, Fit]:
    """Maximum likelihood over log-parameters: L-BFGS-B (numeric gradient), which reaches the
    papers' optima to their published precision on CDNOW. When it stops short (data without the
    heterogeneity a parameter describes, e.g. perfectly regular buyers, send r and α to the bound
    together), a short Nelder-Mead run takes the better point; ``Fit`` says it did not converge."""
    from scipy.optimize import minimize  # here, not at import: it takes a second to load in every API worker

    bounds = [(-LOG_BOUND, LOG_BOUND)] * len(names)

    def objective(log_params: Array) -> float:
        value = negative_loglik(np.exp(log_params))
        return value if np.isfinite(value) else 1e300

    first = minimize(
        objective,
        np.log(start),
        method="L-BFGS-B",
        bounds=bounds,
        options={"maxiter": 2000, "ftol": 1e-14, "gtol": 1e-9},
    )
    if first.success:
        return np.exp(first.x), -float(first.fun), Fit(True, int(first.nit), str(first.message))
    polished = minimize(
        objective, first.x, method="Nelder-Mead", bounds=bounds, options={"maxiter": 600, "xatol": 1e-9, "fatol": 1e-10}
    )
    best = polished if polished.fun <= first.fun else first
    fit = Fit(bool(polished.success), int(first.nit) + int(polished.nit), str(polished.message))
    return np.exp(best.x), -float(best.fun), fit


# -- BG/NBD -------------------------------------------------------------------------------


@dataclass(frozen=True)
class BgNbd:
    r: float
    alpha: float
    a: float
    b: float
    loglik: float = float("nan")
    fit_info: Fit | None = field(default=None, compare=False)

    NAMES = ("r", "alpha", "a", "b")

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "a": self.a, "b": self.b}

    @staticmethod
    def loglik_terms(params: Array, x: Array, t_x: Array, T: Array) -> Array:
        """Each customer's log-likelihood (FHL 2005, eq. 6), as logaddexp of its two terms."""
        r, alpha, a, b = params
        common = gammaln(r + x) - gammaln(r) + r * np.log(alpha)
        alive = betaln(a, b + x) - betaln(a, b) - (r + x) * np.log(alpha + T)
        repeat = x > 0
        dropped = np.full_like(x, -np.inf)
        xr = x[repeat]
        dropped[repeat] = betaln(a + 1, b + xr - 1) - betaln(a, b) - (r + xr) * np.log(alpha + t_x[repeat])
        return common + np.logaddexp(alive, dropped)

    @classmethod
    def fit(cls, data: Summary, start: tuple[float, ...] = (1.0, 3.0, 1.0, 3.0)) -> BgNbd:
        grouped, _ = data.grouped()
        x, t_x, T, w = grouped.x, grouped.t_x, grouped.T, grouped.weight

        def negative(params: Array) -> float:
            return -float(np.dot(w, cls.loglik_terms(params, x, t_x, T)))

        found, loglik, info = _maximise(negative, np.array(start), cls.NAMES)
        r, alpha, a, b = map(float, found)
        return cls(r, alpha, a, b, loglik=loglik, fit_info=info)

    def log_odds_dead(self, x: Array, t_x: Array, T: Array) -> Array:
        """log P(dropped out) / P(alive); -inf without repeat purchases (BG/NBD drops out only
        right after a purchase)."""
        x, t_x, T = _as_arrays(x, t_x, T)
        with np.errstate(divide="ignore"):
            ratio = (
                np.log(self.a)
                - np.log(np.maximum(self.b + x - 1, 1e-300))
                + (self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + t_x))
            )
        return np.where(x > 0, ratio, -np.inf)

    def p_alive(self, x: Any, t_x: Any, T: Any) -> Array:
        return expit(-self.log_odds_dead(x, t_x, T))

    def expected_purchases(self, t: float, x: Any, t_x: Any, T: Any) -> Array:
        """Expected transactions in (T, T + t] (FHL 2005, eq. 10), with the hypergeometric factor
        Euler-transformed: ((α+T)/(α+T+t))^(r+x) 2F1(r+x, b+x; a+b+x-1; z) =
        (1-z)^(a-1) 2F1(a+b-1-r, a-1; a+b+x-1; z), z = t/(α+T+t), which stays near 1 for any x."""
        x, t_x, T = _as_arrays(x, t_x, T)
        r, alpha, a, b = self.r, self.alpha, self.a, self.b
        z = t / (alpha + T + t)
        c = a + b + x - 1
        factor = np.exp((a - 1) * np.log1p(-z)) * hyp2f1(a + b - 1 - r, a - 1, c, z)
        return self.p_alive(x, t_x, T) * (c / (a - 1)) * (1 - factor)

    def p_no_purchase(self, t: float, x: Any, t_x: Any, T: Any) -> Array:
        """P(no transaction in (T, T + t]): dropped out, or alive with no purchase (λ | data ~
        Gamma(r + x, α + T); no dropout without a purchase)."""
        x, t_x, T = _as_arrays(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        quiet = np.exp((self.r + x) * (np.log(self.alpha + T) - np.log(self.alpha + T + t)))
        return 1 - alive + alive * quiet


# -- Pareto/NBD ---------------------------------------------------------------------------


# Gauss-Legendre nodes on [0, 1] for the Pareto/NBD integral (see ``log_power_integral``).
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)
_NODES, _WEIGHTS = (_NODES + 1) / 2, _WEIGHTS / 2
# Beyond σ = 60 the integrand carries a factor e^-60 of its start: nothing left to count.
_SIGMA_MAX = 60.0
_CHUNK = 32_768  # rows per block: a block of 64 nodes stays within a few tens of megabytes


def log_power_integral(alpha: float, beta: float, p: Any, q: float, lower: Any, upper: Any) -> Array:
    """log ∫_lower^upper (α+u)^-p (β+u)^-q du for p > 0, q > 0 (-inf for an empty interval).

    With m = p + q - 1 and u such that ((α+lower)/(α+u))^m = e^-σ, the integral is
    (α+lower)^(1-p)/m · ∫_0^σ1 e^-σ ((β-α) e^(-σ/m) + α + lower)^-q dσ, σ1 = m log((α+upper)/(α+lower)).
    The second factor of the integrand lies between (α+lower)^-q and (β+lower)^-q and is smooth at
    the scale m, so 64 Gauss-Legendre nodes on [0, min(σ1, 60)] give it to double precision for any
    x, in log space (a log-sum-exp over the nodes). Closed forms through 2F1 (Fader & Hardie's
    note) lose all precision for large x or β much larger than α: scipy's hyp2f1 answers NaN there."""
    p_, lower_, upper_ = np.broadcast_arrays(*_as_arrays(p, lower, upper))
    out = np.full(p_.shape, -np.inf)
    flat_p, flat_lo, flat_hi, flat_out = p_.ravel(), lower_.ravel(), upper_.ravel(), out.reshape(-1)
    for start in range(0, flat_p.size, _CHUNK):
        block = slice(start, start + _CHUNK)
        flat_out[block] = _log_power_integral_block(alpha, beta, flat_p[block], q, flat_lo[block], flat_hi[block])
    return out


def _log_power_integral_block(alpha: float, beta: float, p: Array, q: float, lower: Array, upper: Array) -> Array:
    m = p + q - 1
    base = alpha + lower
    sigma1 = np.minimum(m * (np.log(alpha + upper) - np.log(base)), _SIGMA_MAX)
    sigma = sigma1[:, None] * _NODES[None, :]
    inner = (beta - alpha) * np.exp(-sigma / m[:, None]) + base[:, None]
    with np.errstate(divide="ignore"):
        log_terms = -sigma - q * np.log(inner) + np.log(_WEIGHTS)[None, :]
        peak = log_terms.max(axis=1)
        log_sum = peak + np.log(np.exp(log_terms - peak[:, None]).sum(axis=1)) + np.log(sigma1)
    result = (1 - p) * np.log(base) - np.log(m) + log_sum
    return np.where(upper > lower, result, -np.inf)


@dataclass(frozen=True)
class ParetoNbd:
    r: float
    alpha: float
    s: float
    beta: float
    loglik: float = float("nan")
    fit_info: Fit | None = field(default=None, compare=False)

    NAMES = ("r", "alpha", "s", "beta")

    @property
    def params(self) -> dict[str, float]:
        return {"r": self.r, "alpha": self.alpha, "s": self.s, "beta": self.beta}

    @staticmethod
    def _parts(params: Array, x: Array, t_x: Array, T: Array) -> tuple[Array, Array, Array]:
        """(constant, log of the alive term, log of the dead-after-t_x term) of the likelihood:
        L = Γ(r+x)α^r β^s/Γ(r) · [(α+T)^-(r+x) (β+T)^-s + s ∫_{t_x}^T (α+y)^-(r+x) (β+y)^-(s+1) dy]."""
        r, alpha, s, beta = params
        constant = gammaln(r + x) - gammaln(r) + r * np.log(alpha) + s * np.log(beta)
        alive = -(r + x) * np.log(alpha + T) - s * np.log(beta + T)
        dead = np.log(s) + log_power_integral(alpha, beta, r + x, s + 1, t_x, T)
        return constant, alive, dead

    @classmethod
    def loglik_terms(cls, params: Array, x: Array, t_x: Array, T: Array) -> Array:
        constant, alive, dead = cls._parts(params, x, t_x, T)
        return constant + np.logaddexp(alive, dead)

    @classmethod
    def fit(cls, data: Summary, start: tuple[float, ...] = (1.0, 1.0, 1.0, 1.0)) -> ParetoNbd:
        grouped, _ = data.grouped()
        x, t_x, T, w = grouped.x, grouped.t_x, grouped.T, grouped.weight

        def negative(params: Array) -> float:
            return -float(np.dot(w, cls.loglik_terms(params, x, t_x, T)))

        found, loglik, info = _maximise(negative, np.array(start), cls.NAMES)
        r, alpha, s, beta = map(float, found)
        return cls(r, alpha, s, beta, loglik=loglik, fit_info=info)

    def _array(self) -> Array:
        return np.array([self.r, self.alpha, self.s, self.beta])

    def p_alive(self, x: Any, t_x: Any, T: Any) -> Array:
        x, t_x, T = _as_arrays(x, t_x, T)
        _, alive, dead = self._parts(self._array(), x, t_x, T)
        return np.exp(alive - np.logaddexp(alive, dead))

    def expected_purchases(self, t: float, x: Any, t_x: Any, T: Any) -> Array:
        """Expected transactions in (T, T + t]: P(alive) (r+x)(β+T) / ((α+T)(s-1)) [1 - ((β+T)/(β+T+t))^(s-1)],
        the bracket over (s - 1) computed with expm1 (its limit -log((β+T)/(β+T+t)) at s = 1)."""
        x, t_x, T = _as_arrays(x, t_x, T)
        log_ratio = np.log(self.beta + T) - np.log(self.beta + T + t)
        lifetime = -log_ratio if abs(self.s - 1) < 1e-09 else -np.expm1((self.s - 1) * log_ratio) / (self.s - 1)
        return self.p_alive(x, t_x, T) * (self.r + x) / (self.alpha + T) * (self.beta + T) * lifetime

    def p_no_purchase(self, t: float, x: Any, t_x: Any, T: Any) -> Array:
        """P(no transaction in (T, T + t]). Alive at T, with λ ~ Gamma(r+x, α+T) and μ ~ Gamma(s, β+T)
        given the data, a customer makes none if they outlive t without buying, or die at some u < t
        before their first purchase:
        ((α+T)/(α+T+t))^(r+x) ((β+T)/(β+T+t))^s + s (α+T)^(r+x) (β+T)^s ∫_T^{T+t} (α+y)^-(r+x) (β+y)^-(s+1) dy."""
        x, t_x, T = _as_arrays(x, t_x, T)
        alive = self.p_alive(x, t_x, T)
        r_x = self.r + x
        survive = r_x * (np.log(self.alpha + T) - np.log(self.alpha + T + t)) + self.s * (
            np.log(self.beta + T) - np.log(self.beta + T + t)
        )
        die_first = (
            np.log(self.s)
            + r_x * np.log(self.alpha + T)
            + self.s * np.log(self.beta + T)
            + log_power_integral(self.alpha, self.beta, r_x, self.s + 1, T, T + t)
        )
        quiet = np.minimum(np.exp(np.logaddexp(survive, die_first)), 1.0)
        return 1 - alive + alive * quiet


# -- Gamma-Gamma ------------------------------------------------------------------------


@dataclass(frozen=True)
class GammaGamma:
    p: float
    q: float
    gamma: float
    loglik: float = float("nan")
    fit_info: Fit | None = field(default=None, compare=False)

    NAMES = ("p", "q", "gamma")

    @property
    def params(self) -> dict[str, float]:
        return {"p": self.p, "q": self.q, "gamma": self.gamma}

    @staticmethod
    def loglik_terms(params: Array, x: Array, mean_spend: Array) -> Array:
        """log f(z̄ | x): the density of a customer's mean spend over x repeat transactions
        (Fader & Hardie 2013, eq. 4)."""
        p, q, gamma = params
        px = p * x
        return (
            gammaln(px + q)
            - gammaln(px)
            - gammaln(q)
            + q * np.log(gamma)
            + (px - 1) * np.log(mean_spend)
            + px * np.log(x)
            - (px + q) * np.log(gamma + x * mean_spend)
        )

    @classmethod
    def fit(cls, x: Any, mean_spend: Any, start: tuple[float, ...] = (1.0, 1.0, 1.0)) -> GammaGamma:
        """Fit on the customers with repeat transactions and a positive mean spend (a zero spend
        has no density under a gamma distribution)."""
        xs, spend = _as_arrays(x, mean_spend)
        keep = (xs > 0) & (spend > 0)
        xs, spend = xs[keep], spend[keep]

        def negative(params: Array) -> float:
            return -float(np.sum(cls.loglik_terms(params, xs, spend)))

        found, loglik, info = _maximise(negative, np.array(start), cls.NAMES)
        p, q, gamma = map(float, found)
        return cls(p, q, gamma, loglik=loglik, fit_info=info)

    @property
    def population_mean(self) -> float:
        """E[Z] of a customer of whom nothing is known: pγ/(q-1) (infinite when q <= 1)."""
        return self.p * self.gamma / (self.q - 1) if self.q > 1 else float("inf")

    def expected_spend(self, x: Any, mean_spend: Any) -> Array:
        """E[Z | z̄, x] = p(γ + x z̄)/(px + q - 1): a weighted mean of the population mean and z̄."""
        xs, spend = _as_arrays(x, mean_spend)
        spend = np.where(xs > 0, spend, 0.0)
        return self.p * (self.gamma + xs * spend) / (self.p * xs + self.q - 1)
