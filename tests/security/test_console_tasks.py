"""The console's remaining tasks, each a form over the API route's own function: an admin admits an
organisation, gives it a company prefix and suspends it, adds a retailer and starts a prediction
run; an organisation grants its partners roles, captures EPCIS documents (JSON or XML, each
event's outcome shown), issues a recall and traces an item both ways. And the attacks: an
organisation's session posting for another brand, a post without the CSRF token, an organisation's
session on an admin's form (refused with the bare error, never the admin's page), an admin's
session on an organisation's form: refused, nothing written. No chain needed: the chain's part
waits in the outbox."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.db.models import (
    EpcisEventRecord,
    Operation,
    Organisation,
    Partnership,
    PredictionRun,
    RecallRecord,
    Retailer,
)
from backend.provenance.epcis.xml import document_to_xml
from backend.provenance.gtin import check_digit
from backend.settings import Settings
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, sgtin, ship
from tests.provenance.test_ownership import CASE, OUTSIDER_GTIN, outsider
from tests.security.test_audit_log import seeded_api
from tests.security.test_console_sessions import HTML, csrf_of, signed_in


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    for api in seeded_api(settings, engine):
        api.product("demo-brand", FRESH, "Tea caddy")
        api.items("demo-brand", FRESH, ["T1", "T2", "T3"], lot="L1")
        yield api


def count(api: Api, table: type) -> int:
    with Session(api.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def refused(answer: object, status: int, field: str) -> None:
    assert answer.status_code == status, answer.text  # type: ignore[attr-defined]
    assert answer.json()["error"]["field"] == field, answer.text  # type: ignore[attr-defined]


def test_an_admin_admits_an_organisation_and_gives_it_a_prefix(api: Api) -> None:
    desk = signed_in(api, "admin")
    csrf = csrf_of(desk.get("/console/organisations", headers=HTML).text)
    operations = count(api, Operation)
    form = {"csrf_token": csrf, "id": "north-mill", "name": "North Mill", "role_manufacturer": "on"}
    admitted = desk.post("/console/organisations", data=form, headers=HTML)
    assert admitted.status_code == 200, admitted.text
    assert "Organisation north-mill admitted" in admitted.text
    with Session(api.engine) as session:
        org = session.get(Organisation, "north-mill")
        assert org is not None
        assert org.roles != 0
    assert count(api, Operation) > operations  # admitted on chain through the outbox
    again = desk.post("/console/organisations", data=form, headers=HTML)
    assert again.status_code == 409  # the API's own rule, shown on the page
    assert "North Mill" in again.text  # with what was typed
    no_role = desk.post("/console/organisations", data={**form, "id": "x-co", "role_manufacturer": ""})
    refused(no_role, 422, "roles")

    page = desk.get("/console/organisations/north-mill", headers=HTML)
    assert page.status_code == 200
    assert "North Mill" in page.text
    prefix = desk.post("/console/organisations/north-mill/prefixes", data={"csrf_token": csrf, "prefix": "4099999"})
    assert prefix.status_code == 200, prefix.text
    assert "4099999" in desk.get("/console/organisations/north-mill", headers=HTML).text
    suspended = desk.post("/console/organisations/north-mill/status", data={"csrf_token": csrf}, headers=HTML)
    assert suspended.status_code == 200
    assert "suspended" in suspended.text
    with Session(api.engine) as session:
        assert session.get(Organisation, "north-mill").active is False  # type: ignore[union-attr]


def test_an_organisation_grants_its_partners_and_nobody_else_does(api: Api) -> None:
    api.organisation("north-mill", ["manufacturer"])
    outsider(api)
    brand = signed_in(api, "demo-brand")
    own = brand.get("/console/organisations/demo-brand", headers=HTML)
    assert own.status_code == 200, own.text[-3000:]
    csrf = csrf_of(own.text)
    data = {"csrf_token": csrf, "partner_id": "north-mill", "role_manufacturer": "on"}
    granted = brand.post("/console/organisations/demo-brand/partners", data=data, headers=HTML)
    assert granted.status_code == 200, granted.text
    assert "north-mill: manufacturer" in granted.text
    with Session(api.engine) as session:
        grants = session.exec(select(Partnership).where(Partnership.brand_id == "demo-brand")).all()
        assert any(p.partner_id == "north-mill" and p.roles for p in grants)

    before = count(api, Partnership), count(api, Operation)
    # For another brand: the policy names the organisation in the path, nothing written.
    refused(brand.post("/console/organisations/outsider/partners", data=data), 403, "org_id")
    refused(brand.get("/console/organisations/outsider"), 403, "org_id")
    # Without the session's CSRF token.
    refused(
        brand.post("/console/organisations/demo-brand/partners", data={**data, "csrf_token": "x"}), 403, "csrf_token"
    )
    # An admin does not grant for a brand (the brand does), nor does an organisation admit, assign
    # prefixes or suspend: the bare refusal, never the admin's page.
    admin = signed_in(api, "admin")
    admin_csrf = csrf_of(admin.get("/console/organisations", headers=HTML).text)
    assert (
        admin.post("/console/organisations/demo-brand/partners", data={**data, "csrf_token": admin_csrf}).status_code
        == 403
    )
    for path, form in (
        ("/console/organisations", {"id": "mine", "name": "Mine", "role_brand": "on"}),
        ("/console/organisations/demo-brand/prefixes", {"prefix": "4011111"}),
        ("/console/organisations/outsider/status", {}),
        ("/console/organisations/demo-brand/status", {"active": "on"}),
    ):
        answer = brand.post(path, data={"csrf_token": csrf, **form}, headers=HTML)
        assert answer.status_code == 403, path
        assert "Admit an organisation" not in answer.text, path
    assert (count(api, Partnership), count(api, Operation)) == before
    with Session(api.engine) as session:
        assert session.get(Organisation, "mine") is None
        assert session.get(Organisation, "outsider").active  # type: ignore[union-attr]


def test_an_organisation_session_on_an_admin_form_reads_nothing_of_the_admin_page(api: Api) -> None:
    """Before FormPage, a refused post answered the admin's page (the stores, the keys) with a 403."""
    brand = signed_in(api, "demo-brand")
    csrf = csrf_of(brand.get("/console/items", headers=HTML).text)
    before = count(api, Retailer)
    for path, form in (
        ("/console/stores", {"id": "s2", "name": "S", "currency": "EUR", "retailer_id": "demo-retailer"}),
        ("/console/retailers", {"id": "r2", "name": "R"}),
        ("/console/keys", {"role": "admin"}),
        ("/console/predictions", {"as_of": ""}),
        ("/console/partners", {"id": "air", "name": "Air", "rate": "1"}),
    ):
        answer = brand.post(path, data={"csrf_token": csrf, **form}, headers=HTML)
        assert answer.status_code == 403, path
        assert "demo-store" not in answer.text, path
        assert "cred_" not in answer.text, path
        assert "<table" not in answer.text, path
    assert count(api, Retailer) == before
    assert count(api, PredictionRun) == 0


