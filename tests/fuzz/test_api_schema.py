"""Schemathesis against the app's own OpenAPI schema, in process (ASGI), over a real seeded
database and chain: every operation, with the right key, with no key and with a key of the wrong
role, with valid and invalid data. No 5xx; every response (status, content type, headers, body)
matches the schema."""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from tests.budget import examples
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.fuzz]

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
]
# Which key acts on which part of the API (the longest matching prefix wins; admin otherwise).
KEY_FOR_PREFIX = {
    "/v1/purchases": "checkout",
    "/v1/customers": "checkout",
    # A member's own routes take their customer token (for demo-customer: see _call).
    "/v1/customers/{customer_id}": "customer",
    "/v1/customers/{customer_id}/personal-data": "admin",
    "/v1/customers/{customer_id}/segments": "admin",
    "/v1/customers/{customer_id}/tokens": "program",
    "/v1/products": "brand",
    "/v1/items": "brand",
    "/v1/recalls": "brand",
    "/v1/epcis": "brand",
    "/epcis": "brand",
    "/v1/organisations/{org_id}/partners": "brand",
    "/v1/organisations": "admin",
}
# Exact (method, path) exceptions to the prefixes: the member list is the admin's.
KEY_FOR_ROUTE = {("GET", "/v1/customers"): "admin"}
WRONG_KEY = {"admin": "brand", "checkout": "brand", "brand": "checkout", "customer": "checkout", "program": "brand"}
PUBLIC = (
    "/healthz",
    "/01/",
    "/openapi.json",
    "/docs",
    "/metrics",
    "/readyz",
    "/v1/siwe/",
    "/v1/recalls/{recall_id}/scope",
    "/v1/passports/{token_id}",
    "/passports/{token_id}",
    "/collectibles/{edition_hex}.json",
)


def _settings(short: int, long: int) -> settings:
    return settings(
        max_examples=examples(short, long),
        deadline=None,
        database=None,
        derandomize=True,
        suppress_health_check=list(HealthCheck),
    )


# `make test` runs a smoke of every operation (the suite's single longest test, on two
# databases); `make fuzz` the long run.
FUZZ_SETTINGS = _settings(8, 100)
GATE_SETTINGS = _settings(3, 30)  # without a key or with the wrong one, nothing gets far: fewer


@pytest.fixture
def api_schema(platform: Platform) -> Any:
    platform.keys["customer"] = platform.customer_token("demo-customer")
    return schemathesis.openapi.from_asgi("/openapi.json", platform.client.app)


schema = schemathesis.pytest.from_fixture("api_schema")


def key_for(path: str, method: str) -> str:
    if (method.upper(), path) in KEY_FOR_ROUTE:
        return KEY_FOR_ROUTE[(method.upper(), path)]
    matches = [prefix for prefix in KEY_FOR_PREFIX if path.startswith(prefix)]
    return KEY_FOR_PREFIX[max(matches, key=len)] if matches else "admin"


def _call(case: Any, platform: Platform, who: str | None) -> Any:
    headers = dict(case.headers or {})
    headers.pop("Authorization", None)
    if who is not None:
        headers["Authorization"] = f"Bearer {platform.keys[who]}"
    if who == "customer" and "customer_id" in (case.path_parameters or {}):
        case.path_parameters["customer_id"] = "demo-customer"  # the token's own customer: the route runs
    case.headers = headers
    return case.call_and_validate(checks=CHECKS)


@schema.parametrize()
@FUZZ_SETTINGS
def test_with_the_right_key(case: Any, platform: Platform) -> None:
    _call(case, platform, key_for(case.path, case.method))


@pytest.mark.sqlite_only  # the gates do not depend on the database: fuzz them once
@schema.parametrize()
@GATE_SETTINGS
def test_without_a_key(case: Any, platform: Platform) -> None:
    response = _call(case, platform, None)
    if not case.path.startswith(PUBLIC):
        # Before the key is looked at: 400 for a body that is not JSON at all, 422 for a query
        # parameter given twice or a NUL character anywhere in the request. None of them reads
        # anything behind the key.
        assert response.status_code in (400, 401, 404, 405, 413, 422, 429), response.text
        if response.status_code == 422:
            message = response.json()["error"]["message"]
            assert "takes one value" in message or "must not contain NUL characters" in message


@pytest.mark.sqlite_only
@schema.parametrize()
@GATE_SETTINGS
def test_with_a_key_of_another_role(case: Any, platform: Platform) -> None:
    response = _call(case, platform, WRONG_KEY[key_for(case.path, case.method)])
    assert response.status_code < 500
