"""The audit log of admin actions (backend/api/audit.py): every write of an admin, organisation or
program key, or of a console session, is logged once with who, what, when and how it ended; a
refused write is logged as refused; nothing of a body (no name, no e-mail) reaches it; and an
organisation reads only its own keys' entries (another organisation's are refused, 403). No chain
needed: the writes here are SQL."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.api.app import create_app
from backend.cli.seed import seed_demo
from backend.db.models import AuditEntry
from backend.settings import Settings
from tests.provenance.support import Api
from tests.security.test_console_sessions import HTML, csrf_of, signed_in


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    yield from seeded_api(settings, engine)


def seeded_api(settings: Settings, engine: Engine) -> Iterator[Api]:
    """The API on the demo data, with its admin, checkout, brand and program keys."""
    keys = seed_demo(engine, settings, 31337)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield Api(
            client,
            engine,
            {"admin": keys.admin, "checkout": keys.checkout, "demo-brand": keys.brand, "program": keys.program},
        )


def entries(api: Api) -> list[AuditEntry]:
    with Session(api.engine) as session:
        return list(session.exec(select(AuditEntry).order_by(AuditEntry.id)).all())  # type: ignore[arg-type]


def log(api: Api, who: str, **query: Any) -> Any:
    return api.client.get("/v1/audit-log", params=query, headers=api.headers(who))


def test_an_admin_write_is_logged_with_who_what_and_when_and_nothing_of_the_body(api: Api) -> None:
    before = len(entries(api))
    made = api.client.post(
        "/v1/customers",
        json={"customer_id": "audited-1", "name": "Ada Lovelace", "email": "ada@example.com"},
        headers=api.headers("admin"),
    )
    assert made.status_code in (200, 201), made.text
    changed = api.client.patch("/v1/rewards/no-such-reward", json={"stock": 3}, headers=api.headers("admin"))
    assert changed.status_code == 404

    done, refused = entries(api)[before:]
    assert (done.method, done.route, done.outcome, done.role) == ("POST", "/v1/customers", "done", "admin")
    assert done.console_session is None
    assert (refused.route, refused.status, refused.outcome) == ("/v1/rewards/{reward_id}", 404, "refused")
    assert refused.path_ids == '{"reward_id": "no-such-reward"}'
    admin_key_ids = {e.key_id for e in entries(api)}
    assert len(admin_key_ids) == 1
    assert admin_key_ids.pop() in api.keys["admin"]
    stored = " ".join(str(e.model_dump()) for e in entries(api))
    for secret_or_personal in ("Ada", "Lovelace", "ada@example.com", api.keys["admin"]):
        assert secret_or_personal not in stored

    listed = log(api, "admin", route="customers").json()["items"]
    assert listed[0]["route"] == "/v1/customers"
    assert listed[0]["outcome"] == "done"
    assert [e["outcome"] for e in log(api, "admin", outcome="refused").json()["items"]] == ["refused"]
    assert len(log(api, "admin", since="2000-01-01").json()["items"]) == 2
    assert log(api, "admin", since="2999-01-01T00:00:00Z").json()["items"] == []
    for not_a_date in ("0.5", "2026-13-01"):  # no Unix timestamps, no impossible dates
        assert log(api, "admin", since=not_a_date).json()["error"]["field"] == "since"
    # Reads, checkout traffic and requests without a valid key leave no entry.
    assert api.client.get("/v1/customers", headers=api.headers("admin")).status_code == 200
    assert api.client.post("/v1/customers", json={"customer_id": "x"}, headers={"Authorization": "Bearer nope"})
    assert len(entries(api)) == before + 2


def test_a_write_the_policy_refuses_is_logged_as_refused_and_does_nothing(api: Api) -> None:
    before = len(entries(api))
    # A brand tries an admin's write (admit an organisation): 403, nothing written but the entry.
    refused = api.client.post(
        "/v1/organisations",
        json={"id": "sneaky", "name": "Sneaky", "roles": ["brand"]},
        headers=api.headers("demo-brand"),
    )
    assert refused.status_code == 403
    assert refused.json()["error"]["field"] == "Authorization"
    (entry,) = entries(api)[before:]
    assert (entry.role, entry.org_id, entry.route, entry.status, entry.outcome) == (
        "organisation",
        "demo-brand",
        "/v1/organisations",
        403,
        "refused",
    )
    # The brand reads its own refused attempt; an admin reads it too.
    own = log(api, "demo-brand").json()["items"]
    assert [e["route"] for e in own] == ["/v1/organisations"]
    assert log(api, "admin", org_id="demo-brand").json()["items"] == own


def test_an_organisation_cannot_read_another_organisations_entries(api: Api) -> None:
    api.organisation("other-brand", ["brand"])  # the admin's two writes are logged
    other = api.client.post(
        "/v1/organisations", json={"id": "x", "name": "X", "roles": ["brand"]}, headers=api.headers("other-brand")
    )
    assert other.status_code == 403
    mine = api.client.post(
        "/v1/organisations", json={"id": "y", "name": "Y", "roles": ["brand"]}, headers=api.headers("demo-brand")
    )
    assert mine.status_code == 403

    own = log(api, "demo-brand").json()["items"]
    assert {e["org_id"] for e in own} == {"demo-brand"}  # neither the admin's nor the other brand's
    asked = log(api, "demo-brand", org_id="other-brand")
    assert asked.status_code == 403
    assert asked.json()["error"]["field"] == "org_id"
    # Checkout and program keys and customer tokens do not read the log.
    for who in ("checkout", "program"):
        assert log(api, who).status_code == 403
    with Session(api.engine) as session:
        total = int(session.exec(select(func.count()).select_from(AuditEntry)).one())
    assert len(log(api, "admin", limit=200).json()["items"]) == total


def test_console_actions_are_logged_with_their_session(api: Api) -> None:
    desk = signed_in(api, "admin")
    sign_in_entry = entries(api)[-1]
    assert (sign_in_entry.route, sign_in_entry.outcome) == ("/console/sign-in", "done")
    form = desk.get("/console/rewards", headers=HTML)
    added = desk.post(
        "/console/rewards",
        data={"csrf_token": csrf_of(form.text), "id": "mug", "name": "Mug", "points_price": "50"},
        headers=HTML,
    )
    assert added.status_code == 200, added.text
    forged = desk.post("/console/rewards", data={"id": "cup", "name": "Cup", "points_price": "5"}, headers=HTML)
    assert forged.status_code == 403  # no CSRF token: refused, and logged as refused
    added_entry, forged_entry = entries(api)[-2:]
    assert added_entry.console_session == sign_in_entry.console_session is not None
    assert (added_entry.route, added_entry.outcome) == ("/console/rewards", "done")
    assert (forged_entry.route, forged_entry.outcome, forged_entry.status) == ("/console/rewards", "refused", 403)

    page = desk.get("/console/audit-log", headers=HTML, params={"outcome": "refused"})
    assert page.status_code == 200
    assert "/console/rewards" in page.text
    csv = desk.get("/console/audit-log.csv")
    assert csv.status_code == 200
    assert "/console/sign-in" in csv.text
    # A brand's console shows the log of its own keys.
    before = len(entries(api))
    brand = signed_in(api, "demo-brand")
    assert brand.get("/console/audit-log", headers=HTML).status_code == 200
    assert entries(api)[before].org_id == "demo-brand"
