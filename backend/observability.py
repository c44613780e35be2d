"""Structured logs (structlog) and Prometheus metrics.

Logs: JSON lines in production (``CREDANCE_LOG_FORMAT=json``), readable lines in a terminal.

Metrics come from two places, so that any API worker answers ``/metrics`` with the whole picture:

- **State of the system, computed from the database at scrape time** (``DatabaseCollector``):
  the indexer's block, the chain head it last saw, lag, confirmed block, events applied and
  reorganisations (counters kept in the cursor row, written in the indexer's own transactions),
  outbox depth and age, transactions by status. Correct whichever process answers, on one
  machine or several, even when the indexer or sender is down (the age keeps growing).
- **Per-process activity** (HTTP latency, indexer errors and steps): prometheus-client metrics.
  When several processes run (uvicorn workers, the indexer, the sender), ``credance run`` and
  ``credance serve --workers N`` point ``PROMETHEUS_MULTIPROC_DIR`` at a directory they share,
  and ``/metrics`` merges the files of every process (prometheus-client's multiprocess mode).
"""

from __future__ import annotations

import logging
import os
import sys
import time
import traceback
from collections.abc import Iterator, MutableMapping
from pathlib import Path
from types import TracebackType
from typing import Any, TextIO, cast

import structlog
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest, multiprocess
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlalchemy import Engine, func, select
from sqlmodel import Session

from backend.redaction import redact_secrets

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"


# An unexpected error is logged with its traceback, but never a huge one: a deep recursion (or a
# mutual one, which Python does not fold) once wrote half a megabyte per request.
MAX_TRACEBACK_FRAMES = 40
MAX_TRACEBACK_CHARS = 16_000


def bounded_traceback(exc_info: tuple[type[BaseException], BaseException, TracebackType | None]) -> str:
    """The traceback of ``exc_info``: its innermost frames only, and at most ``MAX_TRACEBACK_CHARS``."""
    text = "".join(traceback.format_exception(*exc_info, limit=-MAX_TRACEBACK_FRAMES))
    if len(text) <= MAX_TRACEBACK_CHARS:
        return text
    head, tail = MAX_TRACEBACK_CHARS // 4, MAX_TRACEBACK_CHARS * 3 // 4
    return f"{text[:head]}\n[… {len(text) - head - tail} characters of traceback cut …]\n{text[-tail:]}"


