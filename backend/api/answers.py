"""Public verification answers, served from a cache of their static parts, scans recorded in
batches (backend/provenance/answers.py says what is cached and why it stays true).

One ``VerificationAnswers`` per API process:

* **static parts** in an LRU keyed by (GTIN, serial, view), each with the answer version and
  blocks it was read at. A cold or stale entry is built in a worker thread, once however many
  requests wait for it.
* **scans**: a resolution that records a scan goes through a group-commit writer (the checkout's,
  backend/api/writer.py): one transaction records a whole batch of scans, reads the answer version
  and judges each item of the batch once; the request is answered only once its scan is committed
  (a stopping process commits what it has queued). ``scan=false`` goes through the same batching
  on a read-only session.
* the version read with the scans says whether the cached static part is still true; if not, it
  is rebuilt before answering. So an answer never claims a block its content is older than.
* **ETag** of the exact representation (static part, blocks, scan part, JSON or page): a client
  that sends it back in ``If-None-Match`` gets ``304`` while nothing it would see has changed.
  Recording a scan changes the item's scan count, so a resolution that records one is answered in
  full; ``scan=false`` (programs, the page's JSON link) revalidates for almost nothing.
"""

from __future__ import annotations

import asyncio
import hashlib
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any, TypeVar

import anyio.to_thread
import orjson
from fastapi.templating import Jinja2Templates
from jinja2 import Template
from markupsafe import Markup
from sqlalchemy import Engine
from sqlmodel import Session

from backend.api import verify_page
from backend.api.admission import Gate, Overloaded
from backend.api.writer import GroupCommitWriter, Job
from backend.batches import take_waiting
from backend.chain.manifest import ManifestMissing, load_manifest
from backend.db.models import ChainCursor
from backend.errors import DomainError
from backend.indexer.confirmed import View
from backend.provenance.answers import Point, ScanJob, ScanRecord, Tally, read_point, tally_batch
from backend.provenance.verification import StaticVerification, VerificationContext, parse_link, static_verification
from backend.provenance.verification import with_scans as complete
from backend.settings import Settings

T = TypeVar("T")
R = TypeVar("R")

MAX_ENTRIES = 20_000  # static parts kept (a few KB each)
REBUILDS = 3  # a static part rebuilt this often while the data keeps moving is answered as last built

templates = Jinja2Templates(directory=Path(__file__).resolve().parent / "templates")

LABELS = {
    "registered": "Registered on chain",
    "commissioning": "Made",
    "packing": "Packed",
    "unpacking": "Unpacked",
    "shipping": "Shipped",
    "receiving": "Received",
    "retail_selling": "Sold",
    "decommissioning": "Decommissioned",
    "destroying": "Destroyed",
    "recalled": "Recalled",
    "storing": "Stored",
    "inspecting": "Inspected",
    "accepting": "Accepted",
    "loading": "Loaded",
    "departing": "Departed",
    "arriving": "Arrived",
}


@cache
def template(name: str) -> Template:
    """A page template, loaded once per process (``get_template`` would stat its file every time)."""
    return templates.get_template(name)


@cache
def page_parts() -> Any:
    """The macros of the verification page (verify_parts.html)."""
    return template("verify_parts.html").module


def when(timestamp: int | None) -> str:
    if not timestamp:
        return "pending"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%d %b %Y %H:%M UTC")


class GroupReader(GroupCommitWriter[T, R]):
    """The group-commit writer's batching for read-only work: one plain session per batch, no
    writer lock (``scan=false`` resolutions judge scans without recording one)."""

    def _attempt(self, jobs: list[Job[T]], gather: bool) -> Any:
        if gather:  # no lock to wait for: only what is already waiting joins
            take_waiting(self._queue, jobs, self.max_batch)
        return self._read([job.item for job in jobs])

    def _read(self, items: list[T]) -> Any:
        with Session(self.engine) as session:
            return self.work(session, items)

    def _commit_each(self, items: list[T]) -> list[Any]:
        results: list[Any] = []
        for item in items:
            try:
                results.extend(self._read([item]))
            except Exception as exc:
                results.append(exc)
        return results


