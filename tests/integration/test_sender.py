"""The outbox sender against a real Anvil: pipelining, nonces from SQL, claims, and every way a
transaction can go astray (nonce too low, already known, dropped, nonce gap, reorganisation)."""

from __future__ import annotations

import threading
from collections import Counter
from typing import Any

import pytest
from sqlmodel import Session, col, select
from web3 import Web3
from web3.exceptions import TransactionNotFound

from backend.chain import outbox
from backend.chain.named_signers import Signers
from backend.chain.outbox import TxStatus
from backend.chain.sender import Sender
from backend.db.models import ChainTransaction, Operation, OperationStatus
from tests.support import Platform, rpc

pytestmark = pytest.mark.chain


def buy(platform: Platform, count: int, prefix: str = "S", customers: int = 5) -> list[int]:
    """Accept ``count`` purchases through the API; return their operation ids."""
    ids = []
    for n in range(count):
        body = {
            "order_id": f"{prefix}-{n}",
            "customer_id": f"cust-{n % customers}",
            "store_id": "demo-store",
            "currency": "USD",
            "lines": [{"sku": "COFFEE", "quantity": 1, "unit_price": str(n % 7 + 1)}],
        }
        response = platform.client.post("/v1/purchases", json=body, headers=platform.headers())
        assert response.status_code == 200, response.text
        ids.append(response.json()["operation_id"])
    return ids


def make_sender(platform: Platform, **options: Any) -> Sender:
    signers = Signers(platform.ctx.w3, platform.ctx.chain_id, platform.settings, platform.engine)
    options.setdefault("max_delay_ms", 0)
    return Sender(platform.engine, platform.ctx, signers, **options)


def operations(platform: Platform, ids: list[int]) -> list[Operation]:
    with Session(platform.engine) as session:
        return list(session.exec(select(Operation).where(col(Operation.id).in_(ids))).all())


def transactions(platform: Platform, signer: str = "issuer") -> list[ChainTransaction]:
    """The issuer's recorded transactions (the demo seeding has its own), by nonce."""
    with Session(platform.engine) as session:
        query = select(ChainTransaction).where(ChainTransaction.signer == signer)
        return list(session.exec(query.order_by(col(ChainTransaction.nonce), col(ChainTransaction.created_at))).all())


def settle_with(platform: Platform, sender: Sender, rounds: int = 50) -> None:
    for _ in range(rounds):
        sent = sender.step()
        platform.indexer.sync()
        if sent.transactions == 0 and platform.in_flight() == 0:
            return
    raise AssertionError(f"{platform.in_flight()} operations still in flight")


def assert_minted_once(platform: Platform, ids: list[int]) -> None:
    """Every operation confirmed in SQL, applied on chain, and the chain's balances are exactly
    the sum of the awards (nothing minted twice)."""
    ops = operations(platform, ids)
    assert {op.status for op in ops} == {OperationStatus.CONFIRMED}
    points = platform.ctx.points.functions
    assert all(points.isOperationApplied(op.id).call() for op in ops)
    expected: Counter[str] = Counter()
    for op in ops:
        expected[op.account or ""] += op.amount
    for account, amount in expected.items():
        assert points.balanceOf(Web3.to_checksum_address(account)).call() == amount
    ledger = platform.client.get("/v1/customers/cust-0/history", headers=platform.headers("admin")).json()["entries"]
    awarded = [e["operation_id"] for e in ledger if e["kind"] == "award"]
    assert len(awarded) == len(set(awarded))


class CountingProvider:
    """Counts the JSON-RPC methods a sender calls (instrumentation, not a mock: calls go through)."""

    def __init__(self, w3: Web3) -> None:
        self.calls: Counter[str] = Counter()
        provider: Any = w3.provider
        self._single, self._batch = provider.make_request, provider.make_batch_request

        def make_request(method: str, params: Any) -> Any:
            self.calls[method] += 1
            return self._single(method, params)

        def make_batch_request(requests: list[tuple[str, Any]]) -> Any:
            for method, _ in requests:
                self.calls[method] += 1
            return self._batch(requests)

        provider.make_request, provider.make_batch_request = make_request, make_batch_request
        self._provider = provider
        self._reset_caches()

    def _reset_caches(self) -> None:
        # web3 caches the middleware-wrapped request function: make it wrap ours.
        self._provider._request_func_cache = (None, None)

    def restore(self) -> None:
        self._provider.make_request, self._provider.make_batch_request = self._single, self._batch
        self._reset_caches()


