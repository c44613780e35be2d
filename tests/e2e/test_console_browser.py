"""The program console in headless Chromium (Debian's): an admin signs in with the admin key, sees
the day's figures on the dashboard (its uPlot charts drawn from this origin), previews and publishes
a rule set and sees its hash match the one on chain, creates a reward and finds a member; an
organisation signs in with its key, imports items, watches them reach the chain and follows an
item's trace. axe-core runs on every console page (no serious or critical violation), and no
Content-Security-Policy violation is reported. Screenshots of every page at phone and desktop widths
go to build/screenshots/console/ (copies of a few are in docs/images/)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.e2e.browser import (
    DESKTOP,
    MARKS,
    PHONE,
    SCREENSHOTS,
    accessibility_problems,
    chromium,
    phone_layout_problems,
)
from tests.e2e.loyalty_helpers import buy, order
from tests.provenance.support import FRESH, Api, at, commission, document, event, pack, sgtin, ship
from tests.provenance.test_ownership import CASE
from tests.support import Platform

pytestmark = [*MARKS, pytest.mark.sqlite_only]
SHOTS = SCREENSHOTS / "console"
AXE_ON_PHONE = {"audit-log", "members", "brand-events", "brand-trace"}  # wide tables, scrolled in their box
PAGES = {
    "dashboard": "/console/",
    "rule-sets": "/console/rule-sets",
    "rewards": "/console/rewards",
    "members": "/console/members?q=alice",
    "member": "/console/members/alice",
    "products": "/console/products",
    "recalls": "/console/recalls",
    "keys": "/console/keys",
    "campaigns": "/console/campaigns",
    "partners": "/console/partners",
    "transfer-policy": "/console/transfer-policy",
    "stores": "/console/stores",
    "organisations": "/console/organisations",
    "organisation": "/console/organisations/demo-brand",
    "predictions": "/console/predictions",
    "items": "/console/items",
    "events": "/console/events",
    "audit-log": "/console/audit-log",
    "collectibles": "/console/collectibles",
}


def test_an_admin_runs_the_program_from_the_console(platform: Platform, site: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    buy(platform, order("C-1", "alice"))
    platform.settle()
    current = platform.client.get("/v1/rule-sets/current", headers=platform.headers("admin")).json()["content"]
    edited = {**current, "points_per_unit": "2"}

    problems: dict[str, list[str]] = {}
    policy_violations: list[str] = []
    with chromium() as browser:
        desk = browser.new_context(**DESKTOP)
        page = desk.new_page()
        page.on("console", lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None)

        page.goto(f"{site}/console/")  # no session: the sign-in form
        problems["sign-in"] = accessibility_problems(page)
        page.get_by_label("API key").fill(platform.keys["admin"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site}/console/")
        page.wait_for_selector('[data-chart="daily"][data-drawn="true"]')
        assert page.locator('[data-today="issued"] td').inner_text() == "100"  # the day's figure
        assert page.locator(".uplot").count() == 2

        page.goto(f"{site}/console/rule-sets")
        page.get_by_label("Rule document").fill(json.dumps(edited))
        page.get_by_role("button", name="Preview the points").click()
        assert page.locator("[data-preview-points]").get_attribute("data-preview-points") == "200"
        page.get_by_role("button", name="Publish").click()
        version = page.locator("[data-published]").get_attribute("data-published")
        platform.settle()
        page.goto(f"{site}/console/rule-sets")
        assert page.locator(f'[data-version="{version}"]').get_attribute("data-matches") == "yes"

        page.goto(f"{site}/console/rewards")
        page.get_by_label("Id (lower case, digits, dashes)").fill("tote-bag")
        page.get_by_label("Name").fill("Tote bag")
        page.get_by_label("Points", exact=True).fill("250")
        page.get_by_label("Stock (empty: unlimited)").fill("12")
        page.get_by_role("button", name="Add the reward").click()
        assert page.locator('[data-reward="tote-bag"]').count() == 1

        page.goto(f"{site}/console/members")
        page.get_by_role("searchbox", name="Search").fill("alic")
        page.get_by_role("button", name="Search").click()
        page.get_by_role("link", name="alice").click()
        assert page.locator("h1").inner_text() == "alice"

        phone = browser.new_context(**PHONE, storage_state=desk.storage_state())
        for width, context in (("desktop", desk), ("phone", phone)):
            shown = context.new_page()
            shown.on(
                "console",
                lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            for name, path in PAGES.items():
                shown.goto(f"{site}{path}")
                if name == "dashboard":
                    shown.wait_for_selector('[data-chart="daily"][data-drawn="true"]')
                shown.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                if width == "desktop":
                    problems[name] = accessibility_problems(shown)
                else:  # wide tables scroll inside their box, the page never sideways
                    problems[f"{name}-phone"] = phone_layout_problems(shown)
                    if name in AXE_ON_PHONE:
                        problems[f"{name}-phone"] += accessibility_problems(shown)

    assert {name: found for name, found in problems.items() if found} == {}
    assert policy_violations == []


BRAND_PAGES = {
    "brand-products": "/console/products",
    "brand-items": "/console/items",
    "brand-events": "/console/events",
    "brand-trace": "/console/trace?epc=" + sgtin(FRESH, "T3"),
    "brand-recalls": "/console/recalls",
    "brand-organisations": "/console/organisations",
    "brand-organisation": "/console/organisations/demo-brand",
    "brand-capture": "/console/capture",
    "brand-audit-log": "/console/audit-log",
}


def test_an_organisation_imports_items_and_follows_a_trace(
    brand_goods: tuple[Platform, Api], site: str, tmp_path: Path
) -> None:
    platform, _ = brand_goods
    SHOTS.mkdir(parents=True, exist_ok=True)
    one, two, three = (sgtin(FRESH, f"T{n}") for n in range(1, 4))
    problems: dict[str, list[str]] = {}
    policy_violations: list[str] = []
    with chromium() as browser:
        desk = browser.new_context(**DESKTOP)
        page = desk.new_page()
        page.on("console", lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{site}/console/")
        page.get_by_label("API key").fill(platform.keys["brand"])
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site}/console/products")

        page.get_by_role("link", name="Items").click()
        page.get_by_label("CSV", exact=True).fill(
            "gtin,serial,lot\n" + "".join(f"{FRESH},T{n},L7\n" for n in range(1, 4))
        )
        page.get_by_role("button", name="Import").click()
        assert "3 items registered in 1 batch(es)" in page.locator("[role=status]").first.inner_text()
        platform.settle()  # the sender puts the root on chain, the indexer confirms it
        page.wait_for_selector("#batches:not([hx-trigger])")  # htmx refreshed the card until nothing waits
        assert page.get_by_test_id("items-on-chain").inner_text() == page.get_by_test_id("items-total").inner_text()

        history = document(
            commission([one, two], at(0)),
            event("TransformationEvent", at(1), bizStep="commissioning", inputEPCList=[one], outputEPCList=[three]),
            pack(CASE, [three], at(2)),
            ship([CASE], at(3)),
        )
        chosen = tmp_path / "history.jsonld"
        chosen.write_text(json.dumps(history))
        page.get_by_role("link", name="Capture").click()
        page.get_by_label("Choose a JSON or XML file").set_input_files(str(chosen))  # console.js reads it in
        page.wait_for_function("document.getElementById('capture-document').value.length > 0")
        page.get_by_role("button", name="Capture").click()
        assert "4 event(s) captured" in page.get_by_test_id("captured").inner_text()

        page.get_by_role("link", name="Events").click()
        page.get_by_label("GTIN", exact=True).fill(FRESH)
        page.get_by_role("button", name="Filter").click()
        page.get_by_role("link", name=three).first.click()
        reached = page.get_by_test_id("trace-reached")
        assert "made from" in reached.inner_text()
        assert one in reached.inner_text()
        assert "travelled in" in reached.inner_text()
        page.goto(f"{site}/console/trace?epc={one}")
        page.get_by_label("Direction").select_option("forward")
        page.get_by_role("button", name="Trace").click()
        forward = page.get_by_test_id("trace-reached").inner_text()
        assert "made into" in forward
        assert three in forward

        phone = browser.new_context(**PHONE, storage_state=desk.storage_state())
        for width, context in (("desktop", desk), ("phone", phone)):
            shown = context.new_page()
            shown.on(
                "console",
                lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None,
            )
            for name, path in BRAND_PAGES.items():
                shown.goto(f"{site}{path}")
                shown.screenshot(path=str(SHOTS / f"{name}-{width}.png"), full_page=True)
                if width == "desktop":
                    problems[name] = accessibility_problems(shown)
                else:  # wide tables scroll inside their box, the page never sideways
                    problems[f"{name}-phone"] = phone_layout_problems(shown)
                    if name in AXE_ON_PHONE:
                        problems[f"{name}-phone"] += accessibility_problems(shown)

    assert {name: found for name, found in problems.items() if found} == {}
    assert policy_violations == []
