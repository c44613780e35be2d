"""The outbox sender: turns pending operations into signed transactions, several in flight.

One round: read the ready operations, group them (the catalogue's batched kinds, awards, mints
and passport claims, into transactions of up to ``batch_size``, or the kind's ``max_batch``;
everything else alone; ``operations.py`` builds each call from the typed operation), simulate
each transaction (``eth_estimateGas``: a refusal fails the operation or splits the batch; a
batch that reverts once mined goes back to the queue and is simulated again, so one bad
operation never holds back the rest of its batch), then in **one SQL transaction** claim the
operations, take nonces, sign and record the raw transactions with the operations marked
``sent``; only after that commit are they broadcast (write-ahead). Receipts are collected later,
in one JSON-RPC batch per round, so up to ``max_in_flight`` transactions per signer are pipelined
instead of waiting for each one.

A crash at any point leaves either nothing recorded (the operations are still pending) or a
recorded raw transaction that recovery rebroadcasts, settles from its receipt, or finds dropped
(its nonce went to another transaction) and re-queues. Nothing is broadcast again before the
chain's nonce says it is not mined: some nodes (Ganache) execute a re-sent mined transaction
again instead of refusing it. On chain, loyalty operations carry their
outbox id, which the contract accepts once, so no retry can apply an operation twice.

Nonces come from SQL, not from ``eth_getTransactionCount`` per send: the next nonce is one more
than the highest recorded transaction of the signer that still holds its nonce, and at least the
chain's count (read once, and again after a "nonce too low"). A partial unique index on
(sender, nonce) makes two sender processes unable to record the same nonce.
"""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import requests
import structlog
from hexbytes import HexBytes
from sqlalchemy import Engine
from sqlmodel import Session
from web3 import Web3
from web3.types import TxParams

from backend.chain import outbox
from backend.chain.context import ChainContext
from backend.chain.local_signer import LocalSigner, TransactionFailed
from backend.chain.named_signers import Signers
from backend.chain.operations import BATCHED_KINDS, kind_of, operation_id_contract
from backend.chain.outbox import OpenTx
from backend.chain.reverts import Refusal, classify_refusal
from backend.db.engine import session_scope
from backend.db.models import ChainTransaction, Operation, OperationStatus
from backend.db.types import utcnow

log = structlog.get_logger(__name__)

RECEIPT_TIMEOUT = 30.0
REORG_CHECK_SECONDS = 5.0
# Tests only: SIGKILL the sender at a named point ("signed", "recorded", "broadcast") to prove
# that a crash there loses and duplicates nothing.
KILL_AT_ENV = "CREDANCE_FAULT_SENDER_KILL_AT"


@dataclass(frozen=True)
class SendResult:
    transactions: int
    operations: int
    due_in: float | None = None  # seconds until a partial batch is due (nothing else to do)


@dataclass
class _Built:
    signer: str
    ops: list[Operation]
    tx: TxParams


@dataclass
class _Recorded:
    hash: str
    signer: str
    sender: str
    nonce: int
    raw: bytes
    op_ids: list[int]


class ChainDown(RuntimeError):
    """The JSON-RPC endpoint did not answer."""


