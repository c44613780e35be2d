"""The pages under their Content-Security-Policy in headless Chromium (Debian's): the verification
page is styled and the API reference renders, with no policy violation reported, and a page of
another origin cannot frame them."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.e2e.browser import MARKS, chromium
from tests.support import Platform

DEMO = "09506000134352"

pytestmark = [*MARKS, pytest.mark.sqlite_only]


def test_pages_work_under_their_policy(platform: Platform, site: str, tmp_path: Path) -> None:
    violations: list[str] = []
    with chromium() as browser:
        page = browser.new_page()
        page.on(
            "console",
            lambda message: violations.append(message.text) if "Content Security Policy" in message.text else None,
        )

        page.goto(f"{site}/01/{DEMO}/21/SN0001?scan=false")
        banner = page.locator("[data-verdict]")
        assert banner.get_attribute("data-verdict") == "authentic"
        # The inline style applied (its hash is in the policy): the verdict is on its green band.
        assert (
            page.evaluate("getComputedStyle(document.querySelector('.verdict')).backgroundColor") == "rgb(10, 125, 50)"
        )

        page.goto(f"{site}/docs")
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "Credance" in page.locator(".swagger-ui .info .title").inner_text()
        assert page.locator(".opblock").count() > 10  # the operations of /openapi.json, fetched from this origin
        page.screenshot(path=str(tmp_path / "docs.png"))

        # Redoc, from this origin too (its bundle through /static/vendor), renders the operations.
        # Its bundle hard-codes one image from its maker's CDN (a logo): the policy blocks it, so
        # the page loads nothing from another origin; that one refusal is expected.
        before = len(violations)
        page.goto(f"{site}/redoc")
        page.wait_for_selector("[data-section-id^='operation/']", state="attached", timeout=30_000)
        assert "Credance" in page.locator("h1").first.inner_text()
        redoc = violations[before:]
        del violations[before:]
        assert all("cdn.redoc.ly/redoc/logo-mini.svg" in text for text in redoc), redoc

        # Framed by a page of another origin (a blank page here): the browser refuses to show it.
        other = browser.new_page()
        with other.expect_console_message(lambda message: "frame-ancestors" in message.text, timeout=30_000):
            other.set_content(f'<iframe src="{site}/01/{DEMO}/21/SN0001?scan=false"></iframe>')
        assert all("data-verdict" not in frame.content() for frame in other.frames[1:])
    assert violations == []
