"""The member's pages over HTTP (no browser): signing in with a one-time link, the pages, the
actions, and every way of acting for someone else refused with nothing written (a missing, forged,
expired or signed-out session, a form without its CSRF token, another member's purchase, a field
smuggled into a form, a read-only link used to spend). The browser test is test_member_pages_browser."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from fastapi.testclient import TestClient
from httpx import Response
from sqlmodel import Session, select

from backend.db.models import CustomerToken
from backend.db.types import utcnow
from backend.web.sessions import SESSION_COOKIE
from tests.e2e.loyalty_helpers import (
    add_reward,
    buy,
    claim_typed_data,
    enable_transfers,
    new_wallet,
    order,
    publish,
    signed_claim,
)
from tests.security.test_consent import ledger
from tests.security.test_wallet_claims_and_siwe import personal_sign, post_claim
from tests.support import Platform

pytestmark = pytest.mark.chain
HTML = {"Accept": "text/html"}
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def browser(platform: Platform) -> TestClient:
    """A client of its own (its own cookie jar), like a member's phone."""
    return TestClient(platform.client.app, raise_server_exceptions=False, follow_redirects=False)


def csrf_of(html: str) -> str:
    found = CSRF.search(html)
    assert found, html
    return found.group(1)


def sign_in(platform: Platform, customer: str, scopes: list[str] | None = None) -> TestClient:
    phone = browser(platform)
    link = platform.customer_token(customer, scopes, issuer="program")
    form = phone.get(f"/me/sign-in?token={link}", headers=HTML)
    assert form.status_code == 200
    assert link in form.text
    signed = phone.post("/me/sign-in", data={"csrf_token": csrf_of(form.text), "token": link})
    assert signed.status_code == 303
    assert signed.headers["location"] == "/me/"
    return phone


def post_form(phone: TestClient, path: str, page: str, **fields: str) -> Response:
    return phone.post(path, data={"csrf_token": csrf_of(phone.get(page, headers=HTML).text), **fields}, headers=HTML)


def test_a_member_signs_in_once_with_a_link_and_sees_their_points(platform: Platform) -> None:
    buy(platform, order("WEB-1", "alice"))
    phone = browser(platform)
    link = platform.customer_token("alice", issuer="program")
    form = phone.get(f"/me/sign-in?token={link}", headers=HTML)
    signed = phone.post("/me/sign-in", data={"csrf_token": csrf_of(form.text), "token": link})
    cookie = signed.headers["set-cookie"]
    assert f"{SESSION_COOKIE}=cust_" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=lax" in cookie
    assert "Path=/me" in cookie
    assert link not in cookie

    home = phone.get("/me/", headers=HTML)
    assert home.status_code == 200
    assert 'data-order="WEB-1" data-status="pending"' in home.text
    assert 'hx-get="/me/balance"' in home.text  # the card refreshes itself while points are on their way
    assert home.headers["cache-control"] == "no-store"
    assert "script-src 'self'" in home.headers["content-security-policy"]
    platform.settle()
    card = phone.get("/me/balance", headers=HTML)
    assert 'data-status="confirmed"' in card.text
    assert 'data-confirmed="100"' in card.text
    assert 'hx-get="/me/balance"' not in card.text  # nothing on its way: it stops asking

    history = phone.get("/me/history", headers=HTML)
    assert 'data-kind="award"' in history.text
    assert "order WEB-1" in history.text
    detail = phone.get("/me/purchases/demo-store/WEB-1", headers=HTML)
    assert "Why you earned this" in detail.text
    assert "ruleSetHash" in detail.text
    check = phone.get("/me/check", headers=HTML)
    assert "balanceOf" in check.text
    assert platform.ctx.points.address in check.text

    # The link worked once: a second phone with the same link is refused.
    other = browser(platform)
    again = other.get(f"/me/sign-in?token={link}", headers=HTML)
    refused = other.post("/me/sign-in", data={"csrf_token": csrf_of(again.text), "token": link}, headers=HTML)
    assert refused.status_code == 401
    assert 'data-error-field="token"' in refused.text
    assert SESSION_COOKIE not in refused.headers.get("set-cookie", "")