def test_pipelines_several_batches_without_waiting_and_counts_nonces_itself(platform: Platform) -> None:
    ids = buy(platform, 12)
    sender = make_sender(platform, batch_size=4)
    counter = CountingProvider(platform.ctx.w3)
    try:
        rpc(platform.ctx.w3, "evm_setAutomine", False)
        sent = sender.step()
        assert (sent.transactions, sent.operations) == (3, 12)
        # Three transactions in flight at once, consecutive nonces, none mined yet.
        txs = transactions(platform)
        assert [tx.status for tx in txs] == [TxStatus.BROADCAST] * 3
        assert [tx.nonce for tx in txs] == list(range(txs[0].nonce, txs[0].nonce + 3))
        rpc(platform.ctx.w3, "evm_mine")
        sender.step()
        assert {tx.status for tx in transactions(platform)} == {TxStatus.MINED}
        # More work later: nonces continue from SQL, no eth_getTransactionCount per send.
        ids += buy(platform, 8, prefix="T")
        sender.step()
        rpc(platform.ctx.w3, "evm_mine")
    finally:
        rpc(platform.ctx.w3, "evm_setAutomine", True)
        counter.restore()
    assert counter.calls["eth_getTransactionCount"] <= 1
    assert counter.calls["eth_sendRawTransaction"] == 5
    settle_with(platform, sender)
    assert [tx.nonce for tx in transactions(platform)][-5:] == list(range(txs[0].nonce, txs[0].nonce + 5))
    assert_minted_once(platform, ids)


def test_a_restarted_sender_continues_the_nonces_from_sql(platform: Platform) -> None:
    ids = buy(platform, 4)
    first = make_sender(platform, batch_size=2)
    rpc(platform.ctx.w3, "evm_setAutomine", False)
    try:
        first.step()  # two transactions recorded and broadcast, not mined
        second = make_sender(platform, batch_size=2)  # a new process: no memory of them
        ids += buy(platform, 2, prefix="N")
        second.step()
    finally:
        rpc(platform.ctx.w3, "evm_setAutomine", True)
    nonces = [tx.nonce for tx in transactions(platform)]
    assert nonces == list(range(nonces[0], nonces[0] + 3))
    settle_with(platform, second)
    assert_minted_once(platform, ids)


def test_already_known_and_rebroadcast_of_a_mined_transaction_are_harmless(platform: Platform) -> None:
    ids = buy(platform, 6)
    sender = make_sender(platform, batch_size=3)
    rpc(platform.ctx.w3, "evm_setAutomine", False)
    try:
        sender.send_ready()
        assert sender.recover() == 2  # rebroadcast while in the pool: "already known"
    finally:
        rpc(platform.ctx.w3, "evm_setAutomine", True)
    rpc(platform.ctx.w3, "evm_mine")
    for tx in transactions(platform):  # mined now; broadcasting again says "nonce too low"
        sender._send_raw(sender_open(tx))
    settle_with(platform, sender)
    assert {tx.status for tx in transactions(platform)} == {TxStatus.MINED}
    assert_minted_once(platform, ids)


def sender_open(tx: ChainTransaction) -> Any:
    from backend.chain.outbox import OpenTx

    return OpenTx(tx.hash, tx.signer, tx.sender, tx.nonce, tx.raw)


def test_nonce_too_low_after_someone_else_used_the_key(platform: Platform) -> None:
    ids = buy(platform, 2)
    sender = make_sender(platform, batch_size=2)
    settle_with(platform, sender)
    # The issuer key sends a transaction outside the outbox: our counter is now behind the chain.
    issuer = Signers(platform.ctx.w3, platform.ctx.chain_id, platform.settings, platform.engine).get("issuer")
    issuer.transact({"to": issuer.address, "value": 0, "gas": 21000})  # type: ignore[typeddict-item]
    more = buy(platform, 2, prefix="L")
    sender.step()  # signed with a used nonce: "nonce too low" → dropped, operations re-queued
    statuses = Counter(tx.status for tx in transactions(platform))
    assert statuses[TxStatus.DROPPED] == 1
    settle_with(platform, sender)
    assert_minted_once(platform, ids + more)


