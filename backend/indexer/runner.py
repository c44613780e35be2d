"""The indexing loop: read logs in block ranges, write events, mirror rows and the checkpoint in
one SQL transaction; detect reorganisations by block hash and roll back to the common ancestor.

One step:

1. Read the cursor (the mirrored block and its hash). Ask the node, in one batch, for the head,
   the block at the cursor and the block that would end the next range.
2. If the node's block at the cursor has another hash, the chain reorganised: walk the stored
   recent blocks down to the highest one the chain still has (the common ancestor), roll back
   every row above it in one transaction, and let the next steps re-apply the new branch.
   An Anvil restart or reset is the same case (its blocks are missing or different); a new
   deployment (another manifest) rolls back everything.
3. ``eth_getLogs`` over the range; the range grows after a success, shrinks when the node says
   "too many results" or times out, and aims at ``target_events`` per step while catching up,
   ``head_target_events`` once at the head (see ``HEAD_TARGET_EVENTS``).
4. Check the range's first block names our head as parent, and its last block is unchanged
   since step 1 (the logs came from one chain). Then write the events, the handlers' rows,
   the outbox confirmations and the cursor in **one transaction** that first checks the cursor
   is still the one read in step 1 (compare-and-set: two indexers can never apply a range twice).

The mirror follows the head; ``confirmations`` (``CREDANCE_CONFIRMATIONS``) only defines which
mirrored blocks count as confirmed (the ``confirmed`` view, see ``backend/indexer/confirmed.py``).
"""

from __future__ import annotations

import json
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from sqlalchemy import Engine, delete
from sqlalchemy import exc as sa_exc
from sqlmodel import Session, col, select
from web3 import Web3

from backend.chain.context import ChainContext
from backend.db.direct import bulk_insert
from backend.db.engine import session_scope
from backend.db.models import ChainCursor, ChainEvent, IndexedBlock
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.db.upsert import upsert_replace
from backend.indexer.confirmations import Confirmations, confirm_operations, confirmations_of, unconfirm_operations
from backend.indexer.decoder import DecodedEvent, LogDecoder, MalformedLog
from backend.indexer.handlers import route
from backend.indexer.handlers.common import stored_events
from backend.indexer.leader import Leadership
from backend.indexer.rpc import Header, JsonRpc, RangeTooLarge, RpcError
from backend.observability import (
    INDEXER_ERRORS,
    INDEXER_LEADER,
    INDEXER_RANGE,
    INDEXER_SKIPPED_LOGS,
    INDEXER_STEP_SECONDS,
)

log = structlog.get_logger(__name__)

CURSOR = "indexer"
REORG_WINDOW = 256  # recent blocks kept to find a common ancestor; a deeper reorg re-indexes all
TARGET_EVENTS = 20_000  # per step: amortises the transaction, bounds memory and the write lock
# At the head the API's purchases and the sender write at the same time, and on SQLite every
# writer waits while ours holds the one write lock: a step of two dense blocks (about 400 events)
# held it 15 ms at the median and 38 ms at the 99th percentile, which was the checkout's p99. So
# at the head the steps aim at about one dense block each (a block's events are never split).
HEAD_TARGET_EVENTS = 256
TOUCH_SECONDS = 2.0  # how often an idle indexer records the head it sees
MAX_BACKOFF = 30.0
FIRST_RANGE = 50
PROBE_EVERY = 256  # successful steps before trying a wider range than the node last refused


@dataclass(frozen=True)
class StepResult:
    from_block: int
    to_block: int
    events: int
    reorged_to: int | None = None
    skipped: int = 0


class CursorMoved(RuntimeError):
    """Another writer moved the cursor since this step read it: the step is dropped, nothing written."""


@dataclass(frozen=True)
class CursorState:
    block_number: int
    block_hash: str  # "" when nothing is mirrored yet
    deployment: str
    exists: bool

    @property
    def mirrored(self) -> bool:
        return self.exists and self.block_hash != ""


