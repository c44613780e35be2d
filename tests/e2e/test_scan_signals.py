"""Finding 7: scan signals that resist spoofing. Anonymous, self-reported locations and repeated
requests of one client never flip a genuine item's verdict; corroborated evidence does: distinct
client networks, the brand's or an authorised partner's own scans, per-client rates. Every answer
shows the evidence. Each test performs the attack through the public route against a real chain."""

from __future__ import annotations

import asyncio

import pytest
from fastapi.testclient import TestClient
from sqlmodel import Session, select

from backend.api.answers import VerificationAnswers
from backend.api.app import create_app
from backend.db.models import Scan
from backend.indexer.confirmed import View
from tests.e2e.scanning import NEW_YORK, PARIS, TOKYO, phone, scan, signals
from tests.provenance.support import Api
from tests.support import Platform

pytestmark = pytest.mark.chain

DEMO = "09506000134352"  # the demo product: SN0001-SN0005 registered and settled on chain


def test_one_client_with_far_apart_coordinates_never_flips_a_genuine_item(platform: Platform) -> None:
    attacker = phone(platform, 1)
    # The reported attack: two anonymous requests, Paris then Tokyo moments later.
    assert scan(attacker, DEMO, "SN0002", **PARIS)["verdict"] == "authentic"
    second = scan(attacker, DEMO, "SN0002", **TOKYO)
    assert second["verdict"] == "authentic"
    assert signals(second) == {"impossible_travel": "soft"}
    # Fifty more, round the world, with a new User-Agent and a forged X-Forwarded-For each time.
    for n in range(50):
        where = (PARIS, TOKYO, NEW_YORK)[n % 3]
        forged = {"User-Agent": f"Phone/{n}", "X-Forwarded-For": f"198.51.100.{n}"}
        assert scan(attacker, DEMO, "SN0002", headers=forged, **where)["verdict"] == "authentic"
    answer = scan(attacker, DEMO, "SN0002", scan="false")
    assert answer["verdict"] == "authentic"
    assert signals(answer) == {"impossible_travel": "soft", "too_often": "soft"}
    evidence = answer["scan_signals"]["evidence"]
    assert evidence["in_window"]["distinct_clients"] == 1
    assert evidence["in_window"]["scans"] == 52
    assert evidence["in_window"]["counted"] == 3  # one client's first three scans count, the rest are repeats
    assert evidence["in_window"]["by_source"] == {"anonymous": 52, "brand": 0, "partner": 0, "organisation": 0}
    # The neighbours of one network are that network (a /24 or /48 is one client).
    neighbour = phone(platform, 1, host=0x99)
    assert scan(neighbour, DEMO, "SN0002", **TOKYO)["scan_signals"]["evidence"]["in_window"]["distinct_clients"] == 1
    # Nothing stored can find the client: no address, only the keyed hash of its network.
    with Session(platform.engine) as session:
        stored = session.exec(select(Scan)).all()
    assert {s.client for s in stored} != {None}
    assert not any("2001:db8" in (s.client or "") or "198.51.100" in (s.client or "") for s in stored)
    # The page shows the unconfirmed report and the evidence, and keeps the verdict.
    page = attacker.get(f"/01/{DEMO}/21/SN0002", params={"format": "html", "scan": "false"})
    assert 'data-verdict="authentic"' in page.text
    assert 'data-distinct-clients="1"' in page.text
    assert "Unconfirmed report" in page.text


def test_distinct_networks_in_both_places_corroborate_a_copy(platform: Platform) -> None:
    for network in (1, 2):
        scan(phone(platform, network), DEMO, "SN0003", **PARIS)
    for network in (3, 4):
        scan(phone(platform, network), DEMO, "SN0003", **TOKYO)
    # A client that reports both places contradicts itself: it backs neither.
    scan(phone(platform, 5), DEMO, "SN0003", **PARIS)
    two_each = scan(phone(platform, 5), DEMO, "SN0003", **TOKYO)
    assert two_each["verdict"] == "authentic"
    assert signals(two_each) == {"impossible_travel": "soft"}
    scan(phone(platform, 6), DEMO, "SN0003", **PARIS)
    copies = scan(phone(platform, 7), DEMO, "SN0003", **TOKYO)
    assert copies["verdict"] == "suspicious"
    assert signals(copies)["impossible_travel"] == "hard"
    assert "km apart within" in copies["reason"]
    assert "3 distinct network(s)" in copies["reason"]


