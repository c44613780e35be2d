"""A member's balance and history at checkout speed: the read executor, caches keyed by what
changes the answer, ``ETag``/``304``, and an ASGI fast path for the common request.

* **Where it runs.** Every read is one call on the read executor (``backend/db/readpool.py``):
  fixed statements on the thread's own connection, in one snapshot. Nothing holds a connection
  across an ``await``.
* **What is cached** (per process, exact — never a time-to-live):
  the parsed rule set, by its stored version and hash; a page of mirrored history entries, by
  the customer's addresses and the indexer's cursor (block number **and** hash: a reorganisation
  at the same height is another key) with the view and the page; the adjustment of the confirmed
  view, by the same cursor; the tier events, by the id of the newest one (they are only added).
  What is in flight in the outbox is never cached: it is read in every answer, so ``available``
  never hides a debit and ``pending`` never hides a credit.
* **ETag.** Each answer carries a strong ``ETag``; ``If-None-Match`` with it gives ``304``. For
  history the tag is computed before the page is read (from the cursor, the page, what is in
  flight and the newest tier event), so an unchanged history costs one small statement.
* **Fast path.** ``ReadFastPath`` answers ``GET /v1/customers/{id}/balance|history`` for a key
  the route's policy admits, with at most the route's own query parameters, through the same
  ``MemberReads`` call as the route; anything else (no or a bad key, a refusal, an unknown
  parameter, a repeated one, a value out of range) goes to the route, which answers it.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Hashable
from contextlib import AbstractContextManager, nullcontext
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import parse_qsl

import orjson
from pydantic import TypeAdapter
from starlette.requests import Request

from backend.api.auth import KeyVerifier
from backend.api.error_responses import domain_error
from backend.api.policy import BALANCE, MEMBER_READ, Context, Facts, Policy, decide
from backend.api.request_headers import header
from backend.api.schemas.loyalty import BalanceOut, HistoryEntry, TierEventOut
from backend.api.security import ASGIApp, Receive, Scope, Send, respond
from backend.db.readpool import ReadConnection, ReadPool
from backend.db.types import utcnow
from backend.errors import DomainError, NotFound
from backend.indexer.confirmed import View
from backend.loyalty import reads
from backend.loyalty.reads import HistoryHead, RuleKey
from backend.loyalty.rules import RuleSet

BALANCE_OUT = TypeAdapter(BalanceOut)
ENTRIES = TypeAdapter(list[HistoryEntry])
TIER_EVENTS = TypeAdapter(list[TierEventOut])
HISTORY_LIMITS = {"limit": (1, 500), "offset": (0, 1_000_000)}  # as the route's Query bounds


def not_enrolled(customer_id: str) -> NotFound:
    return NotFound(f"customer {customer_id!r} is not enrolled", field="customer_id")


class KeyedCache:
    """A bounded dictionary shared by the read threads (emptied when full: keys are exact, so
    losing them costs only a recomputation)."""

    def __init__(self, size: int = 4096) -> None:
        self.size = size
        self._entries: dict[Hashable, Any] = {}
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: Hashable) -> Any:
        found = self._entries.get(key)
        if found is None:
            self.misses += 1
        else:
            self.hits += 1
        return found

    def put(self, key: Hashable, value: Any) -> None:
        with self._lock:
            if len(self._entries) >= self.size:
                self._entries.clear()
            self._entries[key] = value


@dataclass(frozen=True)
class Answer:
    """An answer ready to send: ``body`` is None for a 304."""

    etag: str
    body: bytes | None

    def headers(self) -> list[tuple[bytes, bytes]]:
        headers = [(b"etag", self.etag.encode()), (b"cache-control", b"private, no-cache")]
        if self.body is not None:
            headers += [(b"content-type", b"application/json"), (b"content-length", str(len(self.body)).encode())]
        return headers

    @property
    def status(self) -> int:
        return 200 if self.body is not None else 304


def _tag(*parts: Any) -> str:
    return '"' + hashlib.blake2b(orjson.dumps(parts, default=str), digest_size=12).hexdigest() + '"'


def _matches(if_none_match: str | None, etag: str) -> bool:
    if not if_none_match:
        return False
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class MemberReads:
    """Balance and history answers of one API process."""

    def __init__(self, url: str, threads: int) -> None:
        self.pool = ReadPool(url, threads)
        self._rules: tuple[RuleKey, RuleSet] | None = None
        self.ledger_pages = KeyedCache()
        self.tier_events = KeyedCache()
        self.unconfirmed = KeyedCache()

    def close(self) -> None:
        self.pool.close()

    async def balance(self, customer_id: str, view: View, if_none_match: str | None = None) -> Answer:
        return await self.pool.run(lambda conn: self.balance_now(conn, customer_id, view, if_none_match))

    async def history(
        self, customer_id: str, view: View, limit: int = 50, offset: int = 0, if_none_match: str | None = None
    ) -> Answer:
        return await self.pool.run(lambda conn: self.history_now(conn, customer_id, view, limit, offset, if_none_match))

    # -- on a read thread --------------------------------------------------------------------

    def balance_now(
        self,
        conn: ReadConnection,
        customer_id: str,
        view: View,
        if_none_match: str | None = None,
        now: datetime | None = None,
    ) -> Answer:
        now = now or utcnow()
        # The confirmed view may need a second statement: then both run in one snapshot.
        scope: AbstractContextManager[Any] = conn.snapshot() if view == View.CONFIRMED else nullcontext()
        with scope:
            row, rules = self._balance_row(conn, customer_id, now)
            point = row.mirror.point(view)
            unconfirmed: dict[str, tuple[int, int]] = {}
            if point.as_of_block < point.latest_block:
                key = ("balance", tuple(row.addresses), row.mirror, point.as_of_block)
                unconfirmed = self.unconfirmed.get(key)
                if unconfirmed is None:
                    unconfirmed = reads.unconfirmed_changes(conn, row.addresses, point.as_of_block)
                    self.unconfirmed.put(key, unconfirmed)
        answer = {"customer_id": customer_id, **reads.balance_answer(row, rules, view, unconfirmed)}
        body = BALANCE_OUT.dump_json(BALANCE_OUT.validate_python(answer))
        etag = _tag(body)
        return Answer(etag, None if _matches(if_none_match, etag) else body)

    def _balance_row(
        self, conn: ReadConnection, customer_id: str, now: datetime
    ) -> tuple[reads.BalanceRow, RuleSet | None]:
        """The balance row, its qualifying points counted over the window of the rule set the
        same statement saw (read again in the rare case the rule set changed in between)."""
        known = self._rules
        for _ in range(3):
            row = reads.read_balance(conn, customer_id, reads.qualifying_since(known[1] if known else None, now))
            if row is None:
                raise not_enrolled(customer_id)
            if row.rules is None:
                return row, None
            if known is not None and known[0] == row.rules:
                return row, known[1]
            known = (row.rules, reads.read_rules(conn, row.rules))
            self._rules = known
        raise RuntimeError("the rule set kept changing while the balance was read")

    def history_now(
        self,
        conn: ReadConnection,
        customer_id: str,
        view: View,
        limit: int = 50,
        offset: int = 0,
        if_none_match: str | None = None,
    ) -> Answer:
        with conn.snapshot():
            head = reads.read_history_head(conn, customer_id)
            if head is None:
                raise not_enrolled(customer_id)
            point = head.mirror.point(view)
            flight = reads.in_flight_entries(conn, head) if offset == 0 else []
            page_key = (head.address, head.wallet, head.mirror, view.value, limit, offset)
            etag = _tag(customer_id, page_key, head.last_tier_event if offset == 0 else None, flight)
            if _matches(if_none_match, etag):
                return Answer(etag, None)
            page: bytes | None = self.ledger_pages.get(page_key)
            if page is None:
                page = _inner(
                    ENTRIES.dump_json(ENTRIES.validate_python(reads.ledger_entries(conn, head, point, limit, offset)))
                )
                self.ledger_pages.put(page_key, page)
            tiers = self._tier_events(conn, head) if offset == 0 else b""
        entries = _inner(ENTRIES.dump_json(ENTRIES.validate_python(flight))) if flight else b""
        body = b"".join(
            (
                b'{"customer_id":',
                orjson.dumps(customer_id),
                b',"address":',
                orjson.dumps(head.active_address),
                b',"as_of_block":',
                str(point.as_of_block).encode(),
                b',"confirmed_block":',
                str(point.confirmed_block).encode(),
                b',"view":',
                orjson.dumps(point.view.value),
                b',"entries":[',
                entries,
                b"," if entries and page else b"",
                page,
                b'],"tier_events":[',
                tiers,
                b"]}",
            )
        )
        return Answer(etag, body)

    def _tier_events(self, conn: ReadConnection, head: HistoryHead) -> bytes:
        if head.last_tier_event is None:
            return b""
        key = (head.customer_pk, head.last_tier_event)
        found: bytes | None = self.tier_events.get(key)
        if found is None:
            found = _inner(
                TIER_EVENTS.dump_json(TIER_EVENTS.validate_python(reads.tier_event_rows(conn, head.customer_pk)))
            )
            self.tier_events.put(key, found)
        return found


def _inner(array: bytes) -> bytes:
    """The items of a JSON array, without its brackets (pages are spliced into the answer)."""
    return array[1:-1]


# -- the fast path ------------------------------------------------------------------------


@dataclass(frozen=True)
class _Read:
    kind: str  # "balance" or "history"
    customer_id: str
    view: View
    limit: int = 50
    offset: int = 0


@dataclass(frozen=True)
class RouteLabel:
    """What ``HttpMetrics`` reads from ``scope["route"]``: the route template."""

    path: str


LABELS = {kind: RouteLabel(f"/v1/customers/{{customer_id}}/{kind}") for kind in ("balance", "history")}
POLICIES: dict[str, Policy] = {"balance": BALANCE, "history": MEMBER_READ}
NO_RETAILERS = Context(retailer_of=lambda store_id: None)  # neither policy binds a store


def parse_read(scope: Scope) -> _Read | None:
    """The read this request asks for, if it is the common case (else None: the route answers)."""
    if scope["method"] != "GET":
        return None
    parts = scope["path"].split("/")  # "", "v1", "customers", id, kind
    if len(parts) != 5 or parts[1] != "v1" or parts[2] != "customers" or not parts[3]:
        return None
    kind = parts[4]
    if kind not in POLICIES:
        return None
    query: bytes = scope.get("query_string", b"")
    values: dict[str, str] = {}
    if query:
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True, strict_parsing=False):
            if name in values or not (name == "view" or (kind == "history" and name in HISTORY_LIMITS)):
                return None  # repeated or unknown: the route refuses it (or ignores it) itself
            values[name] = value
    view = values.get("view", "latest")
    if view not in ("latest", "confirmed"):
        return None
    numbers = {}
    for name, (low, high) in HISTORY_LIMITS.items():
        text = values.get(name)
        if text is None:
            continue
        if not text.isdigit() or not low <= int(text) <= high:
            return None
        numbers[name] = int(text)
    return _Read(kind, parts[3], View(view), numbers.get("limit", 50), numbers.get("offset", 0))


class ReadFastPath:
    """ASGI middleware: the common balance and history request, without the framework."""

    def __init__(self, app: ASGIApp, verifier: KeyVerifier, reads: MemberReads) -> None:
        self.app = app
        self.verifier = verifier
        self.reads = reads

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        read = parse_read(scope) if scope["type"] == "http" else None
        if read is None or not await self._admitted(scope, read):
            await self.app(scope, receive, send)
            return
        scope["route"] = LABELS[read.kind]
        if_none_match = header(scope, b"if-none-match")
        try:
            if read.kind == "balance":
                answer = await self.reads.balance(read.customer_id, read.view, if_none_match)
            else:
                answer = await self.reads.history(read.customer_id, read.view, read.limit, read.offset, if_none_match)
        except DomainError as exc:
            response = await domain_error(Request(scope), exc)
            await response(scope, receive, send)
            return
        await respond(send, answer.status, answer.body or b"", answer.headers())

    async def _admitted(self, scope: Scope, read: _Read) -> bool:
        key = header(scope, b"authorization")
        if key is None or key[:7].lower() != "bearer ":
            return False
        principal = await self.verifier.verify_async(key[7:].strip())
        if principal is None:
            return False
        try:
            decide(POLICIES[read.kind], principal, Facts(customer_id=read.customer_id), NO_RETAILERS)
        except DomainError:
            return False  # refused: the route answers it
        return True
