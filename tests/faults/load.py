"""Load and chaos for the crash tests.

The load behaves like real checkouts: each request is sent until its outcome is known. A timeout,
a refused connection or a 5xx while the API is being killed leaves the outcome unknown, so the
same request is sent again; the API answers a replay with the first answer, so a retried order is
accepted once. Only a 200 counts as accepted.

Chaos kills the API, the sender and the indexer with SIGKILL at random moments (seeded) and
restarts them, and crashes Anvil (SIGKILL, losing its last second of blocks) at fixed points.
"""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

import httpx
from sqlmodel import Session
from web3.exceptions import BlockNotFound

from backend.chain.anvil import chain_paths
from backend.chain.client import connect
from backend.db.engine import make_engine
from backend.db.models import ChainCursor
from tests.faults.cluster import CAPTURE_GTIN, CAPTURE_SERIALS, Cluster

RETRYABLE = {429, 500, 502, 503, 504}


@dataclass
class Accepted:
    kind: str  # purchase | refund | capture
    key: str
    request: dict[str, Any]
    response: dict[str, Any]
    attempts: int


@dataclass
class LoadStats:
    accepted: list[Accepted] = field(default_factory=list)
    rejected: list[tuple[str, int, str]] = field(default_factory=list)
    unknown: list[str] = field(default_factory=list)
    retries: Counter[str] = field(default_factory=Counter)
    replayed: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


