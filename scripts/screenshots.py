"""The README's pictures: the console and the member pages of a running stack (``make run``),
taken with Playwright on Debian's Chromium and written to ``docs/images/``.

    make run                                  # in another terminal; then, with the same CREDANCE_* settings:
    .venv/bin/python scripts/screenshots.py   # or --url http://127.0.0.1:8000 --out docs/images

It signs in to the console with the demo admin key and the demo brand key (``demo-keys.json`` in
``CREDANCE_HOME``, written by ``make run``) and to the member pages with a fresh one-time link of
the demo member, exactly as a person would after ``make run``. It changes nothing but sessions
(and the demo member's sign-in token). The images are committed; no test writes them.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

PROJECT_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(PROJECT_ROOT))

from backend.cli.seed import DEMO_CUSTOMER, DEMO_GTINS  # noqa: E402 (after the path)
from backend.db.engine import make_engine  # noqa: E402
from backend.settings import get_settings  # noqa: E402
from backend.web.links import sign_in_link  # noqa: E402

CHROMIUM = "/usr/bin/chromium"
PHONE = {"viewport": {"width": 390, "height": 844}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
DESKTOP = {"viewport": {"width": 1280, "height": 900}}
DEMO_ITEM = f"https://id.gs1.org/01/{DEMO_GTINS[0]}/21/SN0001"

# (file name, path) of each picture, per who is signed in and at which width.
ADMIN_DESKTOP = [
    ("console-dashboard-desktop", "/console/"),
    ("console-rule-sets-desktop", "/console/rule-sets"),
    ("console-organisations-desktop", "/console/organisations"),
    ("console-predictions-desktop", "/console/predictions"),
    ("console-audit-log-desktop", "/console/audit-log"),
]
ADMIN_PHONE = [("console-members-phone", "/console/members")]
BRAND_DESKTOP = [
    ("console-trace-desktop", "/console/trace?epc=" + DEMO_ITEM),
    ("console-capture-desktop", "/console/capture"),
]
BRAND_PHONE = [("console-events-phone", "/console/events")]
MEMBER_DESKTOP = [("member-history-desktop", "/me/history")]
MEMBER_PHONE = [
    ("member-phone", "/me/"),
    ("member-history-phone", "/me/history"),
    ("member-rewards-phone", "/me/rewards"),
]


def console_session(browser: Any, url: str, key: str, width: dict[str, Any]) -> Any:
    context = browser.new_context(**width)
    page = context.new_page()
    page.goto(f"{url}/console/sign-in")
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{url}/console/**")
    return page


def shoot(page: Any, url: str, shots: list[tuple[str, str]], out: Path, full_page: bool = True) -> None:
    for name, path in shots:
        page.goto(f"{url}{path}")
        if path == "/console/":
            page.wait_for_selector('[data-chart="daily"][data-drawn="true"]')
        page.screenshot(path=str(out / f"{name}.png"), full_page=full_page)
        print(f"  {out / name}.png")


def main() -> None:
    settings = get_settings()
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", default=f"http://{settings.host}:{settings.port}", help="the running API")
    parser.add_argument("--out", type=Path, default=PROJECT_ROOT / "docs" / "images")
    args = parser.parse_args()
    keys = json.loads((settings.resolved_home / "demo-keys.json").read_text())
    member_link = sign_in_link(make_engine(settings.resolved_database_url), settings, DEMO_CUSTOMER, args.url)
    args.out.mkdir(parents=True, exist_ok=True)

    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--headless", "--no-sandbox"])
        try:
            for key, shots, width in (
                (keys["admin"], ADMIN_DESKTOP, DESKTOP),
                (keys["admin"], ADMIN_PHONE, PHONE),
                (keys["brand"], BRAND_DESKTOP, DESKTOP),
                (keys["brand"], BRAND_PHONE, PHONE),
            ):
                page = console_session(browser, args.url, key, width)
                shoot(page, args.url, shots, args.out, full_page=width is DESKTOP)  # a phone: its first screen
            member = browser.new_context(**PHONE).new_page()
            member.goto(member_link)  # the link's page asks before it spends the one-time token
            member.get_by_role("button", name="Sign in").click()
            member.wait_for_url(f"{args.url}/me/")
            shoot(member, args.url, MEMBER_PHONE, args.out)
            member.set_viewport_size(DESKTOP["viewport"])
            shoot(member, args.url, MEMBER_DESKTOP, args.out)
        finally:
            browser.close()


if __name__ == "__main__":
    main()
