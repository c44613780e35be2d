"""How members are targeted by prediction: the ``predictive`` section of the published rule set.

It sits in the rule document, so the hash published on chain covers the horizon, the model, the
thresholds of every ``predicted:`` segment, the control group's share and the minimum of data
below which a run publishes nothing. Plain data, no imports from the rest of the platform.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Literal

ModelName = Literal["pareto_nbd", "bgnbd"]
PREFIX = "predicted:"
AT_RISK = PREFIX + "at-risk"
LAPSED = PREFIX + "lapsed"
HIGH_VALUE = PREFIX + "high-value"
AFFINITY = PREFIX + "affinity:"


def is_predicted(segment: str) -> bool:
    """Segments under the reserved prefix are written by prediction runs only, never by hand."""
    return segment.startswith(PREFIX)


@dataclass(frozen=True)
class PredictivePolicy:
    """Targeting by prediction. Probabilities are those of ``model`` over ``horizon_days``.

    * ``predicted:lapsed``: P(alive) below ``lapsed_below``;
    * ``predicted:at-risk``: not lapsed, P(alive) below ``at_risk_below``, and at least
      ``at_risk_min_repeat`` repeat purchase days (members who had come back, now fading);
    * ``predicted:high-value``: the top ``high_value_top_percent`` % by value over the horizon;
    * ``predicted:affinity:<category>``: at least ``affinity_min_share`` of the member's spend and
      ``affinity_min_days`` purchase days in the category.

    A deterministic ``control_percent`` of members (by a keyed hash of their id, the same in every
    run) gets none of these segments, so offers' uplift is measured against them. A run publishes
    nothing with fewer than ``min_customers`` customers, ``min_repeat_customers`` repeat customers
    or ``min_history_days`` of history; the upkeep runs one every ``every_days``.
    """

    horizon_days: int = 90
    model: ModelName = "pareto_nbd"
    control_percent: int = 10
    every_days: int = 7
    min_customers: int = 200
    min_repeat_customers: int = 50
    min_history_days: int = 180
    lapsed_below: Decimal = Decimal("0.2")
    at_risk_below: Decimal = Decimal("0.5")
    at_risk_min_repeat: int = 1
    high_value_top_percent: Decimal = Decimal(10)
    affinity_min_share: Decimal = Decimal("0.5")
    affinity_min_days: int = 2

    def canonical(self) -> dict[str, Any]:
        def dec(value: Decimal) -> str:
            return format(Decimal(value).normalize(), "f")

        return {
            "horizon_days": self.horizon_days,
            "model": self.model,
            "control_percent": self.control_percent,
            "every_days": self.every_days,
            "minimum": {
                "customers": self.min_customers,
                "repeat_customers": self.min_repeat_customers,
                "history_days": self.min_history_days,
            },
            "segments": {
                "lapsed": {"p_alive_below": dec(self.lapsed_below)},
                "at_risk": {"p_alive_below": dec(self.at_risk_below), "min_repeat_purchases": self.at_risk_min_repeat},
                "high_value": {"top_percent": dec(self.high_value_top_percent)},
                "affinity": {"min_share": dec(self.affinity_min_share), "min_days": self.affinity_min_days},
            },
        }


DEFAULT_POLICY = PredictivePolicy()