class Sender:
    def __init__(
        self,
        engine: Engine,
        ctx: ChainContext,
        signers: Signers,
        batch_size: int = 256,
        max_delay_ms: int = 200,
        max_in_flight: int = 16,
        receipt_timeout: float = RECEIPT_TIMEOUT,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.signers = signers
        self.batch_size = batch_size
        self.max_delay = timedelta(milliseconds=max_delay_ms)
        self.max_in_flight = max_in_flight
        self.receipt_timeout = receipt_timeout
        self._floors: dict[str, int] = {}  # sender address -> nonce count read from the chain
        self._broadcast_at: dict[str, float] = {}  # tx hash -> when we last broadcast it
        self._needs_recovery = True
        self._kill_at = os.environ.get(KILL_AT_ENV)
        self._paused_logged = 0.0

    # -- one round -----------------------------------------------------------------------

    def step(self) -> SendResult:
        """Collect receipts, then send what is ready (recovering first after a start or an error)."""
        if self._needs_recovery:
            self.recover()
        self.track()
        return self.send_ready()

    def send_ready(self) -> SendResult:
        with Session(self.engine) as session:
            pending = outbox.pending_summary(session, BATCHED_KINDS)
            if pending.count == 0:
                return SendResult(0, 0)
            if pending.unbatched == 0 and pending.count < self.batch_size and pending.oldest is not None:
                due_in = (pending.oldest + self.max_delay - utcnow()).total_seconds()
                if due_in > 0:  # a partial batch still waiting for company
                    return SendResult(0, 0, due_in=due_in)
            in_flight = outbox.in_flight_by_signer(session)
            ready = outbox.ready_operations(session, limit=self.batch_size * self.max_in_flight)
        built = self._build(self._plan(ready, in_flight))
        if not built:
            return SendResult(0, 0)
        recorded = self._record(built)
        self._broadcast(recorded)
        return SendResult(len(recorded), sum(len(r.op_ids) for r in recorded))

    def _plan(self, ready: list[Operation], in_flight: dict[str, int]) -> list[tuple[str, list[Operation]]]:
        """Group operations into transactions, within each signer's room for more in flight."""
        by_signer: dict[str, list[Operation]] = defaultdict(list)
        for op in ready:
            by_signer[op.signer].append(op)
        plan: list[tuple[str, list[Operation]]] = []
        now = utcnow()
        for signer, ops in by_signer.items():
            mine: list[tuple[str, list[Operation]]] = []
            batchable: dict[str, list[Operation]] = defaultdict(list)  # by kind
            for op in ops:
                if op.kind in BATCHED_KINDS:
                    batchable[op.kind].append(op)
            for kind, same_kind in batchable.items():
                size = min(self.batch_size, kind_of(kind).max_batch or self.batch_size)
                for start in range(0, len(same_kind), size):
                    chunk = same_kind[start : start + size]
                    # A partial batch waits up to max_delay for company.
                    if len(chunk) == size or now - chunk[0].created_at >= self.max_delay:
                        mine.append((signer, chunk))
            mine.extend((signer, [op]) for op in ops if op.kind not in BATCHED_KINDS)
            plan.extend(mine[: max(0, self.max_in_flight - in_flight.get(signer, 0))])
        return plan

    def _call_for(self, ops: list[Operation]) -> TxParams:
        """The transaction of a planned group: the catalogue's call for its kind (typed operation)."""
        kind = kind_of(ops[0].kind)
        if kind.batched:
            return kind.batch_call(self.ctx, ops)
        return kind.from_row(ops[0]).call(self.ctx, ops[0].id or 0)

    def _build(self, plan: list[tuple[str, list[Operation]]]) -> list[_Built]:
        """Simulate and fill in gas and fees; a refused batch is split to isolate the bad operation."""
        built: list[_Built] = []
        queue = list(plan)
        while queue:
            signer_name, ops = queue.pop(0)
            signer = self.signers.get(signer_name)
            try:
                built.append(_Built(signer_name, ops, signer.build(self._call_for(ops))))
            except TransactionFailed as exc:
                queue.extend(self._refused(signer_name, ops, exc))
            except (ValueError, TypeError) as exc:  # a value the ABI cannot encode
                queue.extend(self._refused(signer_name, ops, TransactionFailed(f"cannot encode: {exc}")))
            except requests.RequestException as exc:
                raise ChainDown(str(exc)) from exc
        return built

    def _refused(self, signer: str, ops: list[Operation], exc: TransactionFailed) -> list[tuple[str, list[Operation]]]:
        """The chain refuses the call in simulation; return what to try again this round."""
        refusal = classify_refusal(exc.error_name)
        if refusal is Refusal.WAIT:
            # An emergency pause is not a verdict on the operations: they wait, pending, for unpause.
            if time.monotonic() - self._paused_logged > 30:
                log.warning("sender.paused", operations=len(ops), error=exc.error_name)
                self._paused_logged = time.monotonic()
            return []
        if refusal is Refusal.ALREADY_APPLIED:
            # Applied by an earlier transaction of ours: the indexer confirms them from the event.
            # The others of the batch are planned again at once; if the contract shows none
            # applied yet, they wait (pending) rather than fail an operation a transaction may
            # still apply.
            is_applied = self.ctx.contract(operation_id_contract(ops[0].kind)).functions.isOperationApplied
            applied = [op for op in ops if is_applied(op.id).call()]
            rest = [op for op in ops if op not in applied]
            if applied:
                with session_scope(self.engine) as session:
                    outbox.set_status(session, [op.id for op in applied if op.id], OperationStatus.SENT, None)
                log.warning("sender.already_applied", operations=[op.id for op in applied])
            return [(signer, rest)] if rest and applied else []
        if len(ops) > 1:
            # One bad operation must not block the others: halve until it is alone.
            half = len(ops) // 2
            return [(signer, ops[:half]), (signer, ops[half:])]
        with session_scope(self.engine) as session:
            outbox.set_status(session, [ops[0].id or 0], OperationStatus.FAILED, str(exc))
        log.error("sender.refused", operation=ops[0].id, kind=ops[0].kind, error=str(exc))
        return []

    def _record(self, built: list[_Built]) -> list[_Recorded]:
        """Claim, take nonces, sign and record, in one SQL transaction (the write-ahead)."""
        recorded: list[_Recorded] = []
        with session_scope(self.engine) as session:
            claimed = outbox.claim(session, [op.id for b in built for op in b.ops if op.id is not None])
            next_nonce: dict[str, int] = {}
            for item in built:
                ids = [op.id for op in item.ops if op.id is not None]
                if not claimed.issuperset(ids):
                    continue  # another sender took some of them: plan again next round
                signer = self.signers.get(item.signer)
                nonce = next_nonce.get(signer.address)
                if nonce is None:
                    nonce = self._first_nonce(session, signer)
                next_nonce[signer.address] = nonce + 1
                unsigned: dict[str, Any] = dict(item.tx)
                unsigned["nonce"] = nonce
                signed = signer.account.sign_transaction(unsigned)
                tx_hash = HexBytes(signed.hash).to_0x_hex()
                outbox.record(
                    session,
                    ChainTransaction(
                        hash=tx_hash,
                        signer=item.signer,
                        sender=signer.address,
                        nonce=nonce,
                        raw=HexBytes(signed.raw_transaction).to_0x_hex(),
                    ),
                    ids,
                )
                recorded.append(_Recorded(tx_hash, item.signer, signer.address, nonce, signed.raw_transaction, ids))
            self._maybe_die("signed")
        self._maybe_die("recorded")
        return recorded

    def _first_nonce(self, session: Session, signer: LocalSigner) -> int:
        highest = outbox.highest_live_nonce(session, signer.address)
        floor = self._floor(signer.address)
        return floor if highest is None else max(floor, highest + 1)

    def _floor(self, address: str) -> int:
        if address not in self._floors:
            self._floors[address] = int(
                self.ctx.w3.eth.get_transaction_count(Web3.to_checksum_address(address), "pending")
            )
        return self._floors[address]

    def _broadcast(self, recorded: list[_Recorded]) -> None:
        for tx in sorted(recorded, key=lambda r: (r.sender, r.nonce)):
            self._send_raw(OpenTx(tx.hash, tx.signer, tx.sender, tx.nonce, HexBytes(tx.raw).to_0x_hex()))
            log.info("sender.sent", tx=tx.hash, signer=tx.signer, nonce=tx.nonce, operations=len(tx.op_ids))
            self._maybe_die("broadcast")

    def _send_raw(self, tx: OpenTx) -> None:
        """Broadcast a recorded transaction. Chain down: raise (recovery rebroadcasts later)."""
        self._broadcast_at[tx.hash] = time.monotonic()
        try:
            self.ctx.w3.eth.send_raw_transaction(HexBytes(tx.raw))
        except requests.RequestException as exc:
            self._needs_recovery = True
            raise ChainDown(str(exc)) from exc
        except Exception as exc:
            message = str(exc).lower()
            if "already known" in message or "already imported" in message:
                return
            if "nonce too low" in message:
                # Mined already, or its nonce went to another transaction (replaced).
                self._floors.pop(tx.sender, None)
                self._settle_or_drop([tx], "nonce too low")
                return
            if "replacement transaction underpriced" in message:
                # Another transaction holds this nonce in the node's pool: look at the nonce on
                # the next round (settle, drop and re-queue, or rebroadcast) instead of after the
                # receipt timeout. The contract's operation ids keep a double send harmless.
                self._broadcast_at[tx.hash] = float("-inf")
            # Insufficient funds, a node hiccup…: keep it; tracking retries it.
            log.warning("sender.broadcast_failed", tx=tx.hash, error=str(exc))

    def _maybe_die(self, point: str) -> None:
        if self._kill_at == point:
            log.warning("sender.fault_injected", point=point)
            os.kill(os.getpid(), signal.SIGKILL)

    # -- receipts, timeouts and recovery -------------------------------------------------

    def _receipts(self, hashes: list[str]) -> dict[str, dict[str, Any] | None]:
        """Receipts of many transactions in JSON-RPC batches (None: not mined)."""
        found: dict[str, dict[str, Any] | None] = {}
        for start in range(0, len(hashes), 100):
            chunk = hashes[start : start + 100]
            try:
                responses = self.ctx.w3.provider.make_batch_request(  # type: ignore[attr-defined]
                    [("eth_getTransactionReceipt", [h]) for h in chunk]
                )
            except requests.RequestException as exc:
                self._needs_recovery = True
                raise ChainDown(str(exc)) from exc
            if not isinstance(responses, list):
                raise ChainDown(f"receipt batch failed: {responses}")
            by_id = sorted(responses, key=lambda r: int(r.get("id", 0)))
            for tx_hash, response in zip(chunk, by_id, strict=True):
                found[tx_hash] = response.get("result")
        return found

    def _settle_all(self, receipts: dict[str, dict[str, Any] | None]) -> None:
        mined = {h: r for h, r in receipts.items() if r is not None}
        if not mined:
            return
        with session_scope(self.engine) as session:
            for tx_hash, receipt in mined.items():
                outbox.settle(session, tx_hash, int(receipt["status"], 16) == 1, int(receipt["blockNumber"], 16))
        for tx_hash in mined:
            self._broadcast_at.pop(tx_hash, None)

    def track(self) -> None:
        """Settle the transactions in flight that are mined; look into those that take too long."""
        with Session(self.engine) as session:
            open_txs = outbox.open_transactions(session)
        if not open_txs:
            return
        receipts = self._receipts([tx.hash for tx in open_txs])
        self._settle_all(receipts)
        now = time.monotonic()
        waiting = [tx for tx in open_txs if receipts.get(tx.hash) is None]
        stale = [tx for tx in waiting if now - self._broadcast_at.setdefault(tx.hash, now) > self.receipt_timeout]
        if stale:
            self._unstick(waiting, stale)

    def _unstick(self, waiting: list[OpenTx], stale: list[OpenTx]) -> None:
        """Receipt timeout: dropped or replaced (nonce used) → re-queue; behind a nonce gap that
        nobody will fill → re-queue all; otherwise the node may have lost it → rebroadcast."""
        self._rebroadcast(waiting, only=stale)

    def _rebroadcast(self, waiting: list[OpenTx], only: list[OpenTx] | None = None) -> int:
        """Broadcast recorded transactions again, never one whose nonce the chain has used.

        Not every node refuses a mined transaction sent again: Ganache executes it a second time
        and never answers "nonce too low", and it holds a transaction with a future nonce without
        mining it. So, per signer, the chain's nonce comes first: a transaction below it is mined
        (settled from its receipt) or replaced (dropped, its operations re-queued); a gap before
        the lowest waiting one is never filled (all re-queued); the rest are sent again, in
        nonce order. ``only`` narrows what is sent to those (the others still count for gaps).
        Return how many were sent."""
        sent = 0
        for sender in sorted({tx.sender for tx in (only if only is not None else waiting)}):
            chain_nonce = int(self.ctx.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest"))
            mine = sorted((tx for tx in waiting if tx.sender == sender), key=lambda t: t.nonce)
            consumed = [tx for tx in mine if tx.nonce < chain_nonce]
            if consumed:
                self._settle_or_drop(consumed, "nonce used by another transaction")
            rest = [tx for tx in mine if tx.nonce >= chain_nonce]
            if rest and rest[0].nonce > chain_nonce:
                with session_scope(self.engine) as session:
                    outbox.drop(session, [tx.hash for tx in rest], f"nonce gap at {chain_nonce}")
                self._floors[sender] = chain_nonce
                log.warning("sender.nonce_gap", sender=sender, chain_nonce=chain_nonce, requeued=len(rest))
                continue
            for tx in rest:
                if only is None or tx in only:
                    log.warning("sender.rebroadcast", tx=tx.hash, nonce=tx.nonce)
                    self._send_raw(tx)
                    sent += 1
        return sent

    def _settle_or_drop(self, txs: list[OpenTx], reason: str) -> None:
        receipts = self._receipts([tx.hash for tx in txs])
        self._settle_all(receipts)
        dropped = [tx.hash for tx in txs if receipts.get(tx.hash) is None]
        if dropped:
            with session_scope(self.engine) as session:
                outbox.drop(session, dropped, reason)
            log.warning("sender.dropped", txs=dropped, reason=reason)

    def check_reorged(self, older_than: float = REORG_CHECK_SECONDS) -> int:
        """Transactions marked mined whose operations stay unconfirmed: if their receipt is gone
        (reorganisation, chain restored from an older state), wait for them again."""
        with Session(self.engine) as session:
            suspects = outbox.mined_but_unconfirmed(session, utcnow() - timedelta(seconds=older_than))
        if not suspects:
            return 0
        receipts = self._receipts([tx.hash for tx in suspects])
        self._settle_all(receipts)  # still mined: confirms again what only a receipt confirms
        gone = [tx for tx in suspects if receipts.get(tx.hash) is None]
        if gone:
            with session_scope(self.engine) as session:
                for tx in gone:
                    outbox.reopen(session, tx.hash)
            log.warning("sender.reorged_out", txs=[tx.hash for tx in gone])
            for sender in sorted({tx.sender for tx in gone}):
                # The node dropped them with their block: broadcast them again, unless the chain
                # has used their nonce since (mined again, or replaced).
                chain_nonce = int(self.ctx.w3.eth.get_transaction_count(Web3.to_checksum_address(sender), "latest"))
                mine = sorted((tx for tx in gone if tx.sender == sender), key=lambda t: t.nonce)
                used = [tx for tx in mine if tx.nonce < chain_nonce]
                if used:
                    self._settle_or_drop(used, "nonce used by another transaction")
                for tx in mine:
                    if tx.nonce >= chain_nonce:
                        self._send_raw(tx)
        return len(gone)

    def recover(self) -> int:
        """After a start or an outage: settle what was mined, then rebroadcast every recorded
        transaction still waiting whose nonce the chain has not used, in nonce order (the node
        may never have seen it, or may have lost it in a restart). Return how many were
        rebroadcast."""
        self._floors.clear()
        self.check_reorged(older_than=0)
        with Session(self.engine) as session:
            open_txs = outbox.open_transactions(session)
        receipts = self._receipts([tx.hash for tx in open_txs]) if open_txs else {}
        self._settle_all(receipts)
        waiting = [tx for tx in open_txs if receipts.get(tx.hash) is None]
        sent = self._rebroadcast(waiting) if waiting else 0
        if waiting:
            log.info("sender.recovered", rebroadcast=sent, waiting=len(waiting))
        self._needs_recovery = False
        return sent

    # -- loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event, poll_seconds: float = 0.05) -> None:
        backoff = poll_seconds
        checked_at = time.monotonic()
        while not stop.is_set():
            try:
                if time.monotonic() - checked_at > REORG_CHECK_SECONDS:
                    self.check_reorged()
                    checked_at = time.monotonic()
                result = self.step()
            except Exception as exc:
                log.warning("sender.error", error=str(exc), retry_in=backoff)
                self._needs_recovery = True
                stop.wait(backoff)
                backoff = min(backoff * 2, 5.0)
                continue
            backoff = poll_seconds
            if result.transactions == 0:
                # Sleep the poll interval, or less when a partial batch falls due sooner.
                stop.wait(min(poll_seconds, result.due_in) if result.due_in else poll_seconds)