class Load:
    """Threads that send purchases (and whatever else is registered) until stopped."""

    def __init__(self, cluster: Cluster, seed: int, customers: int = 25, give_up_after: float = 180.0) -> None:
        assert cluster.keys is not None
        self.cluster = cluster
        self.headers = {"Authorization": f"Bearer {cluster.keys.checkout}"}
        self.seed = seed
        self.customers = [f"crash-{n:03d}" for n in range(customers)]
        self.give_up_after = give_up_after
        self.stats = LoadStats()
        self.stop = threading.Event()
        self.threads: list[threading.Thread] = []

    def start(self, workers: int = 3, capture_workers: int = 1, refund_workers: int = 1) -> None:
        targets = [(self._worker, index) for index in range(workers)]
        targets += [(self._capture_worker, index) for index in range(capture_workers)]
        targets += [(self._refund_worker, index) for index in range(refund_workers)]
        for target, index in targets:
            thread = threading.Thread(target=target, args=(index,), daemon=True, name=f"load-{target.__name__}-{index}")
            thread.start()
            self.threads.append(thread)

    def finish(self, timeout: float = 240.0) -> None:
        """Stop sending new requests; wait for those in flight to get an answer."""
        self.stop.set()
        for thread in self.threads:
            thread.join(timeout)
            assert not thread.is_alive(), "a load thread is stuck"

    def _worker(self, index: int) -> None:
        rng = random.Random(self.seed * 1000 + index)
        with httpx.Client(base_url=self.cluster.url, headers=self.headers, timeout=5.0) as client:
            number = 0
            while not self.stop.is_set():
                number += 1
                order = self._order(rng, f"C{index}-{number}")
                self.send(client, "purchase", order["order_id"], "POST", "/v1/purchases", order)

    def _refund_worker(self, index: int) -> None:
        """Refund one unit of a line of an accepted order now and then, as a till would."""
        rng = random.Random(self.seed * 104729 + index)
        refunded: Counter[tuple[str, str]] = Counter()
        with httpx.Client(base_url=self.cluster.url, headers=self.headers, timeout=5.0) as client:
            number = 0
            while not self.stop.is_set():
                time.sleep(rng.uniform(0.02, 0.15))
                with self.stats.lock:
                    orders = [a.request for a in self.stats.accepted[-200:] if a.kind == "purchase"]
                bought: Counter[tuple[str, str]] = Counter()
                for order in orders:
                    for line in order["lines"]:
                        bought[(order["order_id"], line["sku"])] += line["quantity"]
                left = [key for key, quantity in bought.items() if quantity > refunded[key]]
                if not left:
                    continue
                order_id, sku = rng.choice(left)
                refunded[(order_id, sku)] += 1
                number += 1
                body = {"refund_id": f"R{index}-{number}", "lines": [{"sku": sku, "quantity": 1}], "order_id": order_id}
                self.send(
                    client,
                    "refund",
                    body["refund_id"],
                    "POST",
                    f"/v1/purchases/{order_id}/refunds",
                    {k: v for k, v in body.items() if k != "order_id"},
                    record=body,
                )

    def _capture_worker(self, index: int) -> None:
        """Commission fresh serials, a few per EPCIS document, as a packing line would."""
        assert self.cluster.keys is not None
        rng = random.Random(self.seed * 7919 + index)
        brand = {"Authorization": f"Bearer {self.cluster.keys.brand}"}
        serials = iter(range(index, CAPTURE_SERIALS, 8))
        with httpx.Client(base_url=self.cluster.url, headers=brand, timeout=5.0) as client:
            number = 0
            while not self.stop.is_set():
                chosen = [next(serials, None) for _ in range(rng.randint(1, 3))]
                if None in chosen:
                    return
                number += 1
                document = capture_document(f"K{index}-{number}", [f"CR{n:06d}" for n in chosen if n is not None])
                self.send(client, "capture", f"K{index}-{number}", "POST", "/v1/epcis/capture", document)
                time.sleep(rng.uniform(0.0, 0.1))

    def _order(self, rng: random.Random, order_id: str) -> dict[str, Any]:
        lines = [
            {
                "sku": rng.choice(["COFFEE", "TEA", "CAKE"]),
                "quantity": rng.randint(1, 4),
                "unit_price": str(Decimal(rng.randint(100, 3000)) / 100),
            }
            for _ in range(rng.randint(1, 3))
        ]
        return {
            "order_id": order_id,
            "customer_id": rng.choice(self.customers),
            "store_id": "demo-store",
            "currency": "USD",
            "lines": lines,
        }

    def send(
        self,
        client: httpx.Client,
        kind: str,
        key: str,
        method: str,
        path: str,
        body: dict[str, Any],
        record: dict[str, Any] | None = None,
    ) -> None:
        """Send until the outcome is known (accepted or refused), as a checkout would; ``record``
        is what to remember of the request (the body by default)."""
        deadline = time.monotonic() + self.give_up_after
        attempts = 0
        while time.monotonic() < deadline:
            attempts += 1
            try:
                response = client.request(method, path, json=body)
            except httpx.HTTPError as exc:
                self._retry(type(exc).__name__)
                continue
            if response.status_code in RETRYABLE:
                self._retry(f"{kind} {response.status_code}")
                continue
            with self.stats.lock:
                if response.status_code in (200, 201):
                    self.stats.accepted.append(Accepted(kind, key, record or body, response.json(), attempts))
                    self.stats.replayed += response.headers.get("Idempotent-Replayed") == "true"
                elif kind == "capture" and attempts > 1 and _only_duplicates(response):
                    # The first attempt was stored but its answer lost with the API: a capture
                    # is not replayed but refused as a duplicate of itself. Accepted earlier.
                    self.stats.accepted.append(Accepted(kind, key, record or body, {}, attempts))
                    self.stats.replayed += 1
                else:
                    self.stats.rejected.append((key, response.status_code, response.text[:300]))
            return
        with self.stats.lock:
            self.stats.unknown.append(key)

    def _retry(self, kind: str) -> None:
        with self.stats.lock:
            self.stats.retries[kind] += 1
        time.sleep(0.05)


def capture_document(key: str, serials: list[str]) -> dict[str, Any]:
    """An EPCIS 2.0 document commissioning ``serials``; each event has its own eventID."""
    now = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime())
    return {
        "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
        "type": "EPCISDocument",
        "schemaVersion": "2.0",
        "creationDate": now,
        "epcisBody": {
            "eventList": [
                {
                    "type": "ObjectEvent",
                    "eventID": f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, f'{key}/{serial}')}",
                    "eventTime": now,
                    "eventTimeZoneOffset": "+00:00",
                    "action": "ADD",
                    "bizStep": "commissioning",
                    "disposition": "active",
                    "epcList": [f"https://id.gs1.org/01/{CAPTURE_GTIN}/21/{serial}"],
                }
                for serial in serials
            ]
        },
    }


def _only_duplicates(response: httpx.Response) -> bool:
    if response.status_code != 409:
        return False
    problems = response.json().get("error", {}).get("problems") or []
    return bool(problems) and all(p.get("rule", "").startswith("duplicate_event") for p in problems)