def test_redeem_transfer_and_till_code_from_the_pages(platform: Platform) -> None:
    buy(platform, order("WEB-2", "bob"))
    enrolled = platform.client.post("/v1/customers", json={"customer_id": "carol"}, headers=platform.headers("admin"))
    assert enrolled.status_code == 200, enrolled.text
    add_reward(platform, "mug", 30)
    enable_transfers(platform)
    platform.settle()
    phone = sign_in(platform, "bob")
    redeemed = post_form(
        phone, "/me/rewards/redeem", "/me/rewards", reward_id="mug", redemption_id="web-r1", quantity="1"
    )
    assert redeemed.status_code == 200, redeemed.text[-1500:]
    assert 'data-redeemed="web-r1"' in redeemed.text
    given = post_form(phone, "/me/transfer", "/me/transfer", to_customer_id="carol", amount="20", transfer_id="web-t1")
    assert given.status_code == 200
    assert 'data-transferred="web-t1"' in given.text
    too_much = post_form(
        phone, "/me/transfer", "/me/transfer", to_customer_id="carol", amount="1000", transfer_id="web-t2"
    )
    assert too_much.status_code == 422
    assert 'data-error-field="amount"' in too_much.text
    platform.settle()
    balance = platform.client.get("/v1/customers/bob/balance", headers=platform.headers("admin")).json()
    assert balance["balance"] == 100 - 30 - 20
    code = post_form(phone, "/me/till-code", "/me/till-code")
    assert code.status_code == 200
    assert re.search(r'data-testid="till-code"[^>]*>\d{4} \d{4}<', code.text)
    assert 'src="data:image/svg+xml' in code.text


def test_pages_refuse_anyone_but_the_member(platform: Platform) -> None:
    buy(platform, order("WEB-3", "dave"))
    buy(platform, order("WEB-4", "erin"))
    add_reward(platform, "pen", 10)
    platform.settle()
    before = ledger(platform)

    anonymous = browser(platform)
    page = anonymous.get("/me/", headers=HTML)
    assert page.status_code == 401
    assert "Sign in" in page.text
    assert anonymous.get("/me/").json()["error"]["field"] == SESSION_COOKIE  # programs get the API's JSON

    forged = browser(platform)
    forged.cookies.set(SESSION_COOKIE, "cust_" + "A" * 43, path="/me")
    assert forged.get("/me/history").status_code == 401
    assert (
        forged.post(
            "/me/transfer", data={"csrf_token": "x", "to_customer_id": "x", "amount": "1", "transfer_id": "f"}
        ).status_code
        == 401
    )

    dave = sign_in(platform, "dave")
    erin = sign_in(platform, "erin")
    # Another member's purchase looks like none at all.
    assert erin.get("/me/purchases/demo-store/WEB-3", headers=HTML).status_code == 404
    assert dave.get("/me/purchases/demo-store/WEB-3", headers=HTML).status_code == 200
    # A form without the session's CSRF token, or with another session's, is refused.
    fields = {"reward_id": "pen", "redemption_id": "x1", "quantity": "1"}
    assert dave.post("/me/rewards/redeem", data=fields).json()["error"]["field"] == "csrf_token"
    erins = csrf_of(erin.get("/me/rewards", headers=HTML).text)
    stolen = dave.post("/me/rewards/redeem", data={"csrf_token": erins, **fields})
    assert stolen.status_code == 403
    assert stolen.json()["error"]["field"] == "csrf_token"
    # A field smuggled into a form (acting for another customer) is refused, not ignored.
    smuggled = post_form(dave, "/me/rewards/redeem", "/me/rewards", customer_id="erin", **fields)
    assert smuggled.status_code == 422
    assert smuggled.json()["error"]["field"] == "customer_id"
    # A read-only link gives a read-only session: spending is refused.
    reader = sign_in(platform, "dave", scopes=["read"])
    refused = post_form(reader, "/me/rewards/redeem", "/me/rewards", **fields)
    assert refused.status_code == 403
    assert "does not allow redeem" in refused.text
    assert post_form(reader, "/me/till-code", "/me/till-code").status_code == 403
    # Sign-in without the sign-in page's CSRF value (another site posting a token of its own).
    link = platform.customer_token("erin", issuer="program")
    assert browser(platform).post("/me/sign-in", data={"token": link}).json()["error"]["field"] == "csrf_token"
    assert ledger(platform) == before

    # Signed out: the same cookie, replayed, is refused.
    cookie = dave.cookies.get(SESSION_COOKIE)
    out = post_form(dave, "/me/sign-out", "/me/")
    assert out.status_code == 303
    assert out.headers["location"].startswith("/me/sign-in")
    replay = browser(platform)
    replay.cookies.set(SESSION_COOKIE, cookie, path="/me")
    assert replay.get("/me/", headers=HTML).status_code == 401

    # Expired: the session's token is past its time.
    with Session(platform.engine) as session:
        for token in session.exec(select(CustomerToken).where(CustomerToken.issued_by.startswith("web:"))).all():  # type: ignore[attr-defined]
            token.expires_at = utcnow() - timedelta(seconds=1)
            session.add(token)
        session.commit()
    platform.client.app.state.credance.verifier._cache.clear()  # type: ignore[attr-defined]
    assert erin.get("/me/", headers=HTML).status_code == 401