def test_a_transaction_replaced_behind_our_back_is_dropped_and_its_awards_resent(platform: Platform) -> None:
    ids = buy(platform, 3)
    sender = make_sender(platform, batch_size=3, receipt_timeout=0.0)
    rpc(platform.ctx.w3, "evm_setAutomine", False)
    try:
        sender.send_ready()
        [ours] = transactions(platform)
        # Another transaction with the same nonce (a replacement with a higher fee) wins.
        issuer = sender.signers.get("issuer")
        replacement = issuer.build({"to": issuer.address, "value": 0, "gas": 21000})  # type: ignore[typeddict-item]
        replacement["nonce"] = ours.nonce  # type: ignore[typeddict-unknown-key]
        replacement["maxFeePerGas"] = int(replacement["maxFeePerGas"]) * 3  # type: ignore[typeddict-item]
        replacement["maxPriorityFeePerGas"] = int(replacement["maxPriorityFeePerGas"]) * 3  # type: ignore[typeddict-item]
        platform.ctx.w3.eth.send_raw_transaction(issuer.account.sign_transaction(replacement).raw_transaction)
        rpc(platform.ctx.w3, "evm_mine")
    finally:
        rpc(platform.ctx.w3, "evm_setAutomine", True)
    assert platform.ctx.w3.eth.get_transaction_count(issuer.address) == ours.nonce + 1
    sender.track()  # no receipt for ours, nonce used: dropped, awards back in the queue
    assert {op.status for op in operations(platform, ids)} == {OperationStatus.PENDING}
    settle_with(platform, sender)
    assert [tx.status for tx in transactions(platform)] == [TxStatus.DROPPED, TxStatus.MINED]
    assert_minted_once(platform, ids)


@pytest.mark.nodes("ganache")
@pytest.mark.sqlite_only
def test_recovery_never_broadcasts_a_transaction_whose_nonce_the_chain_used(platform: Platform) -> None:
    """Ganache executes a raw transaction with a used nonce instead of answering "nonce too low":
    recovery asks the chain's nonce first, and drops (re-queues) what it finds used."""
    ids = buy(platform, 3)
    crashed = make_sender(platform, batch_size=3)
    with Session(platform.engine) as session:
        ready = outbox.ready_operations(session, limit=10)
    [ours] = crashed._record(crashed._build(crashed._plan(ready, {})))  # recorded, then a crash: never sent
    issuer = crashed.signers.get("issuer")
    other = issuer.build({"to": issuer.address, "value": 0, "gas": 21000})  # type: ignore[typeddict-item]
    other["nonce"] = ours.nonce  # type: ignore[typeddict-unknown-key]
    issuer.wait(issuer.send_built(other))  # the key's nonce is used by another transaction
    block = platform.ctx.w3.eth.block_number

    restarted = make_sender(platform, batch_size=3)
    assert restarted.recover() == 0
    assert platform.ctx.w3.eth.block_number == block  # nothing executed
    with pytest.raises(TransactionNotFound):
        platform.ctx.w3.eth.get_transaction(ours.hash)  # type: ignore[arg-type]
    assert [tx.status for tx in transactions(platform)] == [TxStatus.DROPPED]
    assert {op.status for op in operations(platform, ids)} == {OperationStatus.PENDING}
    settle_with(platform, restarted)
    assert_minted_once(platform, ids)


def test_a_nonce_gap_nobody_fills_is_detected_and_the_awards_resent(platform: Platform) -> None:
    ids = buy(platform, 2)
    sender = make_sender(platform, batch_size=2, receipt_timeout=0.0)
    issuer = sender.signers.get("issuer")
    # Pretend the chain is further along than it is: our transaction waits behind a gap.
    sender._floors[issuer.address] = platform.ctx.w3.eth.get_transaction_count(issuer.address) + 5
    sender.send_ready()
    sender.track()
    assert [tx.status for tx in transactions(platform)] == [TxStatus.DROPPED]
    settle_with(platform, sender)
    assert_minted_once(platform, ids)