def test_an_admin_adds_a_retailer_and_starts_a_prediction_run(api: Api) -> None:
    desk = signed_in(api, "admin")
    csrf = csrf_of(desk.get("/console/stores", headers=HTML).text)
    added = desk.post(
        "/console/retailers", data={"csrf_token": csrf, "id": "corner-shop", "name": "Corner"}, headers=HTML
    )
    assert added.status_code == 200, added.text
    assert 'data-retailer="corner-shop"' in added.text
    refused(desk.post("/console/retailers", data={"csrf_token": csrf, "id": "corner-shop", "name": "C"}), 409, "id")
    refused(desk.post("/console/retailers", data={"id": "other", "name": "C"}), 403, "csrf_token")
    assert count(api, Retailer) == 2

    page = desk.get("/console/predictions", headers=HTML)
    assert page.status_code == 200
    assert "Start a run" in page.text
    future = desk.post("/console/predictions", data={"csrf_token": csrf, "as_of": "2999-01-01"})
    refused(future, 422, "as_of")
    started = desk.post("/console/predictions", data={"csrf_token": csrf, "as_of": ""}, headers=HTML)
    assert started.status_code == 200, started.text
    assert 'data-testid="run-started"' in started.text
    assert count(api, PredictionRun) == 1  # refused below the minimum of data, and recorded so
    assert "console" in desk.get("/console/predictions", headers=HTML).text  # who started it