def _format_exc_info(_logger: Any, _method: str, event_dict: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """structlog's ``format_exc_info``, bounded (see ``bounded_traceback``)."""
    exc_info = event_dict.pop("exc_info", None)
    if exc_info:
        if isinstance(exc_info, BaseException):
            exc_info = (type(exc_info), exc_info, exc_info.__traceback__)
        elif not isinstance(exc_info, tuple):
            exc_info = sys.exc_info()
        if exc_info[0] is not None:
            event_dict["exception"] = bounded_traceback(exc_info)
    return event_dict


class BoundedTracebacks(logging.Filter):
    """The same bound for the standard library's loggers (uvicorn logs what escapes the app)."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.exc_info and record.exc_info[0] is not None:
            record.exc_text = bounded_traceback(record.exc_info)
        return True


def _bound_stdlib_tracebacks() -> None:
    for name in ("", "uvicorn", "uvicorn.error", "uvicorn.asgi"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, BoundedTracebacks) for f in logger.filters):
            logger.addFilter(BoundedTracebacks())


class _CurrentStderr:
    """Whatever ``sys.stderr`` is when a line is written, not when logging was configured: a stream
    swapped in for a while (pytest's capture, a daemon's redirect) and closed afterwards must not
    keep receiving the logs of every logger created meanwhile."""

    def write(self, text: str) -> int:
        return sys.stderr.write(text)

    def flush(self) -> None:
        sys.stderr.flush()


def configure_logging(
    fmt: str = "console", level: str = "INFO", stream: TextIO | None = None, cache: bool = True
) -> None:
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if fmt == "json" else structlog.dev.ConsoleRenderer(colors=False)
    )
    structlog.configure(
        processors=[
            structlog.contextvars.merge_contextvars,
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso", utc=True),
            _format_exc_info,
            redact_secrets,
            renderer,
        ],
        wrapper_class=structlog.make_filtering_bound_logger(logging.getLevelName(level.upper())),
        logger_factory=structlog.PrintLoggerFactory(stream or cast(TextIO, _CurrentStderr())),
        cache_logger_on_first_use=cache,
    )
    _bound_stdlib_tracebacks()


# -- per-process metrics ---------------------------------------------------------------------

HTTP_LATENCY = Histogram(
    "credance_http_request_duration_seconds",
    "Time to answer an HTTP request, by method, route template and status class.",
    ["method", "route", "status"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 10.0),
)
ADMISSION_REFUSED = Counter(
    "credance_http_refused_total",
    "Requests refused with 503 because their admission class was at capacity (backend/api/admission.py).",
    ["route_class"],
)
INDEXER_ERRORS = Counter(
    "credance_indexer_errors_total",
    "Indexer steps that failed and were retried, by kind (rpc, database, moved, other).",
    ["kind"],
)
INDEXER_SKIPPED_LOGS = Counter(
    "credance_indexer_skipped_logs_total", "Logs at our addresses that no event of our ABIs matches (not mirrored)."
)
INDEXER_STEP_SECONDS = Histogram(
    "credance_indexer_step_seconds",
    "Duration of one indexer step (read a range, write it), by outcome.",
    ["outcome"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0),
)
INDEXER_RANGE = Gauge(
    "credance_indexer_range_blocks",
    "Blocks the indexer asks per eth_getLogs now (adapts to the node).",
    multiprocess_mode="livemax",
)
INDEXER_LEADER = Gauge(
    "credance_indexer_leader", "1 in the indexer process that leads, 0 in a standby.", multiprocess_mode="livemax"
)


# -- state computed from the database at scrape time -----------------------------------------


class DatabaseCollector(Collector):
    """Gauges and counters read from SQL when Prometheus scrapes (a handful of indexed queries)."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[Any]:
        from backend.db.models import ChainCursor, ChainTransaction, Operation, OperationStatus
        from backend.db.schema import table_of

        up = GaugeMetricFamily("credance_database_up", "1 when the database answered the scrape's queries.")
        operations, transactions = table_of(Operation), table_of(ChainTransaction)
        try:
            with Session(self.engine) as session:
                cursor = session.get(ChainCursor, "indexer")
                outbox: dict[str, int] = {
                    str(status): int(count)
                    for status, count in session.execute(
                        select(operations.c.status, func.count()).group_by(operations.c.status)
                    ).all()
                }
                oldest = session.execute(
                    select(func.min(operations.c.created_at)).where(operations.c.status == OperationStatus.PENDING)
                ).scalar()
                sent_by_status: dict[str, int] = {
                    str(status): int(count)
                    for status, count in session.execute(
                        select(transactions.c.status, func.count()).group_by(transactions.c.status)
                    ).all()
                }
        except Exception:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield up
        yield from _indexer_families(cursor)
        depth = GaugeMetricFamily("credance_outbox_operations", "Outbox operations by status.", labels=["status"])
        for status in OperationStatus:
            depth.add_metric([status.value], outbox.get(status.value, 0))
        yield depth
        age = GaugeMetricFamily(
            "credance_outbox_oldest_pending_age_seconds", "Age of the oldest operation not yet sent (0 if none)."
        )
        age.add_metric([], max(0.0, time.time() - oldest.timestamp()) if oldest is not None else 0.0)
        yield age
        txs = GaugeMetricFamily(
            "credance_transactions",
            "Transactions the sender signed, by outcome (broadcast, mined, reverted, dropped).",
            labels=["status"],
        )
        for outcome, count in sorted(sent_by_status.items()):
            txs.add_metric([outcome], count)
        yield txs
        sent = CounterMetricFamily("credance_transactions_sent", "Transactions the sender signed and broadcast.")
        sent.add_metric([], sum(sent_by_status.values()))
        yield sent
        failed = CounterMetricFamily(
            "credance_transactions_failed", "Transactions reverted on chain, plus operations the chain refused."
        )
        failed.add_metric([], sent_by_status.get("reverted", 0) + outbox.get(OperationStatus.FAILED.value, 0))
        yield failed


def _indexer_families(cursor: Any) -> Iterator[Any]:
    block = cursor.block_number if cursor else 0
    head = cursor.head_block if cursor else 0
    values = {
        "credance_indexer_block": ("Highest block the mirror reflects.", block),
        "credance_indexer_head_block": ("Chain head the indexer saw at its last poll.", head),
        "credance_indexer_lag_blocks": ("Blocks between the chain head and the mirror.", max(0, head - block)),
        "credance_indexer_confirmed_block": (
            "Highest mirrored block at least CREDANCE_CONFIRMATIONS deep.",
            cursor.confirmed_block if cursor else 0,
        ),
        "credance_indexer_last_poll_age_seconds": (
            "Seconds since the indexer last polled the chain.",
            time.time() - cursor.checked_at.timestamp() if cursor else -1,
        ),
    }
    for name, (doc, value) in values.items():
        family = GaugeMetricFamily(name, doc)
        family.add_metric([], value)
        yield family
    for name, doc, value in (
        (
            "credance_indexer_events",
            "Events the indexer applied to the mirror (rate() = events/s).",
            cursor.events_total if cursor else 0,
        ),
        (
            "credance_indexer_reorgs",
            "Chain reorganisations the indexer rolled back.",
            cursor.reorgs_total if cursor else 0,
        ),
    ):
        counter = CounterMetricFamily(name, doc)
        counter.add_metric([], value)
        yield counter


_HTTP_SERIES: dict[tuple[str, str, int], Any] = {}


def observe_request(method: str, template: str, status: int, seconds: float) -> None:
    """One observation of ``HTTP_LATENCY``. The labelled histogram of each (method, route, status
    class) is kept: ``labels()`` costs more than the observation itself, and there are a few
    dozen such triples."""
    key = (method, template, status // 100)
    series = _HTTP_SERIES.get(key)
    if series is None:
        series = _HTTP_SERIES[key] = HTTP_LATENCY.labels(method, template, f"{key[2]}xx")
    series.observe(seconds)


class HttpMetrics:
    """ASGI middleware: one histogram observation per request, labelled by route template (not
    the raw path, which would make a series per customer). Cheap: no allocation beyond the
    label lookup, nothing on the request path but a clock read. (What the HTTP protocol answers
    before the application, backend/api/http_protocol.py, is observed by whoever answered it.)"""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        began = time.perf_counter()
        status = [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            observe_request(
                scope["method"], getattr(route, "path", None) or "unmatched", status[0], time.perf_counter() - began
            )


def metrics_registry(engine: Engine) -> CollectorRegistry:
    """What ``/metrics`` serves: this process (or every process, in multiprocess mode) + the DB."""
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get(MULTIPROC_ENV):
        multiprocess.MultiProcessCollector(registry)  # type: ignore[no-untyped-call]
    else:
        from prometheus_client import REGISTRY

        registry.register(_Forward(REGISTRY))
    registry.register(DatabaseCollector(engine))
    return registry


class _Forward(Collector):
    def __init__(self, source: CollectorRegistry) -> None:
        self.source = source

    def collect(self) -> Iterator[Any]:
        yield from self.source.collect()


def render(registry: CollectorRegistry) -> bytes:
    return generate_latest(registry)


def prepare_multiprocess_dir(directory: Path) -> Path:
    """Empty (or create) the shared metrics directory before the processes start."""
    directory.mkdir(parents=True, exist_ok=True)
    for stale in directory.glob("*.db"):
        stale.unlink(missing_ok=True)
    return directory
