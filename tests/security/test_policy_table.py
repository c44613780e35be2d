"""The policy layer is the one place that says who may call what: every route declares a policy,
docs/security/policy.md is generated from them, and the running API refuses every principal a
route's policy does not admit (403 naming Authorization, before anything is read or written)."""

from __future__ import annotations

import re

import pytest
from fastapi import FastAPI
from sqlalchemy import Engine

from backend.api.app import create_app
from backend.api.auth import Role
from backend.api.policy import Policy, PublicPolicy
from backend.api.policy_table import policy_document, route_policies
from backend.settings import PROJECT_ROOT, Settings
from tests.security.test_consent import ledger
from tests.support import Platform

pytestmark = pytest.mark.sqlite_only  # the policies do not depend on the database
DOC = PROJECT_ROOT / "docs" / "security" / "policy.md"


@pytest.fixture
def app(settings: Settings, engine: Engine) -> FastAPI:
    return create_app(settings, engine)


def test_every_route_declares_exactly_one_policy(app: FastAPI) -> None:
    routes = route_policies(app)
    assert len(routes) > 50
    assert [f"{r.methods} {r.path}" for r in routes if r.policy is None] == []
    assert [f"{r.methods} {r.path}" for r in routes if r.extra] == []


def test_a_route_without_a_policy_is_caught(app: FastAPI) -> None:
    @app.get("/v1/forgotten")
    def forgotten() -> dict[str, str]:
        return {}

    assert [r.path for r in route_policies(app) if r.policy is None] == ["/v1/forgotten"]


def test_the_policy_table_in_the_docs_is_generated_from_the_code(app: FastAPI) -> None:
    assert DOC.read_text() == policy_document(app), "stale: run .venv/bin/python scripts/security/policy_table.py"


SAMPLES = {"customer_id": "demo-customer", "org_id": "demo-brand", "gtin": "09506000134352", "serial": "SN0001"}


def _path(template: str) -> str:
    return re.sub(r"\{(\w+)\}", lambda m: SAMPLES.get(m.group(1), "x"), template)


@pytest.mark.chain
def test_the_api_refuses_every_principal_a_policy_does_not_admit(platform: Platform) -> None:
    """Generated from the table: each route, called by each kind of principal its policy leaves
    out, answers 403 naming Authorization and writes nothing."""
    platform.keys["customer"] = platform.customer_token("demo-customer")
    keys = {
        Role.ADMIN: "admin",
        Role.PROGRAM: "program",
        Role.CHECKOUT: "checkout",
        Role.ORGANISATION: "brand",
        Role.CUSTOMER: "customer",
    }
    before = ledger(platform)
    checked = 0
    for route in route_policies(platform.client.app):  # type: ignore[arg-type]
        if isinstance(route.policy, PublicPolicy):
            continue
        assert isinstance(route.policy, Policy)
        for role, key in keys.items():
            if role in route.policy.grants:
                continue
            for method in route.methods:
                response = platform.client.request(method, _path(route.path), json={}, headers=platform.headers(key))
                assert response.status_code == 403, (method, route.path, role, response.text)
                assert response.json()["error"]["field"] == "Authorization", (method, route.path, role)
                checked += 1
    assert checked > 100
    assert ledger(platform) == before
