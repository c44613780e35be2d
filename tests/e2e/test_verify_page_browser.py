"""The verification page in headless Chromium (Debian's, never a downloaded one), on a phone-sized
screen: genuine, unknown, recalled and suspicious items each render their verdict, reason,
timeline and proof. Screenshots go to the test's temporary directory."""

from __future__ import annotations

from pathlib import Path

from backend.provenance.epcis.anchoring import Anchorer
from tests.e2e.browser import MARKS, chromium
from tests.e2e.scanning import PARIS, TOKYO, scan
from tests.e2e.scanning import phone as shopper
from tests.support import Platform

DEMO, OTHER = "09506000134352", "09506000134369"  # the two demo products

pytestmark = [*MARKS]


def test_the_page_shows_each_verdict(platform: Platform, site: str, tmp_path: Path) -> None:
    # (It reaches the whole case SN0002 was packed in, all of that product's demo items.)
    recall = platform.client.post(
        "/v1/recalls",
        json={"gtin": OTHER, "serials": ["SN0002"], "reason": "Cracked lid"},
        headers=platform.headers("brand"),
    )
    assert recall.status_code == 201
    Anchorer(platform.engine, 256, 0).step(force=True)
    platform.settle()
    # SN0003 was scanned in Paris, then moments later in Tokyo, each time by three shoppers.
    for network in range(6):
        scan(shopper(platform, network), DEMO, "SN0003", **(PARIS if network < 3 else TOKYO))

    expected = {
        (DEMO, "SN0001"): ("authentic", "Genuine product", "Registered on chain"),
        (DEMO, "NOPE"): ("unknown", "Not recognised", "No item with this serial"),
        (OTHER, "SN0002"): ("recalled", "Recalled — do not use", "Cracked lid"),
        (DEMO, "SN0003"): ("suspicious", "Suspicious — possible copy", "km apart within"),
    }
    with chromium() as browser:
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
            accept_downloads=False,
        )
        page = phone.new_page()
        for (gtin, serial), (verdict, heading, reason) in expected.items():
            response = page.goto(f"{site}/01/{gtin}/21/{serial}")
            assert response is not None
            assert response.status == 200
            assert response.headers["content-type"].startswith("text/html")
            banner = page.locator("[data-verdict]")
            assert banner.get_attribute("data-verdict") == verdict
            assert page.locator("h1").inner_text() == heading
            assert reason in banner.inner_text()
            assert banner.is_visible()
            assert page.evaluate("document.documentElement.scrollWidth") <= 390  # no sideways scrolling
            if verdict != "unknown":
                assert "by Demo Brand" in page.locator("section").first.inner_text()
                steps = page.locator("ol.trail li")
                assert steps.count() >= 6  # made, packed, shipped, received, unpacked, registered
                assert "Shipped" in page.locator("ol.trail").inner_text()
                page.get_by_text("Check it yourself").click()
                assert platform.ctx.registry.address in page.locator("details").first.inner_text()
            if verdict == "recalled":
                assert page.locator("ol.trail li[data-event='recalled']").is_visible()
            page.screenshot(path=str(tmp_path / f"{verdict}.png"), full_page=True)
    assert sorted(p.name for p in tmp_path.glob("*.png")) == sorted(f"{v}.png" for v, _, _ in expected.values())
