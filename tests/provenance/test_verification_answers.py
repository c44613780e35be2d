"""Verification answers at scan speed, without a chain: ETag and 304 while nothing an answer shows
has changed, a fresh answer as soon as something has (an event captured), the fast path and the
route answering alike, and scans recorded in batches through the group-commit writer, none lost
when the process stops (backend/api/answers.py)."""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlmodel import Session, func, select

from backend.api.answers import VerificationAnswers
from backend.api.app import create_app
from backend.db.models import Item, Scan
from backend.indexer.confirmed import View
from backend.provenance.answers import ScanRecord
from backend.provenance.scans import CoarseLocation
from backend.settings import Settings
from tests.provenance.support import BLEND, FRESH, Api, at, commission, sgtin

URL = f"/01/{FRESH}/21/SN0001"
UNKNOWN_GTIN = "09506000999999"  # a valid GTIN no brand registered


def scans_of(engine: Engine) -> int:
    with Session(engine) as session:
        return int(session.exec(select(func.count()).select_from(Scan)).one())


def test_an_unchanged_answer_revalidates_with_304(api: Api) -> None:
    first = api.client.get(URL, params={"format": "json", "scan": "false"})
    assert first.status_code == 200
    etag = first.headers["etag"]
    assert first.headers["cache-control"] == "no-cache"  # kept, but revalidated every time
    again = api.client.get(URL, params={"format": "json", "scan": "false"}, headers={"If-None-Match": etag})
    assert (again.status_code, again.content, again.headers["etag"]) == (304, b"", etag)
    # The page is another representation: its own ETag, never the JSON's 304.
    page = api.client.get(URL, params={"format": "html", "scan": "false"}, headers={"If-None-Match": etag})
    assert page.status_code == 200
    assert page.headers["etag"] != etag
    # Through the route too (a key in the request leaves the fast path): the same ETag, the same 304.
    routed = api.client.get(
        URL, params={"format": "json", "scan": "false"}, headers={"If-None-Match": etag, **api.headers("admin")}
    )
    assert routed.status_code == 304
    # Recording a scan changes the item's scan count: a full answer, whatever the client holds.
    scanned = api.client.get(URL, params={"format": "json"}, headers={"If-None-Match": etag})
    assert scanned.status_code == 200
    assert scanned.json()["item"]["scans"] == 1
    assert scans_of(api.engine) == 1