def test_a_reorganisation_that_removes_the_award_makes_the_sender_send_it_again(platform: Platform) -> None:
    ids = buy(platform, 3)
    sender = make_sender(platform, batch_size=3)
    snapshot = rpc(platform.ctx.w3, "evm_snapshot")
    settle_with(platform, sender)
    assert_minted_once(platform, ids)
    # The indexer may have confirmed the awards before the sender saw the receipt (automine is
    # asynchronous): let the sender record it, so the transaction is known to be mined.
    sender.track()
    assert [tx.status for tx in transactions(platform)] == [TxStatus.MINED]
    # The chain loses the blocks (a reorganisation, or a node restored from an older state)
    # and a different block takes their place.
    rpc(platform.ctx.w3, "evm_revert", snapshot)
    rpc(platform.ctx.w3, "evm_mine")
    rpc(platform.ctx.w3, "evm_mine")
    platform.indexer.sync()  # rolls the mirror back: the awards return to "sent"
    assert {op.status for op in operations(platform, ids)} == {OperationStatus.SENT}
    assert sender.check_reorged(older_than=0) == 1
    settle_with(platform, sender)
    assert_minted_once(platform, ids)


def test_a_bad_operation_is_isolated_and_the_rest_of_its_batch_sent(platform: Platform) -> None:
    ids = buy(platform, 4)
    with Session(platform.engine) as session:  # corrupt one award: the contract refuses zero
        op = session.get(Operation, ids[2])
        assert op is not None
        op.amount = 0
        session.add(op)
        session.commit()
    sender = make_sender(platform, batch_size=4)
    settle_with(platform, sender)
    ops = {op.id: op for op in operations(platform, ids)}
    assert ops[ids[2]].status == OperationStatus.FAILED
    assert "LoyaltyPointsZeroAmount" in (ops[ids[2]].last_error or "")
    assert_minted_once(platform, [i for i in ids if i != ids[2]])


def test_operations_an_earlier_transaction_applied_are_confirmed_not_failed(platform: Platform) -> None:
    """A batch whose ids a transaction the outbox lost track of already applied: the chain refuses
    it with LoyaltyPointsAlreadyAppliedOperation, which the sender takes for "applied" (not for a
    failure), so the indexer confirms the operations from their events and nothing is minted twice."""
    ids = buy(platform, 3)
    sender = make_sender(platform, batch_size=3)
    awards = [
        (
            Web3.to_checksum_address(op.account or ""),
            op.id,
            op.rule_version,
            op.amount,
            bytes.fromhex((op.ref or "")[2:]),
        )
        for op in operations(platform, ids)
    ]
    call = platform.ctx.points.functions.awardBatch(awards)
    sender.signers.get("issuer").transact({"to": call.address, "data": call._encode_transaction_data()})
    sender.step()  # refused in simulation: sent (left for the indexer), not failed
    assert {op.status for op in operations(platform, ids)} == {OperationStatus.SENT}
    settle_with(platform, sender)
    assert transactions(platform) == []  # the sender sent nothing: every id was applied already
    assert_minted_once(platform, ids)


def test_two_senders_on_one_database_never_send_an_operation_twice(platform: Platform) -> None:
    ids = buy(platform, 40, customers=8)
    senders = [make_sender(platform, batch_size=3), make_sender(platform, batch_size=3)]
    errors: list[BaseException] = []

    def drain(sender: Sender) -> None:
        try:
            for _ in range(40):
                sender.step()
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=drain, args=(s,)) for s in senders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    settle_with(platform, senders[0])
    with Session(platform.engine) as session:
        live = session.exec(select(ChainTransaction).where(ChainTransaction.status != TxStatus.DROPPED)).all()
    nonces = [(tx.sender, tx.nonce) for tx in live]
    assert len(nonces) == len(set(nonces))
    assert_minted_once(platform, ids)
