"""Spending points through the API on a real chain: the reward catalog, redemptions (custodial and
with a wallet's permit), member transfers under the on-chain policy, partner conversions."""

from __future__ import annotations

import pytest
from sqlmodel import Session, func, select

from backend.db.models import Operation, PointLot, Redemption
from backend.loyalty.refs import conversion_ref
from tests.e2e.loyalty_helpers import (
    add_reward,
    assert_books_match_chain,
    balance,
    buy,
    claim_typed_data,
    enable_transfers,
    line,
    new_wallet,
    on_chain,
    order,
    permit,
    publish,
    signed_claim,
)
from tests.support import Platform

pytestmark = pytest.mark.chain


def rows(platform: Platform, model: type) -> int:
    with Session(platform.engine) as session:
        return int(session.exec(select(func.count()).select_from(model)).one())


def redeem(platform: Platform, customer: str, body: dict[str, object]) -> tuple[int, dict]:
    """The customer redeems, with their own token."""
    response = platform.client.post(
        f"/v1/customers/{customer}/redemptions", json=body, headers=platform.as_customer(customer)
    )
    return response.status_code, response.json()


def test_catalog_redemption_burns_points_once_and_respects_stock(platform: Platform) -> None:
    admin = platform.headers("admin")
    add_reward(platform, "tote-bag", 300, stock=1)
    assert (
        platform.client.post(
            "/v1/rewards", json={"id": "tote-bag", "name": "x", "points_price": 1}, headers=admin
        ).status_code
        == 409
    )
    assert (
        platform.client.post(
            "/v1/rewards", json={"id": "x", "name": "x", "points_price": 1}, headers=platform.headers()
        ).status_code
        == 403
    )
    buy(platform, order("S-1", "erin", line("A", 1, "1000.00")))
    platform.settle()

    before = (rows(platform, Operation), rows(platform, Redemption))
    status, body = redeem(platform, "erin", {"redemption_id": "big", "reward_id": "tote-bag", "quantity": 4})
    assert (status, body["error"]["field"]) == (422, "reward_id")  # 1,200 points > 1,000
    assert (rows(platform, Operation), rows(platform, Redemption)) == before  # nothing written

    status, first = redeem(platform, "erin", {"redemption_id": "r1", "reward_id": "tote-bag"})
    assert (status, first["points"], first["status"]) == (200, 300, "pending")
    response = platform.client.post(
        "/v1/customers/erin/redemptions",
        json={"redemption_id": "r1", "reward_id": "tote-bag"},
        headers=platform.as_customer("erin"),
    )
    assert response.json() == first
    assert response.headers["Idempotent-Replayed"] == "true"
    status, body = redeem(platform, "erin", {"redemption_id": "r2", "reward_id": "tote-bag"})
    assert (status, body["error"]["field"]) == (409, "quantity")  # out of stock
    assert platform.client.get("/v1/rewards/tote-bag", headers=admin).json()["stock"] == 0
    platform.settle()

    view = balance(platform, "erin")
    assert (view["balance"], view["available"]) == (700, 700)
    assert on_chain(platform, view["address"]) == (700, 0)
    listed = platform.client.get("/v1/customers/erin/redemptions", headers=platform.as_customer("erin")).json()
    assert [(r["redemption_id"], r["status"]) for r in listed] == [("r1", "confirmed")]
    kinds = [e["kind"] for e in platform.client.get("/v1/customers/erin/history", headers=admin).json()["entries"]]
    assert kinds == ["redemption", "award"]
    assert_books_match_chain(platform, "erin")