def test_the_receipt_qr_code_opens_the_purchase(platform: Platform) -> None:
    image = browser(platform).get("/me/purchases/demo-store/A-1/qr.svg")
    assert image.status_code == 200
    assert image.headers["content-type"] == "image/svg+xml"
    assert image.content.startswith(b"<?xml")
    assert b"<svg" in image.content


def test_a_member_with_their_own_wallet_signs_in_with_it(platform: Platform) -> None:
    buy(platform, order("WEB-5", "ivan"))
    platform.settle()
    wallet = new_wallet()
    ivan = platform.as_customer("ivan")
    claim = signed_claim(claim_typed_data(platform, "ivan", wallet.address, ivan), wallet)
    assert post_claim(platform, claim, ivan).status_code == 202
    platform.settle()

    phone = browser(platform)
    csrf = csrf_of(phone.get("/me/sign-in", headers=HTML).text)
    asked = phone.post("/me/siwe/message", data={"csrf_token": csrf, "address": wallet.address.lower()})
    assert asked.status_code == 200, asked.text
    message = asked.json()["message"]
    assert wallet.address in message  # checksummed by the server: the page needs no hashing code
    signed = phone.post(
        "/me/siwe", data={"csrf_token": csrf, "message": message, "signature": personal_sign(wallet, message)}
    )
    assert signed.status_code == 303, signed.text
    assert 'data-confirmed="100"' in phone.get("/me/", headers=HTML).text

    # The same signed message again (its nonce is used), a wallet nobody claimed, no CSRF value.
    other = browser(platform)
    csrf = csrf_of(other.get("/me/sign-in", headers=HTML).text)
    again = other.post(
        "/me/siwe",
        data={"csrf_token": csrf, "message": message, "signature": personal_sign(wallet, message)},
        headers=HTML,
    )
    assert again.status_code == 401
    assert 'data-error-field="message.nonce"' in again.text
    stranger = new_wallet()
    csrf = csrf_of(again.text)  # a refused sign-in starts a fresh form
    text = other.post("/me/siwe/message", data={"csrf_token": csrf, "address": stranger.address}).json()["message"]
    unknown = other.post(
        "/me/siwe", data={"csrf_token": csrf, "message": text, "signature": personal_sign(stranger, text)}, headers=HTML
    )
    assert unknown.status_code == 401
    assert 'data-error-field="message.address"' in unknown.text
    assert browser(platform).post("/me/siwe/message", data={"address": wallet.address}).status_code == 403
    assert SESSION_COOKIE not in other.cookies


def test_the_home_page_offers_what_the_next_order_would_get(platform: Platform) -> None:
    """The offers are the campaigns the quote would apply to the member: aimed at their segments,
    under their per-member limit; another member does not see a campaign aimed at someone else."""
    now = utcnow()
    start, end = (now - timedelta(hours=1)).isoformat(), (now + timedelta(days=2)).isoformat()
    vip = {"id": "vip-double", "name": "Double points", "multiplier": "2", "segments": ["vip"]}
    welcome = {"id": "welcome", "bonus_points": 50, "per_member_limit": 1}
    publish(platform, {"campaigns": [{**c, "starts_at": start, "ends_at": end} for c in (vip, welcome)]})
    assert buy(platform, order("OF-1", "olga"))["points_awarded"] > 50  # the welcome bonus, used once
    buy(platform, order("OF-2", "pia"))
    admin = platform.headers("admin")
    assert platform.client.put("/v1/customers/olga/segments", json={"segments": ["vip"]}, headers=admin).is_success

    olga = sign_in(platform, "olga").get("/me/", headers=HTML).text
    pia = sign_in(platform, "pia").get("/me/", headers=HTML).text
    assert 'data-offer="vip-double" data-personal="true"' in olga
    assert "Double points" in olga
    assert 'data-offer="vip-double"' not in pia
    assert 'data-offer="welcome"' not in olga + pia  # each has had it once: its limit
