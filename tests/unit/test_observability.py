"""JSON logs are one JSON object per line; fee settings become the signer's fee policy."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
import structlog

from backend.chain.network import fee_policy
from backend.observability import configure_logging
from backend.settings import Settings


def test_json_logs_are_one_object_per_line(capsys: pytest.CaptureFixture[str]) -> None:
    # cache=False and a reset after: a logger cached here would keep this stream and level for
    # the rest of the session, and tests that read the logs later would find nothing.
    configure_logging("json", "INFO", cache=False)
    try:
        structlog.get_logger("test").warning("indexer.reorg", head=12, ancestor=9)
        line = capsys.readouterr().err.strip().splitlines()[-1]
    finally:
        structlog.reset_defaults()
    record = json.loads(line)
    assert (record["event"], record["level"], record["head"], record["ancestor"]) == ("indexer.reorg", "warning", 12, 9)
    assert record["timestamp"].endswith("Z")


def test_fee_settings_become_the_fee_policy() -> None:
    policy = fee_policy(Settings(priority_fee_gwei=Decimal("1.5"), base_fee_multiplier=3, max_fee_gwei=Decimal(40)))
    assert (policy.priority_fee, policy.base_fee_multiplier, policy.max_fee_cap) == (1_500_000_000, 3, 40 * 10**9)
    assert fee_policy(Settings()).max_fee_cap is None