def test_an_organisation_captures_a_json_or_xml_document_and_sees_each_event(api: Api) -> None:
    brand = signed_in(api, "demo-brand")
    page = brand.get("/console/capture", headers=HTML)
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    one, two, three = (sgtin(FRESH, f"T{n}") for n in range(1, 4))
    events = count(api, EpcisEventRecord)
    doc = document(commission([one, two], at(0)), ship([one], at(1)))
    captured = brand.post("/console/capture", data={"csrf_token": csrf, "document": json.dumps(doc)}, headers=HTML)
    assert captured.status_code == 200, captured.text
    shown = captured.text.split('data-testid="captured"')[1].split("</section>")[0]
    assert "2 event(s) captured" in shown
    assert shown.count("ObjectEvent") == 2
    assert count(api, EpcisEventRecord) == events + 2

    xml = document_to_xml(document(commission([three], at(2)))).decode()
    as_xml = brand.post("/console/capture", data={"csrf_token": csrf, "document": xml}, headers=HTML)
    assert as_xml.status_code == 200, as_xml.text
    assert "1 event(s) captured" in as_xml.text
    assert count(api, EpcisEventRecord) == events + 3

    # A document breaking the rules: every problem shown, nothing stored.
    bad = document(ship([sgtin(FRESH, "NEVER-MADE")], at(3)), commission([one], at(3)))
    rejected = brand.post("/console/capture", data={"csrf_token": csrf, "document": json.dumps(bad)}, headers=HTML)
    assert rejected.status_code in (403, 409, 422), rejected.text
    assert 'data-testid="problems"' in rejected.text
    assert count(api, EpcisEventRecord) == events + 3
    refused(brand.post("/console/capture", data={"csrf_token": csrf, "document": "[1]"}), 422, "document")
    refused(brand.post("/console/capture", data={"csrf_token": csrf, "document": "<not xml"}), 422, "document")

    # Another brand's item; a post without CSRF; an admin's session (events are written by an
    # organisation): refused, nothing stored.
    their_item = outsider(api)
    before = count(api, EpcisEventRecord)
    theirs = json.dumps(document(ship([their_item], at(4))))
    stolen = brand.post("/console/capture", data={"csrf_token": csrf, "document": theirs}, headers=HTML)
    assert stolen.status_code == 403
    refused(brand.post("/console/capture", data={"document": json.dumps(doc)}), 403, "csrf_token")
    admin = signed_in(api, "admin")
    assert admin.post("/console/capture", data={"csrf_token": csrf, "document": theirs}).status_code == 403
    assert count(api, EpcisEventRecord) == before


def test_a_brand_issues_a_recall_and_only_of_its_own_goods(api: Api) -> None:
    outsider(api)
    brand = signed_in(api, "demo-brand")
    page = brand.get("/console/recalls", headers=HTML)
    assert page.status_code == 200
    assert "Issue a recall" in page.text
    csrf = csrf_of(page.text)
    data = {"csrf_token": csrf, "gtin": FRESH, "reason": "Loose lid", "lot": "L1", "serials": ""}
    issued = brand.post("/console/recalls", data=data, headers=HTML)
    assert issued.status_code == 200, issued.text
    assert "3 item(s) in its scope" in issued.text
    assert "Loose lid" in issued.text  # listed
    serials = brand.post("/console/recalls", data={**data, "lot": "", "serials": "T1\r\nT2\n"}, headers=HTML)
    assert serials.status_code == 200
    assert "2 item(s) in its scope" in serials.text
    assert count(api, RecallRecord) == 2

    operations = count(api, Operation)
    stolen = brand.post("/console/recalls", data={**data, "gtin": OUTSIDER_GTIN, "lot": ""})
    assert stolen.status_code == 403
    refused(brand.post("/console/recalls", data={**data, "csrf_token": ""}), 403, "csrf_token")
    refused(brand.get("/console/recalls", params={"brand_id": "outsider"}), 403, "brand_id")
    admin = signed_in(api, "admin")
    assert admin.post("/console/recalls", data=data).status_code == 403  # a brand recalls, not an admin
    assert (count(api, RecallRecord), count(api, Operation)) == (2, operations)
    assert "Loose lid" in admin.get("/console/recalls", headers=HTML).text  # the admin sees every recall