@dataclass
class Entry:
    """A cached static part and where the data stood when it was read."""

    static: StaticVerification
    point: Point
    view: View
    digest: bytes
    _parts: dict[str, Markup] | None = field(default=None, repr=False)
    _heads: dict[str, bytes] = field(default_factory=dict, repr=False)
    _body: tuple[bytes, bytes] | None = field(default=None, repr=False)

    def parts(self) -> dict[str, Markup]:
        """The page's static fragments, rendered once per entry."""
        if self._parts is None:
            module = page_parts()
            r = self.static.result
            self._parts = {"middle": module.middle(r, when, LABELS), "proof": module.proof(r)}
        return self._parts

    def head(self, r: dict[str, Any]) -> bytes:
        """The page's head (its title names the kind of verdict): once per entry and kind, at most
        four. The verdict's reason may change with every scan: it is rendered per answer."""
        kind = r["verdict"]
        cached = self._heads.get(kind)
        if cached is None:
            cached = self._heads[kind] = page_parts().head(r).encode()
        return cached

    def body(self, r: dict[str, Any]) -> tuple[bytes, bytes]:
        """What the page shows before and after its scans that only the provenance data changes
        (passport and trail; proofs), as bytes, rendered once per entry."""
        if self._body is None:
            parts = self.parts()
            before = page_parts().passport(r, when) + parts["middle"]
            self._body = (before.encode(), str(parts["proof"]).encode())
        return self._body


@dataclass(frozen=True)
class Answer:
    """One answer: the entry it came from, the scan tally, and the blocks it claims."""

    entry: Entry
    tally: Tally
    as_of_block: int
    confirmed_block: int

    def result(self) -> dict[str, Any]:
        t = self.tally
        result = complete(self.entry.static, t.total or 0, t.signals, list(t.hard))
        result["as_of_block"] = self.as_of_block
        result["confirmed_block"] = self.confirmed_block
        return result

    def etag(self, variant: str) -> str:
        t = self.tally
        scans = orjson.dumps([t.total, t.signals, list(t.hard)], option=orjson.OPT_SORT_KEYS)
        digest = hashlib.blake2b(self.entry.digest, digest_size=16)
        digest.update(f"|{self.as_of_block}|{self.confirmed_block}|{variant}|".encode())
        digest.update(scans)
        return f'"{digest.hexdigest()}"'

    def json(self) -> bytes:
        return orjson.dumps(self.result())

    def html(self) -> bytes:
        """The page verify.html renders, from the entry's cached parts: per answer only the verdict,
        the scans and the block are rendered, in Python (verify_page.py; tests compare it with the
        one-shot page)."""
        r = self.result()
        entry = self.entry
        before, after = entry.body(r)
        return b"".join(
            (
                entry.head(r),
                verify_page.verdict(r).encode(),
                before,
                verify_page.scans(r).encode(),
                after,
                verify_page.bottom(r).encode(),
            )
        )

    def whole_page(self) -> bytes:
        """The page rendered at once (verify.html), every part afresh: the reference ``html`` is held to."""
        return template("verify.html").render(r=self.result(), when=when, labels=LABELS).encode()


def matches(if_none_match: str | None, etag: str) -> bool:
    """Whether ``If-None-Match`` names this representation (weak comparison, as for GET)."""
    if not if_none_match:
        return False
    if if_none_match.strip() == "*":
        return True
    return any(tag.strip().removeprefix("W/") == etag for tag in if_none_match.split(","))


