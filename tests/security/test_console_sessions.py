"""The console refuses whoever is not signed in, or signed in as someone else: no session, a forged
cookie, an expired session, a cookie replayed after sign-out or after its key was revoked, a form
without the session's CSRF token, an organisation opening another's products or recalls, and a
till (checkout) key, a program key or a customer token asking for a session. Each refusal writes
nothing. No chain needed: sessions are SQL."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, func
from sqlmodel import Session, select

from backend.api.app import create_app
from backend.cli.seed import seed_demo
from backend.db.models import ConsoleSession, Reward
from backend.db.types import utcnow
from backend.settings import Settings
from backend.web.console import CONSOLE_COOKIE
from tests.provenance.support import Api
from tests.provenance.test_ownership import OUTSIDER_GTIN

HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


@pytest.fixture
def api(settings: Settings, engine: Engine) -> Iterator[Api]:
    keys = seed_demo(engine, settings, 31337)
    with TestClient(create_app(settings, engine), raise_server_exceptions=False) as client:
        yield Api(
            client,
            engine,
            {"admin": keys.admin, "checkout": keys.checkout, "demo-brand": keys.brand, "program": keys.program},
        )


def browser(api: Api) -> TestClient:
    return TestClient(api.client.app, raise_server_exceptions=False, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(api: Api, key: str) -> tuple[TestClient, TestClient]:
    """(the browser, the sign-in's answer)."""
    desk = browser(api)
    form = desk.get("/console/sign-in", headers=HTML)
    assert form.status_code == 200
    answer = desk.post("/console/sign-in", data={"csrf_token": csrf_of(form.text), "api_key": key}, headers=HTML)
    return desk, answer


def signed_in(api: Api, who: str) -> TestClient:
    desk, answer = sign_in(api, api.keys[who])
    assert answer.status_code == 303, answer.text
    return desk


def sessions(api: Api) -> int:
    with Session(api.engine) as session:
        return int(session.exec(select(func.count()).select_from(ConsoleSession)).one())


def rewards(api: Api) -> int:
    with Session(api.engine) as session:
        return int(session.exec(select(func.count()).select_from(Reward)).one())


def test_an_admin_signs_in_with_a_key_and_gets_a_session_of_its_own(api: Api) -> None:
    desk, answer = sign_in(api, api.keys["admin"])
    assert answer.status_code == 303
    assert answer.headers["location"] == "/console/"
    cookie = answer.headers["set-cookie"]
    assert f"{CONSOLE_COOKIE.name}=csn_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert "Path=/console" in cookie
    assert api.keys["admin"] not in cookie  # the key never reaches a cookie
    home = desk.get("/console/", headers=HTML)
    assert home.status_code == 200, home.text
    assert "Points outstanding" in home.text
    assert "Reconcile has not been run yet" in home.text  # and how to run it (reconcile_runs.py)
    assert "script-src 'self'" in home.headers["content-security-policy"]
    assert home.headers["cache-control"] == "no-store"
    for path in ("/console/rule-sets", "/console/rewards", "/console/members", "/console/products", "/console/keys"):
        assert desk.get(path, headers=HTML).status_code == 200, path
    data = desk.get("/console/dashboard.json").json()
    assert len(data["per_day"]["days"]) == 30
    # The session cookie is no API key: the API refuses it as a bearer token.
    token = desk.cookies.get(CONSOLE_COOKIE.name)
    assert token is not None
    assert api.client.get("/v1/customers", headers={"Authorization": f"Bearer {token}"}).status_code == 401


def test_the_console_refuses_without_a_live_session(api: Api) -> None:
    anonymous = browser(api)
    page = anonymous.get("/console/", headers=HTML)
    assert page.status_code == 401
    assert "Sign in to the console" in page.text
    assert anonymous.get("/console/members").json()["error"]["field"] == CONSOLE_COOKIE.name

    forged = browser(api)
    forged.cookies.set(CONSOLE_COOKIE.name, "csn_" + "A" * 43, path="/console")
    assert forged.get("/console/members", headers=HTML).status_code == 401
    # The admin's API key itself is no session cookie either.
    keyed = browser(api)
    keyed.cookies.set(CONSOLE_COOKIE.name, api.keys["admin"], path="/console")
    assert keyed.get("/console/members", headers=HTML).status_code == 401

    desk = signed_in(api, "admin")
    with Session(api.engine) as session:  # the session outlives its lifetime
        for record in session.exec(select(ConsoleSession)).all():
            record.expires_at = utcnow() - timedelta(seconds=1)
            session.add(record)
        session.commit()
    assert desk.get("/console/members", headers=HTML).status_code == 401

    desk = signed_in(api, "admin")
    token = desk.cookies.get(CONSOLE_COOKIE.name)
    form = desk.get("/console/rewards", headers=HTML)
    out = desk.post("/console/sign-out", data={"csrf_token": csrf_of(form.text)})
    assert out.status_code == 303
    replay = browser(api)
    replay.cookies.set(CONSOLE_COOKIE.name, token or "", path="/console")
    assert replay.get("/console/members", headers=HTML).status_code == 401
    before = rewards(api)
    posted = replay.post(
        "/console/rewards",
        data={"csrf_token": csrf_of(form.text), "id": "mug", "name": "Mug", "points_price": "5"},
        headers=HTML,
    )
    assert posted.status_code == 401
    assert rewards(api) == before


def test_a_revoked_key_ends_its_sessions(api: Api) -> None:
    made = api.client.post("/v1/api-keys", json={"role": "admin", "label": "temp"}, headers=api.headers("admin"))
    key, key_id = made.json()["key"], made.json()["key_id"]
    desk, answer = sign_in(api, key)
    assert answer.status_code == 303
    assert desk.get("/console/members", headers=HTML).status_code == 200
    assert api.client.delete(f"/v1/api-keys/{key_id}", headers=api.headers("admin")).status_code == 204
    assert desk.get("/console/members", headers=HTML).status_code == 401


def test_a_form_without_the_sessions_csrf_token_is_refused(api: Api) -> None:
    desk = signed_in(api, "admin")
    other = signed_in(api, "admin")
    others_token = csrf_of(other.get("/console/rewards", headers=HTML).text)
    before = rewards(api)
    for token in (None, "", others_token):
        data = {"id": "mug", "name": "Mug", "points_price": "5"}
        if token is not None:
            data["csrf_token"] = token
        refused = desk.post("/console/rewards", data=data, headers=HTML)
        assert refused.status_code == 403, refused.text
        assert 'data-error-field="csrf_token"' in refused.text
    assert rewards(api) == before
    # The sign-in form itself needs its double-submit value (no login CSRF).
    forced = browser(api).post("/console/sign-in", data={"csrf_token": "x", "api_key": api.keys["admin"]}, headers=HTML)
    assert forced.status_code == 403
    made = desk.post(
        "/console/rewards",
        data={
            "csrf_token": csrf_of(desk.get("/console/rewards", headers=HTML).text),
            "id": "mug",
            "name": "Mug",
            "points_price": "5",
        },
        headers=HTML,
    )
    assert made.status_code == 200, made.text
    assert rewards(api) == before + 1


def test_tills_programs_and_customers_get_no_console(api: Api) -> None:
    before = sessions(api)
    customer = api.client.post("/v1/customers/demo-customer/tokens", json={}, headers=api.headers("admin"))
    assert customer.status_code == 201, customer.text
    for key, status in (
        (api.keys["checkout"], 403),
        (api.keys["program"], 403),
        (customer.json()["token"], 403),
        ("cred_" + "x" * 43, 401),
        ("", 401),
    ):
        _, answer = sign_in(api, key)
        assert answer.status_code == status, (key[:8], answer.text)
        assert 'data-error-field="api_key"' in answer.text
        assert CONSOLE_COOKIE.name not in answer.headers.get("set-cookie", "")
    assert sessions(api) == before


def test_an_organisation_sees_only_its_own_part(api: Api) -> None:
    api.organisation("rival", ["brand"])
    api.prefix("rival", "4012345")
    api.product("rival", OUTSIDER_GTIN, "Rival kettle")
    desk = signed_in(api, "rival")
    home = desk.get("/console/", headers=HTML)
    assert home.status_code == 303
    assert home.headers["location"] == "/console/products"
    own = desk.get("/console/products", headers=HTML)
    assert own.status_code == 200
    assert f'data-gtin="{OUTSIDER_GTIN}"' in own.text
    assert 'data-gtin="09506000134352"' not in own.text  # the demo brand's
    for path in ("/console/products", "/console/recalls"):
        refused = desk.get(path, params={"brand_id": "demo-brand"}, headers=HTML)
        assert refused.status_code == 403, refused.text
        assert 'data-error-field="brand_id"' in refused.text
    exported = desk.get("/console/export/products.csv")
    assert exported.status_code == 200
    assert OUTSIDER_GTIN in exported.text
    assert "09506000134352" not in exported.text
    for path in ("/console/rule-sets", "/console/members", "/console/keys", "/console/dashboard.json"):
        assert desk.get(path, headers=HTML).status_code == 403, path
    assert desk.get("/console/export/members.csv").status_code == 403
    assert desk.get("/console/members/demo-customer", headers=HTML).status_code == 403