NOTHING = CursorState(-1, "", "", exists=False)


def deployment_fingerprint(ctx: ChainContext) -> str:
    parts = sorted(f"{name}:{c.address}:{c.block_hash}" for name, c in ctx.manifest.contracts.items())
    return Web3.keccak(text="|".join(parts)).to_0x_hex()


def _endpoint(ctx: ChainContext) -> str:
    uri = getattr(ctx.w3.provider, "endpoint_uri", None)
    if not uri:
        raise ValueError("the indexer needs an HTTP JSON-RPC endpoint")
    return str(uri)


def dump_args(args: dict[str, Any]) -> str:
    try:
        return orjson.dumps(args).decode()
    except TypeError:  # an integer beyond 64 bits
        return json.dumps(args)


class Indexer:
    def __init__(
        self,
        engine: Engine,
        ctx: ChainContext,
        confirmations: int = 0,
        max_range: int = 2000,
        *,
        target_events: int = TARGET_EVENTS,
        head_target_events: int = HEAD_TARGET_EVENTS,
        rpc: JsonRpc | None = None,
        reload: Callable[[], ChainContext | None] | None = None,
    ) -> None:
        self.engine = engine
        self.confirmations = confirmations
        self.max_range = max_range
        self.range = min(max_range, FIRST_RANGE)  # grows from here: one dense block range can hold 100,000s of logs
        self.ceiling = max_range  # widest range the node accepted (lowered when it refuses)
        self.successes = 0
        self.target_events = target_events
        self.head_target_events = min(head_target_events, target_events)
        self.rpc = rpc or JsonRpc(_endpoint(ctx))
        self.reload = reload
        self.head = 0
        self._touched = 0.0
        self._touched_head = -1
        self._use(ctx)

    def _use(self, ctx: ChainContext) -> None:
        self.ctx = ctx
        self.deployment = deployment_fingerprint(ctx)
        self.decoder = LogDecoder({name: (c.address, c.abi) for name, c in ctx.manifest.contracts.items()})

    def refresh_deployment(self) -> bool:
        """Pick up a new deployment manifest (e.g. after an Anvil reset and redeploy)."""
        if self.reload is None:
            return False
        ctx = self.reload()
        if ctx is None or deployment_fingerprint(ctx) == self.deployment:
            return False
        log.warning("indexer.new_deployment", deployment=deployment_fingerprint(ctx))
        self._use(ctx)
        return True

    @property
    def start_block(self) -> int:
        return self.ctx.manifest.start_block

    # -- the cursor ----------------------------------------------------------------------

    def _read_cursor(self) -> CursorState:
        with Session(self.engine) as session:
            cursor = session.get(ChainCursor, CURSOR)
        if cursor is None:
            return NOTHING
        return CursorState(cursor.block_number, cursor.block_hash, cursor.deployment, exists=True)

    def _claim_cursor(self, session: Session, expected: CursorState) -> ChainCursor:
        """Lock the cursor row for this transaction and check nobody moved it (compare-and-set)."""
        row = session.exec(select(ChainCursor).where(col(ChainCursor.name) == CURSOR).with_for_update()).first()
        found = NOTHING if row is None else CursorState(row.block_number, row.block_hash, row.deployment, True)
        if found != expected:
            raise CursorMoved(f"cursor moved from {expected.block_number} to {found.block_number}")
        if row is None:
            row = ChainCursor(
                name=CURSOR, chain_id=self.ctx.chain_id, deployment=self.deployment, block_number=0, block_hash=""
            )
        return row

    def _advance(self, session: Session, row: ChainCursor, number: int, block_hash: str, events: int) -> None:
        row.chain_id = self.ctx.chain_id
        row.deployment = self.deployment
        row.block_number = number
        row.block_hash = block_hash
        row.head_block = max(self.head, number)
        row.confirmations = self.confirmations
        row.events_total += events
        row.updated_at = row.checked_at = utcnow()
        session.add(row)

    def _touch(self, latest: Header) -> None:
        """Record the head an idle indexer sees (throttled: it is a write)."""
        now = time.monotonic()
        if now - self._touched < TOUCH_SECONDS and latest.number == self._touched_head:
            return
        with session_scope(self.engine) as session:
            row = session.get(ChainCursor, CURSOR)
            if row is not None:
                row.head_block = latest.number
                row.confirmations = self.confirmations
                row.checked_at = utcnow()
                session.add(row)
        self._touched, self._touched_head = now, latest.number

    # -- one step ------------------------------------------------------------------------

    def step(self) -> StepResult | None:
        """Index the next range of blocks (or roll back a reorganisation); None when at head."""
        cursor = self._read_cursor()
        if cursor.exists and cursor.deployment != self.deployment:
            log.warning("indexer.deployment_changed", previous=cursor.deployment, current=self.deployment)
            self._rollback(cursor, -1)
            return StepResult(-1, -1, 0, reorged_to=-1)

        start = cursor.block_number + 1 if cursor.mirrored else self.start_block
        guess_end = start + self.range - 1
        probes = ["latest", hex(guess_end)] + ([hex(cursor.block_number)] if cursor.mirrored else [])
        answers = self.rpc.batch([("eth_getBlockByNumber", [probe, False]) for probe in probes])
        if answers[0] is None:
            raise RpcError("the node has no latest block")
        latest = Header.from_json(answers[0])
        self.head = latest.number
        if cursor.mirrored:
            at_cursor = answers[2]
            if at_cursor is None or at_cursor["hash"].lower() != cursor.block_hash:
                return self._handle_reorg(cursor)

        if start > latest.number:
            self._touch(latest)
            return None
        end = min(latest.number, guess_end)
        end_before = latest if end == latest.number else Header.from_json(answers[1])

        try:
            raw = self.rpc.get_logs(self.decoder.addresses, start, end)
        except RangeTooLarge as exc:
            span = end - start + 1
            if span == 1:
                raise
            # Remember the node's limit, so that growing again stops short of it.
            self.ceiling = max(1, span - 1)
            self.range = max(1, span // 2)
            INDEXER_RANGE.set(self.range)
            log.info("indexer.range_shrunk", range=self.range, reason=str(exc)[:200])
            return StepResult(start, start - 1, 0)
        events, skipped = self._decode(raw)

        wanted = {start, end}
        if any(entry.get("blockTimestamp") is None for entry in raw):
            wanted |= {e.block_number for e in events}
        headers = self.rpc.headers(wanted)
        first, last = headers.get(start), headers.get(end)
        if last is None or last.hash != end_before.hash or first is None:
            log.info("indexer.chain_moved", start=start, end=end)
            return StepResult(start, start - 1, 0)
        if cursor.mirrored and first.parent_hash != cursor.block_hash:
            return self._handle_reorg(cursor)
        if any(e.block_number in headers and headers[e.block_number].hash != e.block_hash for e in events):  # type: ignore[union-attr]
            log.info("indexer.chain_moved", start=start, end=end)
            return StepResult(start, start - 1, 0)

        block_times = {h.number: h.timestamp for h in headers.values() if h is not None}
        for entry in raw:
            if entry.get("blockTimestamp") is not None:
                block_times.setdefault(int(entry["blockNumber"], 16), int(entry["blockTimestamp"], 16))
        self._write(cursor, events, [h for h in headers.values() if h is not None], block_times, last)
        self._adapt_range(end - start + 1, len(events), at_head=end == latest.number)
        return StepResult(start, end, len(events), skipped=skipped)

    def _decode(self, raw: list[dict[str, Any]]) -> tuple[list[DecodedEvent], int]:
        events: list[DecodedEvent] = []
        skipped = 0
        for entry in raw:
            try:
                event = self.decoder.decode(entry)
            except (MalformedLog, KeyError, ValueError, TypeError) as exc:
                log.warning("indexer.malformed_log", tx=entry.get("transactionHash"), error=str(exc)[:200])
                event = None
            if event is None:
                skipped += 1
            else:
                events.append(event)
        if skipped:
            INDEXER_SKIPPED_LOGS.inc(skipped)
        return events, skipped

    def _adapt_range(self, blocks: int, events: int, at_head: bool = False) -> None:
        """Aim at ``target_events`` per step (``head_target_events`` at the head); grow after a
        success, up to the node's known limit (probed again now and then: a timeout under load
        is not a permanent limit)."""
        self.successes += 1
        if self.successes % PROBE_EVERY == 0:
            self.ceiling = min(self.max_range, self.ceiling + max(1, self.ceiling // 2))
        target = self.head_target_events if at_head else self.target_events
        if events > target:
            self.range = max(1, blocks * target // events)
        elif events < target // 2 and blocks >= self.range:
            self.range = min(self.max_range, self.ceiling, self.range * 2)
        INDEXER_RANGE.set(self.range)

    def _write(
        self,
        cursor: CursorState,
        events: list[DecodedEvent],
        headers: list[Header],
        block_times: dict[int, int],
        last: Header,
    ) -> None:
        with session_scope(self.engine) as session:
            row = self._claim_cursor(session, cursor)
            apply_events(session, events, block_times)
            upsert_replace(
                session,
                table_of(IndexedBlock),
                ["number"],
                [
                    {"number": h.number, "hash": h.hash, "parent_hash": h.parent_hash, "timestamp": h.timestamp}
                    for h in headers
                ],
            )
            blocks = table_of(IndexedBlock)
            session.execute(delete(blocks).where(blocks.c.number < last.number - REORG_WINDOW))
            self._advance(session, row, last.number, last.hash, len(events))

    # -- reorganisations -----------------------------------------------------------------

    def _handle_reorg(self, cursor: CursorState) -> StepResult:
        ancestor = self._find_ancestor(cursor)
        log.warning("indexer.reorg", head=cursor.block_number, ancestor=ancestor)
        self._rollback(cursor, ancestor)
        return StepResult(ancestor, ancestor, 0, reorged_to=ancestor)

    def _find_ancestor(self, cursor: CursorState) -> int:
        """Highest stored block whose hash the chain still has (below it nothing changed)."""
        with Session(self.engine) as session:
            blocks = table_of(IndexedBlock)
            stored = session.execute(
                select(blocks.c.number, blocks.c.hash)
                .where(blocks.c.number <= cursor.block_number)
                .order_by(blocks.c.number.desc())
            ).all()
        for start in range(0, len(stored), 64):
            chunk = stored[start : start + 64]
            chain = self.rpc.headers([number for number, _ in chunk])
            for number, block_hash in chunk:
                header = chain.get(number)
                if header is not None and header.hash == block_hash:
                    return int(number)
        return self.start_block - 1  # nothing in the window survived: re-index from the deployment

    def _rollback(self, cursor: CursorState, ancestor: int) -> None:
        """Undo every mirrored row above ``ancestor`` (-1: everything), in one transaction."""
        with session_scope(self.engine) as session:
            row = self._claim_cursor(session, cursor)
            rollback_above(session, ancestor)
            kept = session.get(IndexedBlock, ancestor) if ancestor >= self.start_block else None
            self._advance(session, row, max(ancestor, 0), kept.hash if kept else "", 0)
            row.reorgs_total += 1

    # -- loop ----------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        poll_seconds: float = 0.2,
        on_error: Callable[[Exception], None] | None = None,
        leadership: Leadership | None = None,
    ) -> None:
        """Index until ``stop`` is set. Every failure is logged, counted and retried with backoff."""
        leadership = leadership or Leadership(self.engine)
        failures = 0
        refreshed = time.monotonic()
        leading: bool | None = None
        try:
            while not stop.is_set():
                try:
                    if not leadership.acquire():
                        if leading is not False:
                            log.info("indexer.standby", reason="another indexer leads")
                        leading = False
                        INDEXER_LEADER.set(0)
                        stop.wait(max(poll_seconds, 1.0))
                        continue
                    if leading is not True:
                        log.info("indexer.leading")
                    leading = True
                    INDEXER_LEADER.set(1)
                    if time.monotonic() - refreshed > 5.0:
                        refreshed = time.monotonic()
                        self.refresh_deployment()
                    began = time.perf_counter()
                    result = self.step()
                except Exception as exc:
                    failures += 1
                    kind = _error_kind(exc)
                    INDEXER_ERRORS.labels(kind).inc()
                    delay = 0.0 if kind == "moved" else _backoff(failures, poll_seconds)
                    log.warning(
                        "indexer.error",
                        kind=kind,
                        error=str(exc)[:500],
                        retry_in=round(delay, 2),
                        exc_info=kind == "other",
                    )
                    if on_error is not None:
                        on_error(exc)
                    stop.wait(delay)
                    continue
                failures = 0
                outcome = "idle" if result is None else "reorg" if result.reorged_to is not None else "range"
                INDEXER_STEP_SECONDS.labels(outcome).observe(time.perf_counter() - began)
                if result is None:
                    stop.wait(poll_seconds)
                elif result.events:
                    log.debug("indexer.step", start=result.from_block, end=result.to_block, events=result.events)
        finally:
            leadership.release()
            INDEXER_LEADER.set(0)

    def sync(self, timeout: float = 30.0) -> int:
        """Index until at head (tests, CLI); return the block reached."""
        deadline = time.monotonic() + timeout
        while self.step() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("indexer did not reach the head in time")
        cursor = self._read_cursor()
        return cursor.block_number if cursor.mirrored else 0


def apply_events(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> Confirmations:
    """Write events, every handler's rows and the outbox confirmations (inside the caller's transaction);
    return the confirmations found."""
    bulk_insert(
        session,
        table_of(ChainEvent),
        [
            {
                "block_number": e.block_number,
                "block_hash": e.block_hash,
                "tx_hash": e.tx_hash,
                "log_index": e.log_index,
                "contract": e.contract,
                "name": e.name,
                "args": dump_args(e.args),
                "block_time": block_times.get(e.block_number, 0),
                "topic1": e.topic(1),
                "topic2": e.topic(2),
            }
            for e in events
        ],
    )
    for handler, mine in route(events):
        if mine:
            handler.apply(session, mine, block_times)
    found = confirmations_of(events)
    confirm_operations(session, found, {e.tx_hash: e.block_number for e in events})
    return found


def rollback_above(session: Session, ancestor: int) -> int:
    """Remove every event above ``ancestor`` and undo its effects (inside the caller's transaction)."""
    removed = stored_events(session, above_block=ancestor)
    events = table_of(ChainEvent)
    session.execute(delete(events).where(events.c.block_number > ancestor))
    for handler, mine in route(removed):
        handler.rollback(session, mine, ancestor)
    unconfirm_operations(session, ancestor)
    blocks = table_of(IndexedBlock)
    session.execute(delete(blocks).where(blocks.c.number > ancestor))
    return len(removed)


def _error_kind(exc: Exception) -> str:
    if isinstance(exc, CursorMoved):
        return "moved"
    if isinstance(exc, RpcError):
        return "rpc"
    if isinstance(exc, sa_exc.OperationalError | sa_exc.InterfaceError | sa_exc.DBAPIError):
        return "database"
    return "other"


def _backoff(failures: int, base: float) -> float:
    """Exponential backoff with jitter, so a fleet of indexers does not retry in lockstep."""
    delay: float = min(MAX_BACKOFF, max(base, 0.1) * 2 ** min(failures, 10))
    return delay * (0.5 + random.random() / 2)  # noqa: S311 (jitter, not security)