class VerificationAnswers:
    def __init__(self, engine: Engine, settings: Settings, max_entries: int = MAX_ENTRIES) -> None:
        self.engine = engine
        self.settings = settings
        self.max_entries = max_entries
        self.scans: GroupCommitWriter[ScanJob, Tally] = GroupCommitWriter(engine, self._tally)
        self.reads: GroupReader[ScanJob, Tally] = GroupReader(engine, self._tally)
        self._entries: OrderedDict[tuple[str, str, View], Entry] = OrderedDict()
        self._building: dict[tuple[str, str, View], asyncio.Future[Entry]] = {}
        self.builds = 0

    def _tally(self, session: Session, jobs: list[ScanJob]) -> list[Tally | DomainError]:
        return list(tally_batch(session, jobs, self.settings))

    def close(self) -> None:
        """Commit what is queued, then stop (a stopping process loses no accepted scan)."""
        self.scans.close()
        self.reads.close()

    # -- static parts ----------------------------------------------------------------------

    def _context(self, session: Session, point: Point, view: View) -> VerificationContext:
        cursor = session.get(ChainCursor, "indexer")
        chain_id = self.settings.chain_id or (cursor.chain_id if cursor else 31337)
        try:
            registry = load_manifest(self.settings.deployments_dir, chain_id).address_of("ProvenanceRegistry")
        except ManifestMissing:
            registry = ""
        as_of = point.latest_block if view == View.LATEST else point.confirmed_block
        return VerificationContext(
            chain_id, registry, as_of, self.settings.resolved_public_url, point.confirmed_block, view.value
        )

    def _read_static(self, gtin: str, serial: str, view: View) -> Entry:
        """The static part and the point, read in one snapshot (worker thread)."""
        with Session(self.engine) as session:
            if self.engine.dialect.name == "postgresql":  # one snapshot for every statement below
                session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
            point = read_point(session)
            static = static_verification(session, gtin, serial, self._context(session, point, view))
        digest = hashlib.blake2b(orjson.dumps(static.result, option=orjson.OPT_SORT_KEYS), digest_size=16).digest()
        return Entry(static, point, view, digest)

    async def _build(self, key: tuple[str, str, View], slot: Gate | None) -> Entry:
        """Build the entry once, however many requests wait for it. ``slot``: the gate whose slot
        the building thread and its connection take (a request that holds none: the fast path);
        Overloaded if none comes free in time."""
        pending = self._building.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        if slot is not None and not await slot.enter():
            raise Overloaded(slot)
        future: asyncio.Future[Entry] = asyncio.get_running_loop().create_future()
        self._building[key] = future
        try:
            entry = await anyio.to_thread.run_sync(self._read_static, *key)
            self.builds += 1
            self._store(key, entry)
            future.set_result(entry)
            return entry
        except BaseException as exc:
            future.set_exception(exc)
            future.exception()  # retrieved: the waiters (if any) get it
            raise
        finally:
            del self._building[key]
            if slot is not None:
                slot.leave()

    def _store(self, key: tuple[str, str, View], entry: Entry) -> None:
        current = self._entries.get(key)
        if current is not None and current.point.version > entry.point.version:
            return  # a newer build landed first
        self._entries[key] = entry
        self._entries.move_to_end(key)
        while len(self._entries) > self.max_entries:
            self._entries.popitem(last=False)

    async def _entry(self, key: tuple[str, str, View], slot: Gate | None) -> Entry:
        entry = self._entries.get(key)
        if entry is None:
            return await self._build(key, slot)
        self._entries.move_to_end(key)
        return entry

    # -- answers -----------------------------------------------------------------------------

    @staticmethod
    def _fresh(entry: Entry, point: Point) -> bool:
        """Whether the entry is still true at ``point`` (same data; the confirmed view: same block)."""
        return entry.point.same_data(point) and (
            entry.view == View.LATEST or entry.point.confirmed_block == point.confirmed_block
        )

    async def answer(
        self, raw_gtin: str, raw_serial: str, view: View, scan: ScanRecord | None, slot: Gate | None = None
    ) -> Answer:
        """The answer about one item; with ``scan``, once that scan is committed. Raises
        InvalidDigitalLink for a malformed link (nothing recorded). ``slot``: see ``_build``
        (a build refused raises Overloaded before anything is recorded)."""
        gtin, serial = parse_link(raw_gtin, raw_serial)
        key = (gtin, serial, view)
        entry = await self._entry(key, slot)
        for attempt in range(REBUILDS + 1):
            recording = scan is not None and entry.static.basis is not None
            job = ScanJob(entry.static.basis, scan if recording else None)
            tally = await (self.scans if recording else self.reads).submit(job)
            if recording:
                scan = None  # recorded: a rebuild below must not record it again
            if self._fresh(entry, tally.point) or attempt == REBUILDS:
                break
            try:
                entry = await self._build(key, slot)  # the data moved since this entry was read
            except Overloaded:
                break  # no thread free: answered as last built, claiming its own blocks (below)
        point = tally.point if self._fresh(entry, tally.point) else entry.point
        as_of = max(entry.point.latest_block, point.latest_block)
        confirmed = max(entry.point.confirmed_block, point.confirmed_block)
        if view == View.CONFIRMED:
            as_of = confirmed
        return Answer(entry, tally, as_of, confirmed)
