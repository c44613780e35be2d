"""Depth limits measured without recursion (backend/bounds.py), the inputs that use them (EPCIS
hash, rule files, CSV imports), and tracebacks that stay small whatever failed."""

from __future__ import annotations

import io
import json
import logging
from pathlib import Path
from typing import Any

import pytest
import structlog
from hypothesis import given
from hypothesis import strategies as st

from backend.bounds import TooDeep, json_depth_exceeds, value_depth_exceeds
from backend.errors import Unprocessable
from backend.loyalty.rule_document import load_rules_file
from backend.observability import MAX_TRACEBACK_CHARS, BoundedTracebacks, bounded_traceback, configure_logging
from backend.provenance.epcis.hashing import MAX_EVENT_DEPTH, event_hash
from backend.provenance.importer import ImportProblems, read_rows

# Strings full of what a naive scanner would count: brackets, quotes, backslashes, escapes.
texts = st.text(alphabet=st.sampled_from(list('[]{}"\\ab\n\u00e9')), max_size=8)
values = st.recursive(
    st.none() | st.booleans() | st.integers() | texts,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(texts, inner, max_size=3),
    max_leaves=30,
)


def depth(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + max((depth(v) for v in value.values()), default=0)
    if isinstance(value, list):
        return 1 + max((depth(v) for v in value), default=0)
    return 0


@given(values, st.integers(0, 8))
def test_the_byte_scanner_measures_what_a_parser_sees(value: Any, limit: int) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    assert json_depth_exceeds(body, limit) == (depth(value) > limit)
    assert value_depth_exceeds(value, limit) == (depth(value) > limit)


def test_any_depth_is_measured_without_recursion() -> None:
    deep: Any = "x"
    for _ in range(100_000):
        deep = [deep]
    assert value_depth_exceeds(deep, 64)
    assert not value_depth_exceeds(deep, 100_000)
    assert json_depth_exceeds(b"[" * 1_000_000, 64)
    assert not json_depth_exceeds(b'["' + b"[" * 1_000_000 + b'"]', 64)  # inside a string: text


def test_the_event_hash_refuses_an_event_too_deep_to_walk() -> None:
    extension: Any = "x"
    for _ in range(500):
        extension = {"ex:level": extension}
    event = {
        "type": "ObjectEvent",
        "eventTime": "2026-01-01T00:00:00Z",
        "eventTimeZoneOffset": "+00:00",
        "action": "OBSERVE",
        "ex:deep": extension,
    }
    with pytest.raises(TooDeep) as raised:
        event_hash(event, {"ex": "https://example.com/"})
    assert (raised.value.status, raised.value.field, raised.value.limit) == (422, "event", MAX_EVENT_DEPTH)
    event["ex:deep"] = {"ex:level": {"ex:level": "x"}}
    assert event_hash(event, {"ex": "https://example.com/"}).startswith("ni:///sha-256;")


@pytest.mark.parametrize(
    ("name", "text", "message"),
    [
        ("deep.yaml", "points_per_unit: " + "[" * 5000 + "]" * 5000, "deeper than 32"),
        ("deep.json", '{"campaigns": ' + "[" * 5000 + "]" * 5000 + "}", "deeper than 32"),
        ("broken.yaml", "points_per_unit: [1, 2", "not a valid rule document"),
        ("broken.json", '{"points_per_unit": ', "not a valid rule document"),
    ],
    ids=["deep-yaml", "deep-json", "broken-yaml", "broken-json"],
)
def test_rule_files_are_checked_before_they_are_parsed(tmp_path: Path, name: str, text: str, message: str) -> None:
    path = tmp_path / name
    path.write_text(text)
    with pytest.raises(Unprocessable, match=message) as raised:
        load_rules_file(path)
    assert raised.value.field == "rules"


def test_a_csv_cell_too_large_to_read_is_a_problem_of_its_line(tmp_path: Path) -> None:
    path = tmp_path / "items.csv"
    path.write_text("gtin,serial\n09506000134352,SN1\n09506000134352," + "A" * 200_000 + "\n")
    with pytest.raises(ImportProblems) as raised:
        read_rows(path)
    assert raised.value.problems[0].startswith("after line 2: not a readable CSV row (field larger than field limit")
    path.write_bytes(b"gtin,serial\n\xff\xfe,SN1\n")
    with pytest.raises(ImportProblems, match="1 problem"):
        read_rows(path)


def _ping(n: int) -> int:
    return _pong(n) + 1


def _pong(n: int) -> int:
    return _ping(n - 1) if n else 0


def test_a_runaway_recursion_logs_a_small_traceback() -> None:
    try:
        _ping(10**6)  # mutual recursion: Python cannot fold its repeated lines
    except RecursionError as exc:
        error = exc
    text = bounded_traceback((RecursionError, error, error.__traceback__))
    assert "RecursionError" in text
    assert len(text) <= MAX_TRACEBACK_CHARS + 100

    stream = io.StringIO()
    configure_logging("json", "INFO", stream=stream, cache=False)
    try:
        structlog.get_logger("test").error("api.unexpected_error", exc_info=error)
        record = logging.LogRecord(
            "uvicorn.error", logging.ERROR, __file__, 1, "boom", None, (RecursionError, error, error.__traceback__)
        )
        assert BoundedTracebacks().filter(record)
        assert len(logging.Formatter().format(record)) <= MAX_TRACEBACK_CHARS + 100
    finally:
        configure_logging("console", "INFO")
    logged = json.loads(stream.getvalue().strip().splitlines()[-1])
    assert "RecursionError" in logged["exception"]
    assert len(stream.getvalue()) <= MAX_TRACEBACK_CHARS + 1000
