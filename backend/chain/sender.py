"""The outbox sender: turns pending operations into signed transactions.

Write-ahead: a transaction is signed, then recorded in SQL with its operations marked ``sent``,
and only then broadcast. A crash at any point leaves either nothing sent (operations still
pending) or a recorded raw transaction that recovery rebroadcasts or finds dropped. On chain,
loyalty operations carry their outbox id, which the contract accepts once, so a retry can never
apply an operation twice.
"""

from __future__ import annotations

import threading
import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import structlog
from hexbytes import HexBytes
from sqlalchemy import Engine, case, or_, update
from sqlalchemy.orm import aliased
from sqlmodel import Session, col, select
from web3 import Web3
from web3.exceptions import TimeExhausted
from web3.types import Nonce, TxParams

from backend.chain.calls import BATCHED_KINDS, CONFIRMED_BY_RECEIPT, award_batch_call, single_call
from backend.chain.context import ChainContext
from backend.chain.signer import LocalSigner, TransactionFailed
from backend.chain.signers import Signers
from backend.db.engine import session_scope
from backend.db.models import ChainTransaction, Operation, OperationStatus
from backend.db.schema import table_of
from backend.db.types import utcnow

log = structlog.get_logger(__name__)

MAX_ATTEMPTS = 5
RECEIPT_TIMEOUT = 30.0


@dataclass(frozen=True)
class SendResult:
    transactions: int
    operations: int