class Chaos:
    """Kills services at random moments and crashes the chain, a given number of times.

    The storm is counted in events, not seconds, so a slow machine gets the same storm: every
    service is killed at least once, the chain is crashed ``chain_crashes`` times, and each event
    waits until the load has made progress (a new block) since the previous one.
    """

    def __init__(self, cluster: Cluster, seed: int, kills: int, chain_crashes: int) -> None:
        self.cluster = cluster
        self.rng = random.Random(seed)
        pool = ["api", "sender", "sender", "indexer", "indexer", "anchorer"]
        victims = ["api", "sender", "indexer", "anchorer"] + [self.rng.choice(pool) for _ in range(max(0, kills - 4))]
        self.rng.shuffle(victims)
        for index in range(chain_crashes):  # spread over the storm, never first
            victims.insert(1 + (index + 1) * len(victims) // (chain_crashes + 1) + index, "chain")
        self.schedule = victims
        self.events: list[tuple[float, str]] = []
        self.blocks_lost = 0
        self.dump_races = 0  # attempts to crash between a mirrored block and the next state dump
        self.error: BaseException | None = None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True, name="chaos")
        self.w3 = connect(f"http://127.0.0.1:{cluster.chain_port}")
        self.engine = make_engine(cluster.settings.resolved_database_url)

    def start(self) -> None:
        self.thread.start()

    def join(self, timeout: float = 900.0) -> None:
        self.thread.join(timeout)
        assert not self.thread.is_alive(), "the chaos did not finish"
        if self.error is not None:
            raise self.error

    def _run(self) -> None:
        try:
            started = time.monotonic()
            for victim in self.schedule:
                time.sleep(self.rng.uniform(0.3, 1.2))
                self._wait_for_progress()
                self.events.append((time.monotonic() - started, victim))
                if victim == "chain":
                    self._crash_chain()
                else:
                    self._kill(victim)
            time.sleep(1.0)
        except BaseException as exc:  # reported by join()
            self.error = exc
        finally:
            self.cluster.restart_dead()
            self.done.set()

    def _wait_for_progress(self, timeout: float = 120.0) -> None:
        """Until a block is mined: the load flows again since the last event."""
        before = self.w3.eth.block_number
        deadline = time.monotonic() + timeout
        while self.w3.eth.block_number == before:
            if time.monotonic() > deadline:
                raise TimeoutError(f"no block mined for {timeout:.0f} s\n{self.cluster.log_tail()}")
            time.sleep(0.01)

    def _kill(self, victim: str) -> None:
        self.cluster.services[victim].kill()
        time.sleep(self.rng.uniform(0.0, 0.5))
        self.cluster.restart_dead()
        if victim == "api":
            self.cluster.wait_healthy(timeout=120)

    def _mirrored_block(self) -> int:
        with Session(self.engine) as session:
            cursor = session.get(ChainCursor, "indexer")
        return cursor.block_number if cursor is not None else -1

    def _crash_chain(self) -> None:
        """Crash Anvil after a block was mined and mirrored since its last state dump: that block
        is lost for sure, so the mirror must roll it back and the sender must send it again."""
        state = chain_paths(self.cluster.home).state
        deadline = time.monotonic() + 120
        while True:
            self.dump_races += 1
            dumped = state.stat().st_mtime_ns if state.exists() else 0
            before = self.w3.eth.block_number
            while self.w3.eth.block_number == before or self._mirrored_block() < before + 1:
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no block mined and mirrored\n{self.cluster.log_tail()}")
                time.sleep(0.005)
            head = self.w3.eth.block_number
            recent = {n: self.w3.eth.get_block(n)["hash"] for n in range(max(0, head - 5), head + 1)}
            if (state.stat().st_mtime_ns if state.exists() else 0) == dumped:
                break  # no dump since before the new block: it cannot be in the state file
        self.cluster.crash_chain()
        time.sleep(self.rng.uniform(0.3, 1.5))  # the chain is down for a moment
        self.cluster.start_chain()
        # Blocks the chain forgot: gone, or replaced by others mined since the restart.
        for number, block_hash in recent.items():
            try:
                self.blocks_lost += self.w3.eth.get_block(number)["hash"] != block_hash
            except BlockNotFound:
                self.blocks_lost += 1