def test_a_captured_event_changes_the_cached_answer_at_once(api: Api) -> None:
    before = api.client.get(URL, params={"format": "json", "scan": "false"})
    assert before.json()["trail"] == []
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001")], at(0)))
    after = api.client.get(
        URL, params={"format": "json", "scan": "false"}, headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert [step["event"] for step in after.json()["trail"]] == ["commissioning"]
    # Another item's answer is rebuilt too (one version for all), and is still what it was.
    other = api.client.get(f"/01/{FRESH}/21/SN0002", params={"format": "json", "scan": "false"})
    assert other.json()["trail"] == []


def test_the_fast_path_answers_as_the_route_does(api: Api, settings: Settings) -> None:
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0003")], at(0)))
    routed = TestClient(create_app(settings, api.engine, verification_fast_path=False))
    for params, accept in (({"scan": "false"}, "application/json"), ({"format": "html", "scan": "false"}, None)):
        headers = {"Accept": accept} if accept else {}
        fast = api.client.get(f"/01/{FRESH}/21/SN0003", params=params, headers=headers)
        slow = routed.get(f"/01/{FRESH}/21/SN0003", params=params, headers=headers)
        assert (fast.status_code, fast.content) == (slow.status_code, slow.content)
        assert {k: fast.headers[k] for k in ("etag", "vary", "content-type")} == {
            k: slow.headers[k] for k in ("etag", "vary", "content-type")
        }
    # Refusals come from the route, whichever path took the request: nothing recorded.
    assert api.client.get(f"/01/{FRESH[:-1]}7/21/SN0003").status_code == 400
    assert api.client.get(f"/01/{FRESH}/21/SN0003", params={"lat": "91", "lon": "0"}).status_code == 422
    assert scans_of(api.engine) == 0


def test_the_fast_path_serves_the_routes_page_for_each_verdict_without_a_chain(api: Api, settings: Settings) -> None:
    """The page (and its headers) from the fast path is byte for byte the route's, with scans recorded
    or not: an unknown GTIN, an unknown serial, an item not on chain yet, a recalled item (the
    chain's verdicts, genuine and suspicious: tests/e2e/test_scan_signals.py)."""
    recalled = api.client.post(
        "/v1/recalls", json={"gtin": BLEND, "reason": 'Glass <shards> & "dust"'}, headers=api.headers("demo-brand")
    )
    assert recalled.status_code == 201, recalled.text
    routed = TestClient(create_app(settings, api.engine, verification_fast_path=False))
    links = {
        "unknown GTIN": (f"/01/{UNKNOWN_GTIN}/21/SN0001", "unknown"),
        "unknown serial": (f"/01/{FRESH}/21/NOSUCH1", "unknown"),
        "not on chain": (f"/01/{FRESH}/21/SN0004", "unknown"),
        "recalled": (f"/01/{BLEND}/21/{_blend_serial(api)}", "recalled"),
    }
    for name, (link, verdict) in links.items():
        for params in ({"format": "html", "scan": "false"}, {"format": "html"}):
            fast, slow = api.client.get(link, params=params), routed.get(link, params=params)
            assert fast.status_code == slow.status_code == 200, name
            assert f'data-verdict="{verdict}"' in fast.text, name
            assert fast.content == slow.content, name
            headers = ("vary", "cache-control", "content-type", "content-security-policy", "x-frame-options")
            headers += ("etag",) if params.get("scan") == "false" else ()  # a scan recorded: one more counted
            assert {k: fast.headers[k] for k in headers} == {k: slow.headers[k] for k in headers}, name
    assert "Glass &lt;shards&gt; &amp; &#34;dust&#34;" in fast.text


def _blend_serial(api: Api) -> str:
    with Session(api.engine) as session:
        return str(session.exec(select(Item.serial).where(Item.gtin == BLEND)).first())


def _answers(api: Api, settings: Settings) -> VerificationAnswers:
    return VerificationAnswers(api.engine, settings)


def _record(n: int) -> ScanRecord:
    return ScanRecord(CoarseLocation.of(None, None, None), f"client-{n % 7}")


def _lock_for(engine: Engine, seconds: float) -> tuple[sqlite3.Connection, threading.Timer]:
    """Hold SQLite's write lock for ``seconds`` so that scans queue up behind it."""
    blocker = sqlite3.connect(Path(str(engine.url.database)), isolation_level=None, check_same_thread=False)
    blocker.execute("BEGIN IMMEDIATE")
    released = threading.Timer(seconds, blocker.execute, args=("COMMIT",))
    released.start()
    return blocker, released


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_scans_are_recorded_in_batches_and_each_answer_counts_its_own(api: Api, settings: Settings) -> None:
    answers = _answers(api, settings)

    async def resolve_all() -> list[Any]:
        await answers.answer(FRESH, "SN0001", View.LATEST, None)  # the static part, built once
        blocker, released = _lock_for(api.engine, 1.0)
        try:
            return await asyncio.gather(*(answers.answer(FRESH, "SN0001", View.LATEST, _record(n)) for n in range(50)))
        finally:
            released.join()
            blocker.close()

    try:
        got = asyncio.run(resolve_all())
    finally:
        answers.close()
    assert scans_of(api.engine) == 50
    assert answers.scans.items == 50
    assert answers.scans.batches <= 2
    assert answers.builds == 1
    # Each answer is given once its scan is committed: it counts at least its own.
    assert all(a.result()["item"]["scans"] >= 1 for a in got)
    assert max(a.result()["item"]["scans"] for a in got) == 50


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_a_stopping_process_commits_the_scans_it_has_queued(api: Api, settings: Settings) -> None:
    answers = _answers(api, settings)

    async def stop_while_queued() -> list[Any]:
        await answers.answer(FRESH, "SN0002", View.LATEST, None)
        blocker, released = _lock_for(api.engine, 0.5)
        try:
            pending = [
                asyncio.ensure_future(answers.answer(FRESH, "SN0002", View.LATEST, _record(n))) for n in range(20)
            ]
            await asyncio.sleep(0)  # each has queued its scan (the static part is cached)
            await asyncio.to_thread(answers.close)  # shutdown: the writer drains its queue first
            return await asyncio.gather(*pending)
        finally:
            released.join()
            blocker.close()

    got = asyncio.run(stop_while_queued())
    assert len(got) == 20
    assert scans_of(api.engine) == 20


def test_a_change_written_outside_the_api_changes_the_cached_answer(api: Api) -> None:
    """Whoever writes (the CLI, a repair by hand): the triggers move the answer version."""
    before = api.client.get(URL, params={"format": "json", "scan": "false"})
    assert before.json()["product"]["name"] == "Tea caddy"
    with Session(api.engine) as session:
        session.execute(text("UPDATE products SET name = 'Tea caddy, renamed' WHERE gtin = :gtin"), {"gtin": FRESH})
        session.commit()
    after = api.client.get(
        URL, params={"format": "json", "scan": "false"}, headers={"If-None-Match": before.headers["etag"]}
    )
    assert after.status_code == 200
    assert after.json()["product"]["name"] == "Tea caddy, renamed"


def _tight(api: Api, settings: Settings) -> Any:
    """The API with one public slot and no wait for one: whatever needs a slot and finds none is refused."""
    return create_app(settings.model_copy(update={"admit_public": 1, "admit_max_wait_ms": 0}), api.engine)


@pytest.mark.sqlite_only  # holds SQLite's write lock from a second connection
def test_fast_path_answers_waiting_for_their_scans_take_no_public_slot(api: Api, settings: Settings) -> None:
    """The benchmark's 503s: answers waiting for their scan's batch were counted as holding a thread
    (the public slots), so a worker given more connections than slots shed some. They hold none."""
    app = _tight(api, settings)

    async def burst() -> list[httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get(URL, params={"scan": "false"})).status_code == 200  # the entry, built
            blocker, released = _lock_for(api.engine, 0.5)  # every scan below waits for the same batch
            try:
                return await asyncio.gather(*(client.get(URL) for _ in range(24)))
            finally:
                released.join()
                blocker.close()

    try:
        got = asyncio.run(burst())
    finally:
        app.state.answers.close()
    assert [r.status_code for r in got] == [200] * 24
    assert scans_of(api.engine) == 24


@pytest.mark.sqlite_only  # admission alone: the database only counts what was recorded
def test_work_that_holds_a_thread_still_needs_a_public_slot(api: Api, settings: Settings) -> None:
    """A cold entry (built in a worker thread) and whatever goes to the route take a public slot:
    with none free they are refused at once, 503 naming the class, nothing recorded."""
    app = _tight(api, settings)
    gates = app.state.gates

    async def scenario() -> dict[str, httpx.Response]:
        async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
            assert (await client.get(URL, params={"scan": "false"})).status_code == 200  # SN0001, built
            assert await gates.public.enter()  # the one slot, taken (a build or a route elsewhere)
            try:
                got = {
                    "warm": await client.get(URL),
                    "cold": await client.get(f"/01/{FRESH}/21/SN0002"),
                    "routed": await client.get(URL, params={"linkType": "gs1:pip"}),
                    "keyed": await client.get(URL, headers=api.headers("admin")),
                }
            finally:
                gates.public.leave()
            got["cold_later"] = await client.get(f"/01/{FRESH}/21/SN0002")
            return got

    builds = app.state.answers.builds
    try:
        got = asyncio.run(scenario())
    finally:
        app.state.answers.close()
    assert {name: r.status_code for name, r in got.items()} == {
        "warm": 200,  # cached: no thread needed
        "cold": 503,
        "routed": 503,
        "keyed": 503,
        "cold_later": 200,
    }
    for name in ("cold", "routed", "keyed"):
        error = got[name].json()["error"]
        assert (error["code"], error["field"], error["route_class"]) == ("overloaded", "request", "public")
        assert got[name].headers["retry-after"] == "1"
        assert got[name].headers["x-content-type-options"] == "nosniff"
    assert app.state.answers.builds == builds + 2  # SN0001 and, once a slot was free, SN0002
    assert scans_of(api.engine) == 2  # the warm answer's and the later one's; none for a refusal
