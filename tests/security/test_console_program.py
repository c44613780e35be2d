"""The console's program pages (campaigns, partners, transfer policy, stores, keys): an admin does
through the forms what the API routes do, and nobody else can: an organisation's session is
refused (403) with nothing written, and a form without the session's CSRF token is refused. A
key created in the console is shown once and works on the API; revoked, it no longer does. No
chain needed: the outbox holds the transfer policy's operation."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.db.models import ApiKey, Operation, Partner, Store
from backend.settings import Settings
from tests.provenance.support import Api
from tests.security.test_audit_log import seeded_api
from tests.security.test_console_sessions import HTML, csrf_of, signed_in


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    yield from seeded_api(settings, engine)


def count(api: Api, table: type) -> int:
    with Session(api.engine) as session:
        return int(session.exec(select(func.count()).select_from(table)).one())


def test_an_admin_runs_the_program_from_the_console(api: Api) -> None:
    desk = signed_in(api, "admin")
    for path, shown in (
        ("/console/campaigns", "Campaigns"),
        ("/console/partners", "Partner programs"),
        ("/console/transfer-policy", "Transfer policy"),
        ("/console/stores", "demo-store"),
        ("/console/keys", "Create a key"),
    ):
        answer = desk.get(path, headers=HTML)
        assert answer.status_code == 200, path
        assert shown in answer.text, path
    csrf = csrf_of(desk.get("/console/stores", headers=HTML).text)

    store = desk.post(
        "/console/stores",
        data={"csrf_token": csrf, "id": "second-store", "name": "Second", "currency": "EUR", "retailer_id": "x"},
        headers=HTML,
    )
    assert store.status_code == 404  # the API's own rule: the retailer must exist
    assert 'field="retailer_id"' in store.text or "retailer_id" in store.text
    with Session(api.engine) as session:
        retailer = session.exec(select(Store.retailer_id).where(Store.id == "demo-store")).one()
    data = {"csrf_token": csrf, "id": "second-store", "name": "Second", "currency": "EUR", "retailer_id": retailer}
    assert desk.post("/console/stores", data=data, headers=HTML).status_code == 200
    assert count(api, Store) == 2

    data = {"csrf_token": csrf, "id": "air", "name": "Air miles", "rate": "0.5", "max_points_per_conversion": "100"}
    assert desk.post("/console/partners", data=data, headers=HTML).status_code == 200
    changed = desk.post("/console/partners/air", data={"csrf_token": csrf, "rate": "2"}, headers=HTML)
    assert changed.status_code == 200
    with Session(api.engine) as session:
        partner = session.get(Partner, "air")
        assert partner is not None
        assert (str(partner.rate), partner.active, partner.max_points_per_conversion) == ("2", False, 100)

    operations = count(api, Operation)
    policy = desk.post("/console/transfer-policy", data={"csrf_token": csrf, "enabled": "on", "daily_cap": "500"})
    assert policy.status_code == 200
    assert count(api, Operation) == operations + 1  # setTransferPolicy, queued for the chain

    made = desk.post(
        "/console/keys", data={"csrf_token": csrf, "role": "checkout", "store_id": "second-store"}, headers=HTML
    )
    assert made.status_code == 200
    key = made.text.split('id="new-key-value" readonly value="')[1].split('"')[0]
    assert key.startswith("cred_")
    assert key not in desk.get("/console/keys", headers=HTML).text  # shown once
    reads = {"Authorization": f"Bearer {key}"}
    assert api.client.get("/v1/purchases", headers=reads).status_code == 200
    with Session(api.engine) as session:
        key_id = session.exec(select(ApiKey.key_id).where(ApiKey.store_id == "second-store")).one()
    assert desk.post(f"/console/keys/{key_id}/revoke", data={"csrf_token": csrf}, headers=HTML).status_code == 200
    assert api.client.get("/v1/purchases", headers=reads).status_code == 401


def test_an_organisation_and_a_forged_form_change_nothing(api: Api) -> None:
    brand = signed_in(api, "demo-brand")
    for path in ("/console/campaigns", "/console/partners", "/console/transfer-policy", "/console/stores"):
        assert brand.get(path, headers=HTML).status_code == 403, path
    assert brand.get("/console/keys").json()["error"]["field"] == "Authorization"
    csrf = csrf_of(brand.get("/console/products", headers=HTML).text)
    keys, stores, operations = count(api, ApiKey), count(api, Store), count(api, Operation)
    attempts = {
        "/console/keys": {"role": "admin"},
        "/console/stores": {"id": "mine", "name": "Mine", "currency": "USD", "retailer_id": "demo-retailer"},
        "/console/partners": {"id": "p", "name": "P", "rate": "1"},
        "/console/transfer-policy": {"enabled": "on", "daily_cap": "0"},
    }
    for path, data in attempts.items():
        assert brand.post(path, data={"csrf_token": csrf, **data}, headers=HTML).status_code == 403, path
    with Session(api.engine) as session:
        admin_key = session.exec(select(ApiKey.key_id).where(ApiKey.role == "admin")).first()
    assert brand.post(f"/console/keys/{admin_key}/revoke", data={"csrf_token": csrf}).status_code == 403

    admin = signed_in(api, "admin")
    for path, data in attempts.items():  # the admin's session, without its CSRF token
        refused = admin.post(path, data=data, headers=HTML)
        assert refused.status_code == 403, path
    assert admin.post(f"/console/keys/{admin_key}/revoke", data={"csrf_token": csrf}).status_code == 403
    assert (count(api, ApiKey), count(api, Store), count(api, Operation)) == (keys, stores, operations)
    assert count(api, Partner) == 0