def test_transfers_follow_the_policy_and_daily_cap_and_keep_expiry(platform: Platform) -> None:
    publish(platform, {"expiry": {"kind": "after_days", "days": 90}})
    buy(platform, order("T-1", "frank", line("A", 1, "500.00")))
    platform.client.post("/v1/customers", json={"customer_id": "grace"}, headers=platform.headers())
    platform.settle()
    url, headers = "/v1/customers/frank/transfers", platform.as_customer("frank")

    off = platform.client.post(
        url, json={"transfer_id": "t0", "to_customer_id": "grace", "amount": 10}, headers=headers
    )
    assert (off.status_code, off.json()["error"]["field"]) == (409, "amount")
    enable_transfers(platform, daily_cap=100)
    policy = platform.client.get("/v1/transfer-policy", headers=headers).json()
    assert (policy["enabled"], policy["daily_cap"], policy["pending"]) == (True, 100, None)

    sent = platform.client.post(
        url, json={"transfer_id": "t1", "to_customer_id": "grace", "amount": 60}, headers=headers
    )
    assert sent.status_code == 200, sent.text
    over_cap = platform.client.post(
        url, json={"transfer_id": "t2", "to_customer_id": "grace", "amount": 50}, headers=headers
    )
    assert (over_cap.status_code, over_cap.json()["error"]["field"]) == (422, "amount")
    to_self = platform.client.post(
        url, json={"transfer_id": "t3", "to_customer_id": "frank", "amount": 1}, headers=headers
    )
    assert (to_self.status_code, to_self.json()["error"]["field"]) == (422, "to_customer_id")
    nobody = platform.client.post(
        url, json={"transfer_id": "t4", "to_customer_id": "nobody", "amount": 1}, headers=headers
    )
    assert (nobody.status_code, nobody.json()["error"]["field"]) == (404, "to_customer_id")
    assert balance(platform, "grace")["pending"] == 60
    platform.settle()

    assert balance(platform, "frank")["balance"] == 440
    assert balance(platform, "grace")["balance"] == 60
    with Session(platform.engine) as session:
        lots = session.exec(select(PointLot).order_by(PointLot.id)).all()  # type: ignore[arg-type]
    assert lots[-1].source == "transfer"
    assert lots[-1].expires_at == lots[0].expires_at
    for member in ("frank", "grace"):
        assert_books_match_chain(platform, member)


