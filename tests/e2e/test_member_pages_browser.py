"""The member's pages in headless Chromium (Debian's, as the verification page's test): a member
opens the sign-in link their shop issued, sees a purchase turn from pending to confirmed (the page
refreshes itself), redeems a reward and gives points to a friend. axe-core (npm) runs on every
page: no serious or critical violation; no Content-Security-Policy violation either. Screenshots
at phone and desktop widths go to build/screenshots/member/ (a copy of two is in docs/images/)."""

from __future__ import annotations

import pytest

from tests.e2e.browser import AXE, DESKTOP, MARKS, PHONE, SCREENSHOTS, accessibility_problems, chromium
from tests.e2e.loyalty_helpers import (
    add_reward,
    buy,
    claim_typed_data,
    enable_transfers,
    new_wallet,
    order,
    signed_claim,
)
from tests.security.test_wallet_claims_and_siwe import post_claim
from tests.support import Platform

SHOTS = SCREENSHOTS / "member"
PAGES = [
    "/me/",
    "/me/history",
    "/me/purchases/demo-store/B-100",
    "/me/rewards",
    "/me/transfer",
    "/me/till-code",
    "/me/collectibles",
    "/me/check",
]

# The pages read through the same functions as the API on both databases: one is enough here.
pytestmark = [*MARKS, pytest.mark.sqlite_only]


def test_a_member_uses_their_pages(platform: Platform, site: str) -> None:
    assert AXE.exists(), "axe-core is an npm package of package.json: make deps"
    SHOTS.mkdir(parents=True, exist_ok=True)
    enable_transfers(platform)
    add_reward(platform, "coffee-mug", 40, stock=25)
    enrolled = platform.client.post("/v1/customers", json={"customer_id": "friend"}, headers=platform.headers("admin"))
    assert enrolled.status_code == 200
    buy(platform, order("B-100", "alice"))
    link = platform.customer_token("alice", issuer="program")

    problems: dict[str, list[str]] = {}
    policy_violations: list[str] = []
    with chromium() as browser:
        phone = browser.new_context(**PHONE)
        page = phone.new_page()
        page.on("console", lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None)

        page.goto(f"{site}/me/sign-in?token={link}")
        problems["sign-in"] = accessibility_problems(page)
        page.screenshot(path=str(SHOTS / "sign-in-phone.png"), full_page=True)
        page.get_by_role("button", name="Sign in").click()
        page.wait_for_url(f"{site}/me/")
        assert page.locator('[data-order="B-100"]').get_attribute("data-status") == "pending"
        page.screenshot(path=str(SHOTS / "points-pending-phone.png"), full_page=True)

        platform.settle()  # the award goes on chain and is mirrored: the card refreshes itself (htmx)
        page.wait_for_selector('[data-order="B-100"][data-status="confirmed"]', timeout=20_000)
        assert page.get_by_test_id("confirmed").inner_text() == "100"

        for path in PAGES:
            page.goto(site + path)
            problems[path] = accessibility_problems(page)
            page.screenshot(path=str(SHOTS / f"{path.strip('/').replace('/', '-') or 'me'}-phone.png"), full_page=True)

        page.goto(f"{site}/me/rewards")
        page.get_by_role("button", name="Redeem Coffee-Mug").click()
        assert page.get_by_role("status").inner_text().startswith("Redeemed: 40 points")

        page.goto(f"{site}/me/transfer")
        page.get_by_label("Their member number").fill("friend")
        page.get_by_label("Points", exact=True).fill("15")
        page.get_by_role("button", name="Give points").click()
        assert "Sent 15 points to friend" in page.get_by_role("status").inner_text()
        platform.settle()
        page.goto(f"{site}/me/")
        assert page.get_by_test_id("confirmed").inner_text() == "45"

        page.goto(f"{site}/me/till-code")
        page.get_by_role("button", name="Show a code").click()
        assert len(page.get_by_test_id("till-code").inner_text().replace(" ", "")) == 8
        problems["till code shown"] = accessibility_problems(page)

        desktop = browser.new_context(**DESKTOP, storage_state=phone.storage_state())
        wide = desktop.new_page()
        for path in ("/me/", "/me/history"):
            wide.goto(site + path)
            wide.screenshot(path=str(SHOTS / f"{path.strip('/').replace('/', '-')}-desktop.png"), full_page=True)

        page.get_by_role("button", name="Sign out").click()
        page.wait_for_url(f"{site}/me/sign-in?signed_out=1")
        wide.goto(f"{site}/me/")
        assert wide.get_by_role("heading", name="Sign in to your points").is_visible()  # the session ended everywhere

    assert {name: found for name, found in problems.items() if found} == {}
    assert policy_violations == []
    balance = platform.client.get("/v1/customers/alice/balance", headers=platform.headers("admin")).json()
    assert balance["balance"] == 45


FAKE_WALLET = """
window.ethereum = {
  request: async ({method, params}) => {
    if (method === "eth_requestAccounts") return [await window.walletAddress()];
    if (method === "personal_sign") return await window.walletSign(params[0]);
    throw new Error("unsupported " + method);
  },
};
"""


def test_a_member_signs_in_with_their_own_wallet(platform: Platform, site: str) -> None:
    """The sign-in page's wallet button (static/siwe.js) with a stand-in for the browser wallet
    (the test's key signs, as the member's wallet extension would), under the page's policy."""
    from eth_account.messages import encode_defunct

    buy(platform, order("B-200", "ivan"))
    platform.settle()
    wallet = new_wallet()
    ivan = platform.as_customer("ivan")
    assert (
        post_claim(
            platform, signed_claim(claim_typed_data(platform, "ivan", wallet.address, ivan), wallet), ivan
        ).status_code
        == 202
    )
    platform.settle()

    def sign(hex_message: str) -> str:
        return "0x" + bytes(wallet.sign_message(encode_defunct(hexstr=hex_message)).signature).hex()

    policy_violations: list[str] = []
    with chromium() as browser:
        context = browser.new_context(**PHONE)
        context.expose_function("walletAddress", lambda: wallet.address.lower())
        context.expose_function("walletSign", sign)
        context.add_init_script(FAKE_WALLET)
        page = context.new_page()
        page.on("console", lambda m: policy_violations.append(m.text) if "Content Security Policy" in m.text else None)
        page.goto(f"{site}/me/sign-in")
        page.get_by_role("button", name="Sign in with your wallet").click()
        page.wait_for_url(f"{site}/me/")
        assert page.get_by_test_id("confirmed").inner_text() == "100"
    assert policy_violations == []
