"""The console's provenance pages: an organisation imports items (their batches and progress to the
chain), reads its events and follows an item's trace (made from, travelled in); and sees only its
own part: another brand's items, imports, events and trace are refused (403 naming the field) with
nothing written. No chain needed: capture and query are SQL, the chain's part waits in the outbox."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.db.models import Item, ItemBatch
from backend.settings import Settings
from tests.provenance.support import FRESH, Api, at, commission, event, pack, sgtin, ship
from tests.provenance.test_ownership import CASE, OUTSIDER_GTIN, outsider
from tests.security.test_audit_log import seeded_api
from tests.security.test_console_sessions import HTML, csrf_of, signed_in


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    for api in seeded_api(settings, engine):
        api.product("demo-brand", FRESH, "Tea caddy")
        yield api


def items(api: Api) -> int:
    with Session(api.engine) as session:
        return int(session.exec(select(func.count()).select_from(Item)).one())


def test_an_organisation_imports_items_and_follows_a_trace(api: Api) -> None:
    brand = signed_in(api, "demo-brand")
    page = brand.get("/console/items", headers=HTML)
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    bad = brand.post("/console/items/import", data={"csrf_token": csrf, "csv": "gtin,serial\n123,A\n"}, headers=HTML)
    assert bad.status_code == 422
    assert "line 2" in bad.text
    before = items(api)
    csv = "gtin,serial,lot\n" + "".join(f"{FRESH},T{n},L1\n" for n in range(1, 4))
    imported = brand.post("/console/items/import", data={"csrf_token": csrf, "csv": csv}, headers=HTML)
    assert imported.status_code == 200, imported.text
    assert "3 items registered in 1 batch(es)" in imported.text
    assert items(api) == before + 3
    progress = brand.get("/console/items/progress", headers=HTML)
    assert 'hx-trigger="every 2s"' in progress.text  # pending: the page refreshes until it is on chain
    assert "pending" in progress.text

    one, two, three = (sgtin(FRESH, f"T{n}") for n in range(1, 4))
    api.accept(
        "demo-brand",
        commission([one, two], at(0)),
        event("TransformationEvent", at(1), bizStep="commissioning", inputEPCList=[one], outputEPCList=[three]),
        pack(CASE, [three], at(2)),
        ship([CASE], at(3)),
    )
    events = brand.get("/console/events", params={"gtin": FRESH}, headers=HTML)
    assert events.status_code == 200
    assert "TransformationEvent" in events.text
    traced = brand.get("/console/trace", params={"epc": three}, headers=HTML)
    assert traced.status_code == 200, traced.text
    reached = traced.text.split('data-testid="trace-reached"')[1].split("</table>")[0]
    assert "made from" in reached
    assert one in reached
    assert "travelled in" in reached
    assert "urn:epc:id:sscc" in reached or "/00/" in reached  # the case, as its key


def test_an_organisation_sees_only_its_own_part(api: Api) -> None:
    their_item = outsider(api)  # another brand with its own item and commissioning event
    brand = signed_in(api, "demo-brand")
    refusals = {
        "/console/events?gtin=" + OUTSIDER_GTIN: "gtin",
        "/console/events?epc=" + their_item: "epc",
        "/console/trace?epc=" + their_item: "epc",
    }
    for path, field in refusals.items():
        answer = brand.get(path)
        assert answer.status_code == 403, path
        assert answer.json()["error"]["field"] == field, path
    listed = brand.get("/console/items", headers=HTML)
    assert OUTSIDER_GTIN not in listed.text  # nor its batches
    assert OUTSIDER_GTIN not in brand.get("/console/events", headers=HTML).text
    assert "outsider" not in brand.get("/console/organisations", headers=HTML).text

    # Importing the other brand's GTIN: refused by register_items' rule, nothing written.
    before, csrf = items(api), csrf_of(listed.text)
    csv = f"gtin,serial\n{OUTSIDER_GTIN},Z1\n"
    stolen = brand.post("/console/items/import", data={"csrf_token": csrf, "csv": csv}, headers=HTML)
    assert stolen.status_code == 403
    assert items(api) == before
    # An admin's session registers no items (a manufacturer does), and a form without CSRF nothing.
    admin = signed_in(api, "admin")
    csv = f"gtin,serial\n{FRESH},A1\n"
    assert admin.post("/console/items/import", data={"csrf_token": csrf, "csv": csv}).status_code == 403
    assert brand.post("/console/items/import", data={"csv": csv}).status_code == 403
    assert items(api) == before
    with Session(api.engine) as session:
        assert session.exec(select(ItemBatch).where(ItemBatch.gtin == FRESH)).first() is None
    # The admin sees every brand's part.
    assert OUTSIDER_GTIN in admin.get("/console/items", headers=HTML).text
    assert admin.get("/console/trace", params={"epc": their_item}, headers=HTML).status_code == 200