def test_the_trace_goes_forward_to_what_an_item_went_into(api: Api) -> None:
    one, two, three = (sgtin(FRESH, f"T{n}") for n in range(1, 4))
    api.accept(
        "demo-brand",
        commission([one, two], at(0)),
        event("TransformationEvent", at(1), bizStep="commissioning", inputEPCList=[one], outputEPCList=[three]),
        pack(CASE, [three], at(2)),
        ship([CASE], at(3)),
    )
    brand = signed_in(api, "demo-brand")
    forward = brand.get("/console/trace", params={"epc": one, "direction": "forward"}, headers=HTML)
    assert forward.status_code == 200, forward.text
    reached = forward.text.split('data-testid="trace-reached"')[1].split("</table>")[0]
    assert "made into" in reached
    assert three in reached
    assert "travelled in" in reached  # the case the product it went into was packed in
    backward = brand.get("/console/trace", params={"epc": one, "direction": "backward"}, headers=HTML)
    assert "made into" not in backward.text.split('data-testid="trace-reached"')[1].split("</table>")[0]
    refused(brand.get("/console/trace", params={"epc": one, "direction": "sideways"}), 422, "direction")
    their_item = outsider(api)
    refused(brand.get("/console/trace", params={"epc": their_item, "direction": "forward"}), 403, "epc")


def test_a_brand_registers_a_product_under_its_own_prefix_only(api: Api) -> None:
    brand = signed_in(api, "demo-brand")
    page = brand.get("/console/products", headers=HTML)
    assert "Register a product" in page.text
    csrf = csrf_of(page.text)
    gtin = "0950600013438" + str(check_digit("0950600013438"))  # under the demo brand's prefix 9506000
    data = {"csrf_token": csrf, "gtin": gtin, "name": "Tea tin", "description": "", "category": "tea"}
    made = brand.post("/console/products", data=data, headers=HTML)
    assert made.status_code == 200, made.text
    assert f'data-gtin="{gtin}"' in made.text
    operations = count(api, Operation)
    refused(brand.post("/console/products", data={**data, "gtin": OUTSIDER_GTIN}), 403, "gtin")
    refused(brand.post("/console/products", data={**data, "gtin": "123"}), 422, "gtin")
    refused(brand.post("/console/products", data={**data, "csrf_token": ""}), 403, "csrf_token")
    admin = signed_in(api, "admin")
    assert admin.post("/console/products", data=data).status_code == 403  # a brand registers its products
    assert count(api, Operation) == operations


def test_an_admin_sets_a_members_segments_and_an_organisation_cannot(api: Api) -> None:
    desk = signed_in(api, "admin")
    page = desk.get("/console/members/demo-customer", headers=HTML)
    assert page.status_code == 200
    csrf = csrf_of(page.text)
    saved = desk.post("/console/members/demo-customer/segments", data={"csrf_token": csrf, "segments": "vip, coffee"})
    assert saved.status_code == 200
    assert 'value="coffee, vip"' in saved.text
    bad = {"csrf_token": csrf, "segments": "predicted:churn"}
    refused(desk.post("/console/members/demo-customer/segments", data=bad), 422, "segments")
    brand = signed_in(api, "demo-brand")
    brand_csrf = csrf_of(brand.get("/console/items", headers=HTML).text)
    forged = {"csrf_token": brand_csrf, "segments": "nobody"}
    assert brand.post("/console/members/demo-customer/segments", data=forged).status_code == 403
    refused(desk.post("/console/members/demo-customer/segments", data={"segments": "x"}), 403, "csrf_token")
    assert 'value="coffee, vip"' in desk.get("/console/members/demo-customer", headers=HTML).text


def test_the_dashboards_report_exports_as_csv_for_an_admin_only(api: Api) -> None:
    desk = signed_in(api, "admin")
    answer = desk.get("/console/points-per-day.csv")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/csv")
    lines = answer.text.strip().splitlines()
    assert lines[0].split(",")[:2] == ["day", "issued"]
    assert "outstanding" in lines[0]
    assert len(lines) == 31  # the header and 30 days
    refused(signed_in(api, "demo-brand").get("/console/points-per-day.csv"), 403, "Authorization")
