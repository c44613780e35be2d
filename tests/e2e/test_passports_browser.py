"""``/me/passports`` in headless Chromium (Debian's, as the other member pages' test): a member who
claimed the passport of an item they bought sees it, then gives it to another member with the
page's form. axe-core runs on the page before and after: no serious or critical violation, and
no Content-Security-Policy violation; at a phone's width the page never scrolls sideways (the
token id is long). Screenshots go to build/screenshots/member/."""

from __future__ import annotations

import pytest

from tests.e2e.browser import AXE, MARKS, PHONE, SCREENSHOTS, accessibility_problems, chromium, phone_layout_problems
from tests.e2e.test_passports import buy
from tests.e2e.test_provenance_ownership import anchor_and_settle
from tests.provenance.support import FRESH, Api, at, commission, sgtin
from tests.support import Platform

SHOTS = SCREENSHOTS / "member"

# The page reads through the same functions as the API on both databases: one is enough here.
pytestmark = [*MARKS, pytest.mark.sqlite_only]


def test_a_member_sees_their_passport_and_gives_it_with_the_form(brand_goods: tuple[Platform, Api], site: str) -> None:
    assert AXE.exists(), "axe-core is an npm package of package.json: make deps"
    SHOTS.mkdir(parents=True, exist_ok=True)
    platform, api = brand_goods
    for member in ("ann", "ben"):
        enrolled = api.client.post("/v1/customers", json={"customer_id": member}, headers=api.headers("admin"))
        assert enrolled.status_code in (200, 201), enrolled.text
    api.accept("demo-brand", commission([sgtin(FRESH, "SN0001")], at(0)))
    anchor_and_settle(platform)
    buy(api, "ann", "PW-1", "SN0001")
    platform.settle()
    claim = {"claim_id": "web-claim", "gtin": FRESH, "serial": "SN0001"}
    claimed = api.client.post("/v1/customers/ann/passports", json=claim, headers=platform.as_customer("ann"))
    assert claimed.status_code == 202, claimed.text
    token_id = claimed.json()["token_id"]
    platform.settle()
    link = platform.customer_token("ann", issuer="program")

    problems: dict[str, list[str]] = {}
    policy_violations: list[str] = []
    with chromium() as browser:
        page = browser.new_context(**PHONE).new_page()
        page.on("console", lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{site}/me/sign-in?token={link}")
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site}/me/")

        page.goto(f"{site}/me/passports")
        held = page.locator(f'[data-passport="{token_id}"]')
        assert held.get_by_role("heading", level=2).inner_text() == "Tea caddy"
        assert "0 previous owners" in held.inner_text()
        problems["passports"] = accessibility_problems(page) + phone_layout_problems(page)
        page.screenshot(path=str(SHOTS / "passports-phone.png"), full_page=True)

        held.get_by_label("Give it to member number").fill("ben")
        held.get_by_role("button", name="Give this passport").click()
        assert page.get_by_role("status").inner_text() == "Passport on its way to ben (pending)."
        # while the relay is queued the passport offers no second form (it would be refused)
        assert held.get_by_role("button", name="Give this passport").count() == 0
        assert held.get_by_test_id("leaving").is_visible()
        problems["passport given"] = accessibility_problems(page)
        page.screenshot(path=str(SHOTS / "passport-given-phone.png"), full_page=True)

    assert {name: found for name, found in problems.items() if found} == {}
    assert policy_violations == []
    platform.settle()
    ben = platform.client.get("/v1/customers/ben/passports", headers=platform.as_customer("ben")).json()
    assert [p["token_id"] for p in ben["passports"]] == [token_id]
