"""Tiers: immediate upgrades, downgrades only after a full grace period below the threshold."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from backend.loyalty.rules import Tier
from backend.loyalty.tiers import TierState, evaluate, rank, target_tier
from tests.budget import examples

LEVELS = (Tier("member", 0), Tier("silver", 500, Decimal("1.25")), Tier("gold", 2000, Decimal("1.5")))
GRACE = 30
T0 = datetime(2026, 1, 1, tzinfo=UTC)


def test_upgrade_is_immediate_and_skips_levels() -> None:
    state, changes = evaluate(TierState("member"), 2500, T0, LEVELS, GRACE)
    assert state == TierState("gold")
    assert [(c.kind, c.from_tier, c.to_tier) for c in changes] == [("upgrade", "member", "gold")]


def test_downgrade_waits_for_the_grace_period() -> None:
    state, changes = evaluate(TierState("gold"), 100, T0, LEVELS, GRACE)
    assert state == TierState("gold", T0 + timedelta(days=GRACE))
    assert [c.kind for c in changes] == ["grace_started"]
    still, none = evaluate(state, 100, T0 + timedelta(days=GRACE - 1), LEVELS, GRACE)
    assert (still, none) == (state, [])
    down, changes = evaluate(state, 100, T0 + timedelta(days=GRACE), LEVELS, GRACE)
    assert down == TierState("member")
    assert [(c.kind, c.to_tier) for c in changes] == [("downgrade", "member")]


def test_recovering_during_grace_cancels_it() -> None:
    state, _ = evaluate(TierState("gold"), 100, T0, LEVELS, GRACE)
    back, changes = evaluate(state, 2000, T0 + timedelta(days=3), LEVELS, GRACE)
    assert back == TierState("gold")
    assert [c.kind for c in changes] == ["grace_cancelled"]


def test_a_tier_the_rules_dropped_is_reassigned() -> None:
    state, changes = evaluate(TierState("platinum"), 600, T0, LEVELS, GRACE)
    assert state == TierState("silver")
    assert changes[0].kind == "reassigned"


@given(st.integers(0, 5000))
def test_target_is_the_highest_threshold_reached(qualifying: int) -> None:
    target = target_tier(LEVELS, qualifying)
    assert target.threshold <= qualifying
    assert all(t.threshold > qualifying or t.threshold <= target.threshold for t in LEVELS)


class Member(RuleBasedStateMachine):
    """Points come and go (earnings, refunds, the window sliding); time passes; the tier follows."""

    @initialize()
    def start(self) -> None:
        self.state = TierState("member")
        self.now = T0
        self.qualifying = 0
        self.below_since: datetime | None = None  # since when continuously below the current tier

    def _evaluate(self) -> None:
        before = self.state
        self.state, changes = evaluate(self.state, self.qualifying, self.now, LEVELS, GRACE)
        target = target_tier(LEVELS, self.qualifying)
        for change in changes:
            if change.kind == "downgrade":
                # Only after a whole grace period spent below the tier held.
                assert self.below_since is not None
                assert self.now - self.below_since >= timedelta(days=GRACE)
                assert change.to_tier == target.name
            if change.kind == "upgrade":
                assert rank(LEVELS, change.to_tier) > rank(LEVELS, before.tier)
        if rank(LEVELS, target.name) < rank(LEVELS, self.state.tier):
            self.below_since = self.below_since or self.now
        else:
            self.below_since = None

    @rule(points=st.integers(-1500, 1500))
    def points_change(self, points: int) -> None:
        self.qualifying = max(self.qualifying + points, 0)
        self._evaluate()

    @rule(days=st.integers(0, 40))
    def time_passes(self, days: int) -> None:
        self.now += timedelta(days=days)
        self._evaluate()

    @invariant()
    def never_below_the_target(self) -> None:
        target = target_tier(LEVELS, self.qualifying)
        assert rank(LEVELS, self.state.tier) >= rank(LEVELS, target.name)

    @invariant()
    def above_the_target_only_in_grace(self) -> None:
        target = target_tier(LEVELS, self.qualifying)
        if rank(LEVELS, self.state.tier) > rank(LEVELS, target.name):
            assert self.state.grace_until is not None
            assert self.state.grace_until - self.now <= timedelta(days=GRACE)


def test_tier_state_machine() -> None:
    run_state_machine_as_test(Member, settings=settings(max_examples=examples(60, 600), stateful_step_count=40))