class Sender:
    def __init__(
        self,
        engine: Engine,
        ctx: ChainContext,
        signers: Signers,
        batch_size: int = 256,
        max_delay_ms: int = 200,
    ) -> None:
        self.engine = engine
        self.ctx = ctx
        self.signers = signers
        self.batch_size = batch_size
        self.max_delay = timedelta(milliseconds=max_delay_ms)

    # -- selection -----------------------------------------------------------------------

    def _ready(self, session: Session, limit: int) -> list[Operation]:
        """Pending operations whose dependency (if any) is confirmed, oldest first."""
        dependency = aliased(Operation)
        query = (
            select(Operation)
            .outerjoin(dependency, col(Operation.depends_on) == dependency.id)
            .where(
                col(Operation.status) == OperationStatus.PENDING,
                or_(col(Operation.depends_on).is_(None), col(dependency.status) == OperationStatus.CONFIRMED),
            )
            .order_by(col(Operation.id))
            .limit(limit)
        )
        return list(session.exec(query).all())

    def _plan(self, ready: list[Operation]) -> list[tuple[str, list[Operation]]]:
        """Group operations into transactions: awards in batches, everything else alone."""
        by_signer: dict[str, list[Operation]] = defaultdict(list)
        for op in ready:
            by_signer[op.signer].append(op)
        plan: list[tuple[str, list[Operation]]] = []
        now = utcnow()
        for signer, ops in by_signer.items():
            awards = [op for op in ops if op.kind in BATCHED_KINDS]
            full = len(awards) >= self.batch_size
            if awards and (full or now - awards[0].created_at >= self.max_delay):
                for start in range(0, len(awards), self.batch_size):
                    chunk = awards[start : start + self.batch_size]
                    if len(chunk) == self.batch_size or now - chunk[0].created_at >= self.max_delay:
                        plan.append((signer, chunk))
            plan.extend((signer, [op]) for op in ops if op.kind not in BATCHED_KINDS)
        return plan

    def _call_for(self, ops: list[Operation]) -> TxParams:
        if ops[0].kind in BATCHED_KINDS:
            return award_batch_call(self.ctx, ops)
        return single_call(self.ctx, ops[0])

    # -- sending -------------------------------------------------------------------------

    def step(self) -> SendResult:
        with Session(self.engine) as session:
            ready = self._ready(session, limit=self.batch_size * 8)
        sent_txs = sent_ops = 0
        for signer_name, ops in self._plan(ready):
            if self._send(signer_name, ops):
                sent_txs += 1
                sent_ops += len(ops)
        return SendResult(sent_txs, sent_ops)

    def _send(self, signer_name: str, ops: list[Operation]) -> bool:
        signer = self.signers.get(signer_name)
        try:
            built = signer.build(self._call_for(ops))
        except TransactionFailed as exc:
            self._refused(ops, exc)
            return False
        built["nonce"] = Nonce(signer.take_nonce())
        signed = signer.account.sign_transaction(built)  # type: ignore[arg-type]
        tx_hash = HexBytes(signed.hash).to_0x_hex()
        ids = [op.id for op in ops]
        with session_scope(self.engine) as session:
            session.add(ChainTransaction(
                hash=tx_hash, signer=signer_name, sender=signer.address, nonce=int(built["nonce"]),
                raw=HexBytes(signed.raw_transaction).to_0x_hex(),
            ))  # fmt: skip
            table = table_of(Operation)
            session.execute(
                update(table)
                .where(table.c.id.in_(ids), table.c.status == OperationStatus.PENDING)
                .values(
                    status=OperationStatus.SENT,
                    tx_hash=tx_hash,
                    sent_at=utcnow(),
                    attempts=table.c.attempts + 1,
                )
            )
        try:
            signer.w3.eth.send_raw_transaction(signed.raw_transaction)
        except Exception as exc:
            if "already known" not in str(exc).lower():
                log.warning("sender.broadcast_failed", tx=tx_hash, error=str(exc))
                signer.reset_nonce()
                return True  # recorded: recovery decides whether to rebroadcast or re-queue
        log.info("sender.sent", tx=tx_hash, signer=signer_name, kind=ops[0].kind, operations=len(ops))
        self._await(signer, tx_hash)
        return True

    def _refused(self, ops: list[Operation], exc: TransactionFailed) -> None:
        """The chain refuses the call in simulation: fail the operation, or split the batch."""
        if exc.error_name == "OperationAlreadyApplied":
            # Applied by an earlier transaction of ours: the indexer will confirm it.
            applied = [op for op in ops if self.ctx.points.functions.isOperationApplied(op.id).call()]
            self._set_status(applied, OperationStatus.SENT, None)
            log.warning("sender.already_applied", operations=[op.id for op in applied])
            return
        if len(ops) > 1:
            # One bad award must not block the others: send them one by one to find it.
            for op in ops:
                self._send(op.signer, [op])
            return
        self._set_status(ops, OperationStatus.FAILED, str(exc))
        log.error("sender.refused", operation=ops[0].id, kind=ops[0].kind, error=str(exc))

    def _set_status(self, ops: list[Operation], status: str, error: str | None) -> None:
        with session_scope(self.engine) as session:
            table = table_of(Operation)
            session.execute(
                update(table)
                .where(table.c.id.in_([op.id for op in ops]))
                .values(status=status, last_error=error, attempts=table.c.attempts + 1)
            )

    # -- receipts and recovery -----------------------------------------------------------

    def _await(self, signer: LocalSigner, tx_hash: str) -> None:
        try:
            receipt = signer.w3.eth.wait_for_transaction_receipt(
                HexBytes(tx_hash), timeout=RECEIPT_TIMEOUT, poll_latency=0.05
            )
        except TimeExhausted:
            log.warning("sender.receipt_timeout", tx=tx_hash)
            return
        self._settle(tx_hash, int(receipt["status"]) == 1, int(receipt["blockNumber"]))

    def _settle(self, tx_hash: str, success: bool, block: int) -> None:
        with session_scope(self.engine) as session:
            tx = session.get(ChainTransaction, tx_hash)
            if tx is not None:
                tx.status = "mined" if success else "reverted"
                tx.mined_block = block
                session.add(tx)
            table = table_of(Operation)
            if success:
                session.execute(
                    update(table)
                    .where(table.c.tx_hash == tx_hash, table.c.kind.in_(CONFIRMED_BY_RECEIPT),
                           table.c.status == OperationStatus.SENT)
                    .values(status=OperationStatus.CONFIRMED, confirmed_block=block, confirmed_at=utcnow())
                )  # fmt: skip
            else:
                # Reverted on chain after passing simulation (state changed in between): retry,
                # up to MAX_ATTEMPTS, then give up and report.
                session.execute(
                    update(table)
                    .where(table.c.tx_hash == tx_hash, table.c.status == OperationStatus.SENT)
                    .values(status=_retry_or_fail(table))
                )

    def recover(self) -> int:
        """Settle every transaction whose outcome we do not know; return how many.

        That is every transaction still marked broadcast, and every transaction whose
        operations are sent but not confirmed: a reorganisation can take a mined transaction
        back out of the chain, and the indexer then returns its operations to ``sent``.
        """
        with Session(self.engine) as session:
            unconfirmed = select(Operation.tx_hash).where(Operation.status == OperationStatus.SENT)
            open_txs = session.exec(
                select(ChainTransaction)
                .where(or_(col(ChainTransaction.status) == "broadcast", col(ChainTransaction.hash).in_(unconfirmed)))
                .order_by(col(ChainTransaction.signer), col(ChainTransaction.nonce))
            ).all()
        for tx in open_txs:
            self._recover_one(tx)
        return len(open_txs)

    def _recover_one(self, tx: ChainTransaction) -> None:
        w3 = self.ctx.w3
        receipt = None
        try:
            receipt = w3.eth.get_transaction_receipt(HexBytes(tx.hash))
        except Exception:  # not mined (or unknown to this node)
            receipt = None
        if receipt is not None:
            self._settle(tx.hash, int(receipt["status"]) == 1, int(receipt["blockNumber"]))
            return
        if int(w3.eth.get_transaction_count(Web3.to_checksum_address(tx.sender), "latest")) > tx.nonce:
            # The nonce was used by another transaction: this one is dropped for good.
            with session_scope(self.engine) as session:
                record = session.get(ChainTransaction, tx.hash)
                if record is not None:
                    record.status = "dropped"
                    session.add(record)
                table = table_of(Operation)
                session.execute(
                    update(table)
                    .where(table.c.tx_hash == tx.hash, table.c.status == OperationStatus.SENT)
                    .values(status=OperationStatus.PENDING, tx_hash=None)
                )
            log.warning("sender.dropped", tx=tx.hash)
            return
        try:
            w3.eth.send_raw_transaction(HexBytes(tx.raw))
            log.info("sender.rebroadcast", tx=tx.hash)
        except Exception as exc:
            if "already known" not in str(exc).lower():
                log.warning("sender.rebroadcast_failed", tx=tx.hash, error=str(exc))

    def run(self, stop: threading.Event, poll_seconds: float = 0.05) -> None:
        backoff = poll_seconds
        recovered_at = 0.0
        while not stop.is_set():
            try:
                if time.monotonic() - recovered_at > 5.0:
                    self.recover()
                    recovered_at = time.monotonic()
                result = self.step()
            except Exception as exc:
                log.warning("sender.error", error=str(exc), retry_in=backoff)
                self.signers.reset_nonces()
                stop.wait(backoff)
                backoff = min(backoff * 2, 10.0)
                continue
            backoff = poll_seconds
            if result.transactions == 0:
                stop.wait(poll_seconds)


def _retry_or_fail(table: Any) -> Any:
    return case((table.c.attempts >= MAX_ATTEMPTS, OperationStatus.FAILED), else_=OperationStatus.PENDING)
