"""The indexing loop: read logs in block ranges, write events, mirror rows and the checkpoint in
one SQL transaction; detect reorganisations by block hash and roll back to the common ancestor."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import structlog
from hexbytes import HexBytes
from sqlalchemy import Engine, delete
from sqlmodel import Session, col, select
from web3 import Web3

from backend.chain.context import ChainContext
from backend.db.engine import session_scope
from backend.db.models import ChainCursor, ChainEvent, IndexedBlock
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.db.upsert import insert_ignore, upsert_replace
from backend.indexer.decoder import DecodedEvent, LogDecoder
from backend.indexer.handlers import access, loyalty, provenance
from backend.indexer.handlers.common import confirm_operations, stored_events, unconfirm_operations

log = structlog.get_logger(__name__)

CURSOR = "indexer"
HANDLERS = (loyalty, provenance, access)
REORG_WINDOW = 256


@dataclass(frozen=True)
class StepResult:
    from_block: int
    to_block: int
    events: int
    reorged_to: int | None = None


def deployment_fingerprint(ctx: ChainContext) -> str:
    parts = sorted(f"{name}:{c.address}:{c.block_hash}" for name, c in ctx.manifest.contracts.items())
    return Web3.keccak(text="|".join(parts)).to_0x_hex()


class Indexer:
    def __init__(self, engine: Engine, ctx: ChainContext, confirmations: int = 0, max_range: int = 2000) -> None:
        self.engine = engine
        self.ctx = ctx
        self.w3 = ctx.w3
        self.confirmations = confirmations
        self.max_range = max_range
        self.range = max_range
        self.deployment = deployment_fingerprint(ctx)
        self.decoder = LogDecoder({
            name: (c.address, c.abi) for name, c in ctx.manifest.contracts.items()
        })  # fmt: skip

    # -- reading -------------------------------------------------------------------------

    def _cursor(self) -> ChainCursor | None:
        with Session(self.engine) as session:
            return session.get(ChainCursor, CURSOR)

    def _block_hash(self, number: int) -> str | None:
        try:
            return HexBytes(self.w3.eth.get_block(number)["hash"]).to_0x_hex()
        except Exception:  # the block does not exist (any more) on this chain
            return None

    def _headers(self, numbers: list[int]) -> dict[int, Any]:
        headers: dict[int, Any] = {}
        for start in range(0, len(numbers), 100):
            with self.w3.batch_requests() as batch:
                for number in numbers[start : start + 100]:
                    batch.add(self.w3.eth.get_block(number))
                for block in batch.execute():
                    headers[int(block["number"])] = block  # type: ignore[typeddict-item]
        return headers

    # -- one step ------------------------------------------------------------------------

    def step(self) -> StepResult | None:
        """Index the next range of blocks; None when at head."""
        cursor = self._cursor()
        if cursor is not None and cursor.deployment != self.deployment:
            log.warning("indexer.deployment_changed", previous=cursor.deployment, current=self.deployment)
            self._rollback_to(self.ctx.manifest.start_block - 1, reset=True)
            cursor = None
        if cursor is not None and self._block_hash(cursor.block_number) != cursor.block_hash:
            ancestor = self._find_ancestor()
            log.warning("indexer.reorg", head=cursor.block_number, ancestor=ancestor)
            self._rollback_to(ancestor)
            return StepResult(ancestor, ancestor, 0, reorged_to=ancestor)

        head = int(self.w3.eth.block_number)
        target = head - self.confirmations
        start = self.ctx.manifest.start_block if cursor is None else cursor.block_number + 1
        if start > target:
            return None
        end = min(target, start + self.range - 1)
        try:
            logs = self.w3.eth.get_logs(
                {"address": self.decoder.addresses, "fromBlock": start, "toBlock": end}  # type: ignore[typeddict-item]
            )
        except Exception as exc:
            if self.range > 1 and _is_range_error(exc):
                self.range = max(1, self.range // 2)
                log.info("indexer.range_shrunk", range=self.range)
                return StepResult(start, start - 1, 0)
            raise
        events = [e for e in (self.decoder.decode(dict(entry)) for entry in logs) if e is not None]
        numbers = sorted({e.block_number for e in events} | {end})
        headers = self._headers(numbers)
        end_hash = HexBytes(headers[end]["hash"]).to_0x_hex()
        if any(e.block_hash != HexBytes(headers[e.block_number]["hash"]).to_0x_hex() for e in events):
            return StepResult(start, start - 1, 0)  # the chain moved under us: read again
        self._write(events, headers, end, end_hash)
        if self.range < self.max_range:
            self.range = min(self.max_range, self.range * 2)
        return StepResult(start, end, len(events))

    def _write(self, events: list[DecodedEvent], headers: dict[int, Any], end: int, end_hash: str) -> None:
        block_times = {n: int(h["timestamp"]) for n, h in headers.items()}
        with session_scope(self.engine) as session:
            insert_ignore(session, table_of(ChainEvent), ["block_hash", "tx_hash", "log_index"], [
                {
                    "block_number": e.block_number, "block_hash": e.block_hash, "tx_hash": e.tx_hash,
                    "log_index": e.log_index, "contract": e.contract, "name": e.name,
                    "args": json.dumps(e.args), "block_time": block_times.get(e.block_number, 0),
                }
                for e in events
            ])  # fmt: skip
            by_key: dict[str, int] = {}
            for handler in HANDLERS:
                by_key.update(handler.apply(session, events, block_times))
            confirm_operations(session, by_key, {e.tx_hash: e.block_number for e in events})
            upsert_replace(session, table_of(IndexedBlock), ["number"], [
                {
                    "number": n, "hash": HexBytes(h["hash"]).to_0x_hex(),
                    "parent_hash": HexBytes(h["parentHash"]).to_0x_hex(), "timestamp": int(h["timestamp"]),
                }
                for n, h in headers.items()
            ])  # fmt: skip
            table = table_of(IndexedBlock)
            session.execute(delete(table).where(table.c.number < end - REORG_WINDOW))
            self._save_cursor(session, end, end_hash)

    def _save_cursor(self, session: Session, number: int, block_hash: str) -> None:
        cursor = session.get(ChainCursor, CURSOR) or ChainCursor(
            name=CURSOR, chain_id=self.ctx.chain_id, deployment=self.deployment, block_number=0, block_hash=""
        )
        cursor.block_number = number
        cursor.block_hash = block_hash
        cursor.deployment = self.deployment
        cursor.updated_at = utcnow()
        session.add(cursor)

    # -- reorganisations -----------------------------------------------------------------

    def _find_ancestor(self) -> int:
        """Highest indexed block whose hash the chain still has (below it nothing changed)."""
        with Session(self.engine) as session:
            stored = session.exec(select(IndexedBlock).order_by(col(IndexedBlock.number).desc())).all()
        for block in stored:
            if self._block_hash(block.number) == block.hash:
                return block.number
        return self.ctx.manifest.start_block - 1

    def _rollback_to(self, ancestor: int, reset: bool = False) -> None:
        with session_scope(self.engine) as session:
            removed = stored_events(session, above_block=ancestor)
            events = table_of(ChainEvent)
            session.execute(delete(events).where(events.c.block_number > ancestor))
            for handler in HANDLERS:
                handler.rollback(session, removed, ancestor)
            unconfirm_operations(session, ancestor)
            blocks = table_of(IndexedBlock)
            session.execute(delete(blocks).where(blocks.c.number > ancestor))
            if reset or ancestor < self.ctx.manifest.start_block:
                cursor = session.get(ChainCursor, CURSOR)
                if cursor is not None:
                    session.delete(cursor)
            else:
                self._save_cursor(session, ancestor, self._block_hash(ancestor) or "")

    # -- loop ----------------------------------------------------------------------------

    def run(
        self,
        stop: threading.Event,
        poll_seconds: float = 0.2,
        on_error: Callable[[Exception], None] | None = None,
    ) -> None:
        backoff = poll_seconds
        while not stop.is_set():
            try:
                result = self.step()
            except Exception as exc:
                log.warning("indexer.error", error=str(exc), retry_in=backoff)
                if on_error is not None:
                    on_error(exc)
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = poll_seconds
            if result is None:
                stop.wait(poll_seconds)
            elif result.events:
                log.debug("indexer.step", start=result.from_block, end=result.to_block, events=result.events)

    def sync(self, timeout: float = 30.0) -> int:
        """Index until at head (tests, CLI); return the block reached."""
        deadline = time.monotonic() + timeout
        while self.step() is not None:
            if time.monotonic() > deadline:
                raise TimeoutError("indexer did not reach the head in time")
        cursor = self._cursor()
        return cursor.block_number if cursor else 0


def _is_range_error(exc: Exception) -> bool:
    text = str(exc).lower()
    return any(s in text for s in ("too many", "limit", "range", "timeout", "timed out", "10000"))
