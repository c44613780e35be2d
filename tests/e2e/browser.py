"""What every browser test shares: Debian's Chromium (never a downloaded one), the flags it runs
with, the marks that make a missing browser a skip on a developer's machine and a failure where
``CREDANCE_REQUIRE_BROWSER`` is set (CI), the API served over HTTP (the ``site`` fixture of
tests/e2e/conftest.py) and axe-core's verdict on a page."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

from backend.api.app import create_app
from backend.settings import PROJECT_ROOT
from tests.provenance.support import serving
from tests.support import Platform

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
AXE = PROJECT_ROOT / "node_modules" / "axe-core" / "axe.min.js"
SCREENSHOTS = PROJECT_ROOT / "build" / "screenshots"  # gitignored; a copy of a few is in docs/images/
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}

MARKS = [
    pytest.mark.chain,
    pytest.mark.browser,
    pytest.mark.skipif(
        not CHROMIUM.exists() and not os.environ.get("CREDANCE_REQUIRE_BROWSER"),
        reason="needs Debian's chromium at /usr/bin/chromium (apt-get install chromium); "
        ".ci/run installs it and sets CREDANCE_REQUIRE_BROWSER, so CI always runs the browser tests",
    ),
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A headless Chromium browser, closed at the end."""
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        try:
            yield browser
        finally:
            browser.close()


def served(platform: Platform) -> Iterator[str]:
    """The API served over HTTP on a free port, as a phone would reach it (the ``site`` fixture)."""
    with serving(create_app(platform.settings, platform.engine)) as url:
        yield url


def accessibility_problems(page: Any) -> list[str]:
    """axe-core's serious and critical violations of the page (run through the DevTools protocol,
    which the page's policy does not restrict: the page itself loads no script of ours for this)."""
    page.evaluate(AXE.read_text())
    violations = page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
        ".map(v => ({id: v.id, impact: v.impact, nodes: v.nodes.map(n => n.target.join(' '))}))"
    )
    serious = [v for v in violations if v["impact"] in ("serious", "critical")]
    return [f"{v['id']} ({v['impact']}): {v['nodes'][:3]}" for v in serious]


def phone_layout_problems(page: Any) -> list[str]:
    """At a phone's width the page itself never scrolls sideways: a wide table scrolls inside its
    own box (``.wide``), its first column (the row's name) staying in view."""
    return list(
        page.evaluate(
            """() => {
              const problems = [];
              const width = document.scrollingElement.scrollWidth;
              if (width > window.innerWidth + 1) problems.push(`the page is ${width}px wide`);
              for (const table of document.querySelectorAll("main table")) {
                if (table.closest(".uplot")) continue;  // a chart's legend, as wide as the chart
                if (!table.closest(".wide")) { problems.push("a table outside a .wide box"); continue; }
                const first = table.querySelector("tbody tr > :first-child");
                const sticky = first && getComputedStyle(first).position === "sticky";
                if (first && !sticky) problems.push("its first column scrolls away");
              }
              return problems;
            }"""
        )
    )
