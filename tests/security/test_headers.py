"""Finding 11: no CSP, X-Content-Type-Options, frame or referrer headers on HTML. Now every answer
says nosniff, and pages (the verification page, the API reference) carry a policy that loads
nothing from other origins and runs no inline script, refuse framing, and send no referrer."""

from __future__ import annotations

import base64
import hashlib
import re

import pytest

from backend.api.headers import CSP
from tests.support import Platform

pytestmark = [pytest.mark.chain, pytest.mark.sqlite_only]
DEMO = "09506000134352"


def directives(policy: str) -> dict[str, list[str]]:
    return {name: rest for name, *rest in (part.split() for part in policy.split(";"))}


def assert_page_headers(headers: dict[str, str]) -> dict[str, list[str]]:
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    policy = directives(headers["content-security-policy"])
    assert policy["default-src"] == ["'none'"]
    assert policy["script-src"] == ["'self'"]  # no inline script, no other origin
    assert policy["frame-ancestors"] == ["'none'"]
    assert all(
        "unsafe" not in source and "http" not in source and source != "*"
        for sources in policy.values()
        for source in sources
    )
    return policy


def test_the_verification_page_runs_nothing_inline_and_loads_nothing_else(platform: Platform) -> None:
    page = platform.client.get(f"/01/{DEMO}/21/SN0001", params={"scan": "false"}, headers={"Accept": "text/html"})
    assert page.status_code == 200
    assert page.headers["content-type"].startswith("text/html")
    policy = assert_page_headers(dict(page.headers))
    html = page.text
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", html)  # nothing from another origin
    for style in re.findall(r"<style>(.*?)</style>", html, re.DOTALL):  # each inline style is hash-listed
        digest = base64.b64encode(hashlib.sha256(style.encode()).digest()).decode()
        assert f"'sha256-{digest}'" in policy["style-src"]


def test_the_api_reference_is_served_from_this_origin(platform: Platform) -> None:
    page = platform.client.get("/docs")
    assert page.status_code == 200
    assert_page_headers(dict(page.headers))
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", page.text, re.DOTALL)
    assert scripts
    assert all(body.strip() == "" and 'src="/docs/assets/' in attrs for attrs, body in scripts)
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", page.text)
    for asset, kind in (
        ("swagger-ui-bundle.js", "text/javascript"),
        ("swagger-ui.css", "text/css"),
        ("start.js", "text/javascript"),
    ):
        answer = platform.client.get(f"/docs/assets/{asset}")
        assert answer.status_code == 200
        assert answer.headers["content-type"].startswith(kind)
        assert answer.headers["x-content-type-options"] == "nosniff"
    for name in ("package.json", "..%2Fpackage.json", "index.html", "swagger-initializer.js"):
        assert platform.client.get(f"/docs/assets/{name}").status_code == 404
    # /redoc is ours (FastAPI's, which loads from a CDN, is off): Redoc's bundle from this origin only.
    redoc = platform.client.get("/redoc")
    assert redoc.status_code == 200
    assert not re.search(r"""(src|href)=["']?(https?:)?//""", redoc.text)
    scripts = re.findall(r"<script([^>]*)>(.*?)</script>", redoc.text, re.DOTALL)
    assert scripts
    assert all(body.strip() == "" and 'src="/static/vendor/' in attrs for attrs, body in scripts)
    policy = redoc.headers["content-security-policy"]
    assert "default-src 'none'" in policy
    assert "script-src 'self';" in policy
    assert "frame-ancestors 'none'" in policy


def test_json_answers_and_refusals_say_nosniff(platform: Platform) -> None:
    answers = [
        platform.client.get("/healthz"),
        platform.client.get(f"/01/{DEMO}/21/SN0001", params={"format": "json", "scan": "false"}),
        platform.client.get("/v1/customers/nobody/balance"),  # 401 from the route
        platform.client.post("/v1/customers", content="[" * 100 + "]" * 100, headers=platform.headers()),  # guards
        platform.client.post("/v1/purchases", json={}, headers=platform.headers()),  # checkout path
    ]
    for answer in answers:
        assert answer.headers["x-content-type-options"] == "nosniff", answer.request.url
        assert "content-security-policy" not in answer.headers  # pages only
    assert CSP.count("sha256-") >= 1
