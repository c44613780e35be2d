"""How hard the property, invariant and fuzz tests push: short in `make test`, long behind
`make fuzz` (``CREDANCE_PROOF_LEVEL=long``). Counts, never timings."""

from __future__ import annotations

import os

from hypothesis import HealthCheck, settings


def long_run() -> bool:
    return os.environ.get("CREDANCE_PROOF_LEVEL", "short") == "long"


def examples(short: int, long: int) -> int:
    """An example count: ``CREDANCE_PROOF_EXAMPLES`` overrides both."""
    override = os.environ.get("CREDANCE_PROOF_EXAMPLES")
    if override:
        return int(override)
    return long if long_run() else short


def chain_settings(short: int, long: int, steps: tuple[int, int] = (20, 60)) -> settings:
    """Hypothesis settings for tests that talk to Anvil: no deadline (a chain call is not a
    unit of CPU), no database of failures shared between machines, bounded steps."""
    return settings(
        max_examples=examples(short, long),
        stateful_step_count=steps[1] if long_run() else steps[0],
        deadline=None,
        derandomize=not long_run(),
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture, HealthCheck.data_too_large],
    )


# Under `make fuzz`, plain @given tests (without their own settings) run many more examples.
settings.register_profile("proof-long", max_examples=2000, deadline=None)
if long_run():
    settings.load_profile("proof-long")