def test_partner_points_convert_at_the_rate_within_caps(platform: Platform) -> None:
    admin = platform.headers("admin")
    created = platform.client.post(
        "/v1/partners",
        json={"id": "air-miles", "name": "Air Miles", "rate": "0.5", "daily_cap_per_customer": 200},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    platform.client.post("/v1/customers", json={"customer_id": "heidi"}, headers=platform.headers())
    url = "/v1/partners/air-miles/conversions"
    admin = admin | {"X-Customer-Token": platform.customer_token("heidi")}  # heidi agrees to convert

    converted = platform.client.post(
        url, json={"conversion_id": "AM-1", "customer_id": "heidi", "partner_points": 301}, headers=admin
    )
    assert converted.status_code == 200, converted.text
    assert converted.json()["points_awarded"] == 150  # floor(301 * 0.5)
    replay = platform.client.post(
        url, json={"conversion_id": "AM-1", "customer_id": "heidi", "partner_points": 301}, headers=admin
    )
    assert replay.json() == converted.json()
    capped = platform.client.post(
        url, json={"conversion_id": "AM-2", "customer_id": "heidi", "partner_points": 102}, headers=admin
    )
    assert (capped.status_code, capped.json()["error"]["field"]) == (422, "partner_points")  # 51 > 50 left today
    checkout = platform.client.post(
        url, json={"conversion_id": "AM-3", "customer_id": "heidi", "partner_points": 2}, headers=platform.headers()
    )
    assert checkout.status_code == 403
    platform.settle()
    assert balance(platform, "heidi")["balance"] == 150
    history = platform.client.get("/v1/customers/heidi/history", headers=admin).json()["entries"]
    assert (history[0]["kind"], history[0]["ref"]) == ("award", conversion_ref("air-miles", "AM-1"))
    assert_books_match_chain(platform, "heidi")


def test_own_wallet_claim_then_redeem_with_a_permit(platform: Platform) -> None:
    buy(platform, order("W-1", "ivan", line("A", 1, "250.00")))
    platform.settle()
    custodial = balance(platform, "ivan")["address"]
    wallet = new_wallet()
    headers = platform.as_customer("ivan")  # the member's own consent

    typed = claim_typed_data(platform, "ivan", wallet.address, headers)
    assert (typed["message"]["account"], typed["message"]["wallet"]) == (custodial, wallet.address)
    forged = platform.client.post(
        "/v1/customers/ivan/wallet",
        json={**signed_claim(typed, new_wallet()), "wallet": wallet.address},
        headers=headers,
    )
    assert (forged.status_code, forged.json()["error"]["field"]) == (422, "signature")
    claimed = platform.client.post("/v1/customers/ivan/wallet", json=signed_claim(typed, wallet), headers=headers)
    assert claimed.status_code == 202, claimed.text
    replayed = platform.client.post("/v1/customers/ivan/wallet", json=signed_claim(typed, wallet), headers=headers)
    assert replayed.json()["operation_id"] == claimed.json()["operation_id"]
    platform.settle()

    view = balance(platform, "ivan")
    assert (view["address"], view["balance"], view["self_custodied"]) == (wallet.address, 250, True)
    assert on_chain(platform, wallet.address) == (250, 0)
    assert platform.ctx.points.functions.isSelfCustodied(wallet.address).call()

    add_reward(platform, "cap", 100)
    status, body = redeem(platform, "ivan", {"redemption_id": "c1", "reward_id": "cap"})
    assert (status, body["error"]["field"]) == (422, "permit")
    status, body = redeem(
        platform, "ivan", {"redemption_id": "c1", "reward_id": "cap", "permit": permit(platform, wallet, 100)}
    )
    assert status == 200, body
    buy(platform, order("W-2", "ivan", line("A", 1, "10.00")))  # awards now go to the wallet
    platform.settle()
    assert on_chain(platform, wallet.address) == (160, 0)
    assert_books_match_chain(platform, "ivan")

    enable_transfers(platform)
    platform.client.post("/v1/customers", json={"customer_id": "judy"}, headers=platform.headers())
    relayed = platform.client.post(
        "/v1/customers/ivan/transfers",
        json={"transfer_id": "x", "to_customer_id": "judy", "amount": 1},
        headers=headers,
    )
    assert relayed.status_code == 409  # the platform cannot move a self-custodied member's points


def test_a_redemption_the_chain_refuses_is_undone(platform: Platform, dev_keys: list[str]) -> None:
    from backend.chain.local_signer import LocalSigner
    from tests.contracts.helpers import send

    buy(platform, order("U-1", "wendy", line("A", 1, "100.00")))
    platform.settle()
    add_reward(platform, "lamp", 60, stock=5)
    # The chain refuses for good while the issuer has lost its role (a pause would only delay it:
    # operations wait in the outbox while the token is paused).
    admin = LocalSigner(platform.ctx.w3, dev_keys[0], platform.ctx.chain_id)
    points = platform.ctx.points.functions
    issuer_role, issuer = points.ISSUER_ROLE().call(), platform.ctx.manifest.roles["issuer"]
    send(admin, points.revokeRole(issuer_role, issuer))
    status, _ = redeem(platform, "wendy", {"redemption_id": "l1", "reward_id": "lamp"})
    assert status == 200
    platform.settle()  # the chain refuses it: the issuer may not redeem
    send(admin, points.grantRole(issuer_role, issuer))
    listed = platform.client.get("/v1/customers/wendy/redemptions", headers=platform.headers("admin")).json()
    assert listed[0]["status"] == "failed"

    undone = platform.client.post("/v1/maintenance", headers=platform.headers("admin")).json()
    assert undone["undone"] == 1
    assert platform.client.get("/v1/rewards/lamp", headers=platform.headers()).json()["stock"] == 5
    assert balance(platform, "wendy")["available"] == 100
    assert_books_match_chain(platform, "wendy")
    status, _ = redeem(platform, "wendy", {"redemption_id": "l2", "reward_id": "lamp"})
    platform.settle()
    assert balance(platform, "wendy")["balance"] == 40
    assert_books_match_chain(platform, "wendy")