@pytest.mark.sqlite_only
def test_the_brand_or_its_partner_vouches_for_a_place_a_rival_does_not(platform: Platform) -> None:
    api = Api(platform.client, platform.engine, {"admin": platform.keys["admin"], "demo-brand": platform.keys["brand"]})
    rival = {"Authorization": f"Bearer {api.organisation('rival', ['brand'])}"}
    haulier = {"Authorization": f"Bearer {api.organisation('haulier', ['distributor'])}"}
    api.partner("demo-brand", "haulier", ["distributor"])
    brand = platform.headers("brand")

    # The brand scans SN0004 in Paris: an accountable, authenticated location.
    assert scan(phone(platform, 1), DEMO, "SN0004", headers=brand, **PARIS)["verdict"] == "authentic"
    # A rival organisation's key and one anonymous phone in Tokyo are two clients: not enough.
    scan(phone(platform, 2), DEMO, "SN0004", headers=rival, **TOKYO)
    weak = scan(phone(platform, 3), DEMO, "SN0004", **TOKYO)
    assert weak["verdict"] == "authentic"
    assert weak["scan_signals"]["evidence"]["in_window"]["by_source"] == {
        "anonymous": 1,
        "brand": 1,
        "partner": 0,
        "organisation": 1,
    }
    copies = scan(phone(platform, 4), DEMO, "SN0004", **TOKYO)  # the third distinct network in Tokyo
    assert copies["verdict"] == "suspicious"
    assert "an authorised organisation's scan" in copies["reason"]

    # Two accountable scans far apart are enough on their own: the brand's partner in New York.
    scan(phone(platform, 5), DEMO, "SN0005", headers=brand, **PARIS)
    both = scan(phone(platform, 6), DEMO, "SN0005", headers=haulier, **NEW_YORK)
    assert both["verdict"] == "suspicious"
    assert both["scan_signals"]["evidence"]["in_window"]["by_source"]["partner"] == 1
    # A key that is not valid is refused, and nothing is recorded.
    with Session(platform.engine) as session:
        before = len(session.exec(select(Scan)).all())
    forged = phone(platform, 7).get(
        f"/01/{DEMO}/21/SN0005",
        params={"format": "json", **TOKYO},
        headers={"Authorization": "Bearer cred_not-a-key-of-anyone-at-all"},
    )
    assert forged.status_code == 401
    assert forged.json()["error"]["field"] == "Authorization"
    with Session(platform.engine) as session:
        assert len(session.exec(select(Scan)).all()) == before


@pytest.mark.sqlite_only
def test_rates_count_clients_not_requests(platform: Platform) -> None:
    one = phone(platform, 1)
    for _ in range(30):
        scan(one, DEMO, "SN0001")
    repeated = scan(one, DEMO, "SN0001", scan="false")
    assert repeated["verdict"] == "authentic"
    assert signals(repeated) == {"too_often": "soft"}
    assert (
        "scanned 30 times within 24 hours by 1 distinct network(s)" in repeated["scan_signals"]["signals"][0]["reason"]
    )
    for network in range(2, 9):  # seven more phones, three scans each: 8 x 3 = 24 count, more than 20
        for _ in range(3):
            answer = scan(phone(platform, network), DEMO, "SN0001")
    assert answer["verdict"] == "suspicious"
    assert "scanned 51 times within 24 hours by 8 distinct network(s)" in answer["reason"]


def test_the_page_from_cached_parts_is_the_page_rendered_at_once(platform: Platform) -> None:
    """Per answer only the scans and the block are rendered (answers.py): whatever the verdict, the
    page is byte for byte the one verify.html renders in one go."""
    answers: VerificationAnswers = platform.client.app.state.answers  # type: ignore[attr-defined]

    def page(serial: str) -> tuple[str, str]:
        answer = asyncio.run(answers.answer(DEMO, serial, View.LATEST, None))
        assert answer.html() == answer.whole_page()
        return answer.html().decode(), str(answer.result()["verdict"])

    for network in (1, 2, 3):
        scan(phone(platform, network), DEMO, "SN0004", **PARIS)
    genuine, verdict = page("SN0004")
    assert verdict == "authentic"
    assert 'data-distinct-clients="3"' in genuine
    # The fast path's page is the route's (tests/provenance/test_verification_answers.py: the others).
    routed = TestClient(create_app(platform.settings, platform.engine, verification_fast_path=False))
    link, quiet = f"/01/{DEMO}/21/SN0004", {"format": "html", "scan": "false"}
    assert platform.client.get(link, params=quiet).text == routed.get(link, params=quiet).text == genuine
    for network in (4, 5, 6):
        scan(phone(platform, network), DEMO, "SN0004", **TOKYO)
    copied, verdict = page("SN0004")
    assert verdict == "suspicious"
    assert 'data-verdict="suspicious"' in copied
    assert "possible copy" in copied
    # The same served over HTTP, and for an item nobody registered (no scans part at all).
    served = platform.client.get(link, params=quiet)
    assert served.text == routed.get(link, params=quiet).text == copied
    assert served.headers["etag"] == routed.get(link, params=quiet).headers["etag"]
    unknown, verdict = page("NOSUCH1")
    assert verdict == "unknown"
    assert "Scans of this code" not in unknown
