"""Customer consent and tenancy, attacked (issue 11, findings 1 and 2): a till spends, moves or
reads only what the customer and the program allow; a customer token acts only for its customer,
within its scopes and its lifetime; a till code authorises one thing, once; a program key is bound
to its retailer. Every refusal is a 4xx naming the field, with nothing written and nothing sent to
the chain."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update
from sqlmodel import Session, func, select

from backend.api.app import create_app
from backend.consent.till_codes import MAX_ATTEMPTS
from backend.db.models import (
    CustomerToken,
    Operation,
    PartnerConversion,
    PointTransfer,
    Redemption,
    TillCode,
    WalletClaim,
)
from backend.db.schema import table_of
from backend.db.types import utcnow
from tests.e2e.loyalty_helpers import add_reward, buy, enable_transfers, line, new_wallet, order
from tests.support import Platform

# Gates (who may call what) run on SQLite only; what writes tokens and codes runs on both databases.
pytestmark = pytest.mark.chain
LEDGER = (Operation, Redemption, PointTransfer, PartnerConversion, WalletClaim)


@pytest.fixture
def shop(platform: Platform) -> Platform:
    """alice has 100 points from demo-store (retailer demo-retailer); bob is enrolled; a rival
    retailer runs other-store with its own till (key ``rival-till``) and backend (``rival-program``);
    a 30-point reward; transfers on; a partner program."""
    admin = platform.headers("admin")
    assert (
        platform.client.post("/v1/retailers", json={"id": "rival", "name": "Rival"}, headers=admin).status_code == 201
    )
    store = {"id": "other-store", "name": "Other", "currency": "USD", "retailer_id": "rival"}
    assert platform.client.post("/v1/stores", json=store, headers=admin).status_code == 201
    for name, body in (
        ("rival-till", {"role": "checkout", "store_id": "other-store"}),
        ("rival-program", {"role": "program", "retailer_id": "rival"}),
    ):
        created = platform.client.post("/v1/api-keys", json=body, headers=admin)
        assert created.status_code == 201, created.text
        platform.keys[name] = created.json()["key"]
    buy(platform, order("A-1", "alice", line("COFFEE", 1, "100.00")))
    platform.client.post(
        "/v1/customers",
        json={"customer_id": "bob", "name": "Bob", "email": "bob@example.com", "phone": "+1 555 0100"},
        headers=platform.headers(),
    )
    add_reward(platform, "mug", 30)
    assert (
        platform.client.post("/v1/partners", json={"id": "air", "name": "Air", "rate": "1"}, headers=admin).status_code
        == 201
    )
    enable_transfers(platform)
    platform.settle()
    return platform


def ledger(platform: Platform) -> tuple[int, ...]:
    with Session(platform.engine) as session:
        return tuple(int(session.exec(select(func.count()).select_from(t)).one()) for t in LEDGER)


def chain_state(platform: Platform) -> tuple[int, int]:
    """Total supply and alice's balance on chain, after sending whatever is queued."""
    platform.settle()
    points = platform.ctx.points.functions
    return points.totalSupply().call(), points.balanceOf(address_of(platform, "alice")).call()


def address_of(platform: Platform, customer: str) -> str:
    return str(
        platform.client.get(f"/v1/customers/{customer}/balance", headers=platform.headers("admin")).json()["address"]
    )


def refused(
    platform: Platform,
    method: str,
    path: str,
    headers: dict[str, str],
    status: int,
    field: str,
    body: Any = None,
    **params: str,
) -> dict[str, Any]:
    response = platform.client.request(method, path, json=body, headers=headers, params=params or None)
    assert response.status_code == status, (method, path, response.text)
    error = response.json()["error"]
    assert error["field"] == field, (method, path, error)
    assert error["message"]
    return dict(error)


def spending_attempts(platform: Platform, target: str = "alice") -> list[tuple[str, str, Any]]:
    wallet = new_wallet()
    return [
        ("POST", f"/v1/customers/{target}/redemptions", {"redemption_id": "steal", "reward_id": "mug"}),
        ("POST", f"/v1/customers/{target}/transfers", {"transfer_id": "steal", "to_customer_id": "bob", "amount": 50}),
        (
            "POST",
            f"/v1/customers/{target}/wallet",
            {"wallet": wallet.address, "nonce": 0, "expiry": 2**40, "signature": "0x" + "11" * 65},
        ),
        ("POST", f"/v1/customers/{target}/till-codes", None),
        ("POST", f"/v1/customers/{target}/tokens", {}),
    ]


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_a_till_of_another_store_cannot_spend_move_or_read_a_customers_points(shop: Platform) -> None:
    """Finding 1 and 2: store B's till (another retailer) tries everything on store A's customer."""
    till = shop.headers("rival-till")
    before, on_chain = ledger(shop), chain_state(shop)
    for method, path, body in spending_attempts(shop):
        expected = ("customer_code", 403) if path.endswith("redemptions") else ("Authorization", 403)
        refused(shop, method, path, till, expected[1], expected[0], body)
    refused(shop, "GET", "/v1/customers/alice/wallet-claim", till, 403, "Authorization", wallet=new_wallet().address)
    # A code it guessed does not help, nor does paying with alice's points at its own store.
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        till,
        403,
        "customer_code",
        {"redemption_id": "steal", "reward_id": "mug", "customer_code": "12345678"},
    )
    refused(
        shop,
        "POST",
        "/v1/purchases",
        till,
        403,
        "customer_code",
        order("B-1", "alice", line("TV", 1, "100.00"), store_id="other-store", paid_with_points=100),
    )
    refused(
        shop,
        "POST",
        "/v1/partners/air/conversions",
        till,
        403,
        "Authorization",
        {"conversion_id": "c", "customer_id": "alice", "partner_points": 5},
    )
    # Nor read what is not its own: alice's profile and history, store A's purchase; nor refund it.
    for path in ("/v1/customers/alice", "/v1/customers/alice/history", "/v1/customers/alice/redemptions"):
        refused(shop, "GET", path, till, 403, "Authorization")
    refused(shop, "GET", "/v1/purchases/A-1", till, 403, "store_id", store_id="demo-store")
    refused(
        shop,
        "POST",
        "/v1/purchases/A-1/refunds",
        till,
        403,
        "store_id",
        {"refund_id": "r", "amount": "100", "store_id": "demo-store"},
    )
    refused(shop, "POST", "/v1/purchases/A-1/refunds", till, 404, "order_id", {"refund_id": "r", "amount": "100"})
    assert ledger(shop) == before
    assert chain_state(shop) == on_chain


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_the_customers_own_till_spends_only_with_the_code_they_show(shop: Platform) -> None:
    """Even the till where alice earned her points: awarding and refunding yes, spending no."""
    till = shop.headers()
    before, on_chain = ledger(shop), chain_state(shop)
    for method, path, body in spending_attempts(shop):
        field = "customer_code" if path.endswith("redemptions") else "Authorization"
        refused(shop, method, path, till, 403, field, body)
    refused(
        shop,
        "POST",
        "/v1/purchases",
        till,
        403,
        "customer_code",
        order("A-2", "alice", line("TV", 1, "100.00"), paid_with_points=100),
    )
    assert ledger(shop) == before
    assert chain_state(shop) == on_chain
    # With the code alice shows, the same till redeems, once.
    code = shop.till_code("alice")
    body = {"redemption_id": "at-till", "reward_id": "mug", "customer_code": code}
    assert shop.client.post("/v1/customers/alice/redemptions", json=body, headers=till).status_code == 200
    shop.settle()
    assert shop.client.get("/v1/customers/alice/balance", headers=till).json()["balance"] == 70


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_a_checkout_key_reads_a_balance_and_no_personal_data(shop: Platform) -> None:
    till = shop.headers()
    balance = shop.client.get("/v1/customers/bob/balance", headers=till)
    assert balance.status_code == 200
    assert not {"name", "email", "phone"} & set(balance.json())
    assert "bob@example.com" not in balance.text
    refused(shop, "GET", "/v1/customers/bob", till, 403, "Authorization")
    refused(shop, "GET", "/v1/customers/bob", shop.headers("rival-till"), 403, "Authorization")
    assert shop.client.get("/v1/customers/bob", headers=shop.headers("admin")).json()["email"] == "bob@example.com"
    own = shop.client.get("/v1/customers/bob", headers=shop.as_customer("bob")).json()
    assert (own["email"], own["personal_data"]) == ("bob@example.com", "shown")


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_a_program_key_reads_personal_data_only_where_the_program_allows_it(shop: Platform) -> None:
    for who in ("program", "rival-program"):
        member = shop.client.get("/v1/customers/bob", headers=shop.headers(who))
        assert member.status_code == 200
        assert (member.json()["email"], member.json()["personal_data"]) == (None, "withheld")
        assert "bob@example.com" not in member.text
    allowing = shop.settings.model_copy(update={"pii_readers": "demo-retailer"})
    client = TestClient(create_app(allowing, shop.engine), raise_server_exceptions=False)
    shown = client.get("/v1/customers/bob", headers=shop.headers("program")).json()
    assert (shown["email"], shown["personal_data"]) == ("bob@example.com", "shown")
    withheld = client.get("/v1/customers/bob", headers=shop.headers("rival-program")).json()
    assert (withheld["email"], withheld["personal_data"]) == (None, "withheld")


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_a_customer_token_acts_only_for_its_own_customer(shop: Platform) -> None:
    alice = shop.as_customer("alice")
    before, on_chain = ledger(shop), chain_state(shop)
    for method, path, body in spending_attempts(shop, target="bob"):
        field = "Authorization" if path.endswith("/tokens") else "customer_id"
        refused(shop, method, path, alice, 403, field, body)
    for path in (
        "/v1/customers/bob",
        "/v1/customers/bob/balance",
        "/v1/customers/bob/history",
        "/v1/customers/bob/redemptions",
    ):
        refused(shop, "GET", path, alice, 403, "customer_id")
    refused(shop, "GET", "/v1/customers/bob/wallet-claim", alice, 403, "customer_id", wallet=new_wallet().address)
    # Admin, checkout and provenance routes: a customer token is no key.
    for method, path, body in [
        ("GET", "/v1/stores", None),
        ("POST", "/v1/api-keys", {"role": "admin"}),
        ("GET", "/v1/reports/liability", None),
        ("POST", "/v1/rule-sets", {}),
        ("PUT", "/v1/transfer-policy", {"enabled": True, "daily_cap": 0}),
        ("POST", "/v1/purchases", order("C-1", "alice")),
        ("GET", "/v1/purchases/A-1", None),
        ("POST", "/v1/purchases/A-1/refunds", {"refund_id": "r", "amount": "1", "store_id": "demo-store"}),
        ("POST", "/v1/customers", {"customer_id": "mallory"}),
        ("DELETE", "/v1/customers/alice/personal-data", None),
        ("PUT", "/v1/customers/alice/segments", {"segments": ["vip"]}),
        ("POST", "/v1/customers/alice/tokens", {}),
        ("POST", "/v1/partners/air/conversions", {"conversion_id": "c", "customer_id": "alice", "partner_points": 5}),
        ("GET", "/v1/products/09506000134352", None),
        ("GET", "/v1/organisations/demo-brand", None),
        ("GET", "/v1/epcis/events", None),
        ("POST", "/v1/recalls", {"gtin": "09506000134352", "reason": "x"}),
        ("POST", "/v1/items", {"gtin": "09506000134352", "serials": ["X"]}),
    ]:
        refused(shop, method, path, alice, 403, "Authorization", body)
    assert ledger(shop) == before
    assert chain_state(shop) == on_chain
    # What it may do: read its own balance, the catalog and the rules.
    for path in ("/v1/customers/alice/balance", "/v1/rewards", "/v1/rule-sets/current", "/v1/transfer-policy"):
        assert shop.client.get(path, headers=alice).status_code == 200, path


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_a_token_limited_to_some_scopes_does_only_that(shop: Platform) -> None:
    reader = shop.as_customer("alice", ["read"])
    assert shop.client.get("/v1/customers/alice/history", headers=reader).status_code == 200
    before = ledger(shop)
    for method, path, body in spending_attempts(shop)[:4]:
        refused(shop, method, path, reader, 403, "Authorization", body)
    assert ledger(shop) == before
    spender = shop.as_customer("alice", ["redeem"])
    refused(shop, "GET", "/v1/customers/alice/balance", spender, 403, "Authorization")
    assert (
        shop.client.post(
            "/v1/customers/alice/redemptions", json={"redemption_id": "r", "reward_id": "mug"}, headers=spender
        ).status_code
        == 200
    )


def test_expired_and_revoked_customer_tokens_are_refused(shop: Platform) -> None:
    verifier = shop.client.app.state.credance.verifier  # type: ignore[attr-defined]
    token = shop.customer_token("alice")
    bearer = {"Authorization": f"Bearer {token}"}
    assert shop.client.get("/v1/customers/alice/balance", headers=bearer).status_code == 200
    with Session(shop.engine) as session:  # an hour passes
        session.execute(
            update(table_of(CustomerToken))
            .where(table_of(CustomerToken).c.token_id == token[:13])
            .values(expires_at=utcnow() - timedelta(seconds=1))
        )
        session.commit()
    verifier._cache.clear()
    before = ledger(shop)
    refused(shop, "GET", "/v1/customers/alice/balance", bearer, 401, "Authorization")
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        bearer,
        401,
        "Authorization",
        {"redemption_id": "late", "reward_id": "mug"},
    )

    # Revoked by the retailer's backend: refused at once (this process), then by the customer themselves.
    second = shop.customer_token("alice", issuer="program")
    bearer = {"Authorization": f"Bearer {second}"}
    assert shop.client.get("/v1/customers/alice/balance", headers=bearer).status_code == 200
    deleted = shop.client.delete(f"/v1/customers/alice/tokens/{second[:13]}", headers=shop.headers("program"))
    assert deleted.status_code == 204
    refused(shop, "GET", "/v1/customers/alice/balance", bearer, 401, "Authorization")
    refused(shop, "DELETE", f"/v1/customers/alice/tokens/{second[:13]}", shop.headers("program"), 404, "token_id")
    third = {"Authorization": f"Bearer {shop.customer_token('alice')}"}
    fourth = shop.customer_token("alice")
    assert shop.client.delete(f"/v1/customers/alice/tokens/{fourth[:13]}", headers=third).status_code == 204
    # Alice signs out everywhere through the retailer: every live token goes.
    revoked = shop.client.delete("/v1/customers/alice/tokens", headers=shop.headers("admin")).json()["revoked"]
    assert revoked == [third["Authorization"][7:20]]
    refused(shop, "GET", "/v1/customers/alice/balance", third, 401, "Authorization")
    assert ledger(shop) == before
    # A checkout key cannot revoke (nor issue) customer tokens; bob's token cannot revoke alice's.
    fifth = shop.customer_token("alice")
    refused(shop, "DELETE", f"/v1/customers/alice/tokens/{fifth[:13]}", shop.headers(), 403, "Authorization")
    refused(shop, "DELETE", f"/v1/customers/alice/tokens/{fifth[:13]}", shop.as_customer("bob"), 403, "customer_id")
    refused(shop, "DELETE", f"/v1/customers/bob/tokens/{fifth[:13]}", shop.as_customer("bob"), 404, "token_id")


def test_customer_tokens_live_a_bounded_time_and_are_stored_as_digests(shop: Platform) -> None:
    admin = shop.headers("admin")
    for ttl in (10, 3601):
        refused(shop, "POST", "/v1/customers/alice/tokens", admin, 422, "ttl_seconds", {"ttl_seconds": ttl})
    refused(shop, "POST", "/v1/customers/alice/tokens", admin, 422, "scopes[0]", {"scopes": ["everything"]})
    created = shop.client.post(
        "/v1/customers/alice/tokens", json={"ttl_seconds": 60, "scopes": ["read"]}, headers=admin
    ).json()
    assert created["token"].startswith("cust_")
    assert created["scopes"] == ["read"]
    with Session(shop.engine) as session:
        record = session.exec(select(CustomerToken).where(CustomerToken.token_id == created["token_id"])).one()
    assert created["token"] not in {str(v) for v in record.model_dump().values()}
    assert record.expires_at - record.created_at == timedelta(seconds=60)
    assert created["token"].encode() not in _database_bytes(shop)


def _database_bytes(platform: Platform) -> bytes:
    url = platform.settings.resolved_database_url
    if not url.startswith("sqlite:///"):
        return b""
    from pathlib import Path

    database = Path(url.removeprefix("sqlite:///"))
    return b"".join(p.read_bytes() for p in database.parent.glob(database.name + "*"))


def _redeem_at_till(platform: Platform, redemption_id: str, code: str) -> Any:
    body = {"redemption_id": redemption_id, "reward_id": "mug", "customer_code": code}
    return platform.client.post("/v1/customers/alice/redemptions", headers=platform.headers(), json=body)


def test_a_till_code_authorises_one_thing_once(shop: Platform) -> None:
    code = shop.till_code("alice")
    first = _redeem_at_till(shop, "t1", code)
    assert first.status_code == 200, first.text
    again = _redeem_at_till(shop, "t1", code)  # the till retries: the same redemption, answered again
    assert (again.json(), again.headers["Idempotent-Replayed"]) == (first.json(), "true")
    before = ledger(shop)
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        403,
        "customer_code",
        {"redemption_id": "t2", "reward_id": "mug", "customer_code": code},
    )
    # A code is the customer's consent to one thing at one customer: not bob's, not a purchase.
    refused(
        shop,
        "POST",
        "/v1/purchases",
        shop.headers(),
        403,
        "customer_code",
        order("T-9", "alice", line("TV", 1, "100.00"), paid_with_points=10, customer_code=code),
    )
    bobs = shop.till_code("bob")
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        403,
        "customer_code",
        {"redemption_id": "t3", "reward_id": "mug", "customer_code": bobs},
    )
    assert ledger(shop) == before
    # A refused redemption leaves the code unused; a new code voids the previous one.
    code = shop.till_code("alice")
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        422,
        "quantity",
        {"redemption_id": "t4", "reward_id": "mug", "quantity": 0, "customer_code": code},
    )
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        409,
        "redemption_id",
        {"redemption_id": "t1", "reward_id": "mug", "quantity": 2, "customer_code": code},
    )
    newer = shop.till_code("alice")
    refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        403,
        "customer_code",
        {"redemption_id": "t5", "reward_id": "mug", "customer_code": code},
    )
    assert _redeem_at_till(shop, "t5", newer).status_code == 200
    # Paying with points at the till, with a code of its own.
    paying = order("T-10", "alice", line("TV", 1, "100.00"), paid_with_points=10, customer_code=shop.till_code("alice"))
    paid = shop.client.post("/v1/purchases", headers=shop.headers(), json=paying)
    assert (paid.status_code, paid.json()["paid_with_points"]) == (200, 10), paid.text
    shop.settle()
    balance = shop.client.get("/v1/customers/alice/balance", headers=shop.headers()).json()["balance"]
    assert balance == 100 - 2 * 30 - 10 + paid.json()["points_awarded"]


def test_a_till_code_expires(shop: Platform) -> None:
    code = shop.till_code("alice")
    with Session(shop.engine) as session:
        session.execute(update(table_of(TillCode)).values(expires_at=utcnow() - timedelta(seconds=1)))
        session.commit()
    before = ledger(shop)
    error = refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        403,
        "customer_code",
        {"redemption_id": "x", "reward_id": "mug", "customer_code": code},
    )
    assert "expired" in error["message"]
    assert ledger(shop) == before


def test_guessing_a_till_code_burns_it(shop: Platform) -> None:
    code = shop.till_code("alice")
    wrong = [f"{(int(code) + n) % 10**8:08d}" for n in range(1, MAX_ATTEMPTS + 1)]
    before = ledger(shop)
    for guess in wrong:  # the rival till guesses
        refused(
            shop,
            "POST",
            "/v1/customers/alice/redemptions",
            shop.headers("rival-till"),
            403,
            "customer_code",
            {"redemption_id": f"g{guess}", "reward_id": "mug", "customer_code": guess},
        )
    with Session(shop.engine) as session:
        assert session.exec(select(TillCode.attempts)).all() == [MAX_ATTEMPTS]
    error = refused(
        shop,
        "POST",
        "/v1/customers/alice/redemptions",
        shop.headers(),
        403,
        "customer_code",
        {"redemption_id": "right", "reward_id": "mug", "customer_code": code},
    )
    assert "void" in error["message"]
    assert ledger(shop) == before


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_partner_conversions_need_the_customers_own_token(shop: Platform) -> None:
    url, body = "/v1/partners/air/conversions", {"conversion_id": "c1", "customer_id": "alice", "partner_points": 40}
    admin = shop.headers("admin")
    before, on_chain = ledger(shop), chain_state(shop)
    refused(shop, "POST", url, admin, 403, "X-Customer-Token", body)
    refused(shop, "POST", url, admin | {"X-Customer-Token": shop.customer_token("bob")}, 403, "X-Customer-Token", body)
    refused(
        shop,
        "POST",
        url,
        admin | {"X-Customer-Token": shop.customer_token("alice", ["read"])},
        403,
        "X-Customer-Token",
        body,
    )
    refused(shop, "POST", url, admin | {"X-Customer-Token": "cust_forged"}, 403, "X-Customer-Token", body)
    refused(shop, "POST", url, shop.as_customer("alice"), 403, "Authorization", body)  # vouched by no operator
    refused(
        shop,
        "POST",
        url,
        shop.headers("program") | {"X-Customer-Token": shop.customer_token("alice")},
        403,
        "Authorization",
        body,
    )
    assert ledger(shop) == before
    assert chain_state(shop) == on_chain
    consented = admin | {"X-Customer-Token": shop.customer_token("alice", ["convert"])}
    assert shop.client.post(url, json=body, headers=consented).status_code == 200


@pytest.mark.sqlite_only  # who may call what does not depend on the database
def test_program_keys_are_bound_to_their_retailers_stores(shop: Platform) -> None:
    mine, rival = shop.headers("program"), shop.headers("rival-program")
    assert shop.client.get("/v1/purchases/A-1", params={"store_id": "demo-store"}, headers=mine).status_code == 200
    refused(shop, "GET", "/v1/purchases/A-1", rival, 403, "store_id", store_id="demo-store")
    refused(shop, "GET", "/v1/purchases/A-1", rival, 422, "store_id")
    assert [s["id"] for s in shop.client.get("/v1/stores", headers=rival).json()] == ["other-store"]
    assert [s["id"] for s in shop.client.get("/v1/stores", headers=mine).json()] == ["demo-store"]
    # A program key runs the retailer's back office, not its tills nor the program.
    before = ledger(shop)
    refused(shop, "POST", "/v1/purchases", mine, 403, "Authorization", order("P-1", "alice"))
    refused(
        shop,
        "POST",
        "/v1/purchases/A-1/refunds",
        mine,
        403,
        "Authorization",
        {"refund_id": "r", "amount": "1", "store_id": "demo-store"},
    )
    for method, path, body in spending_attempts(shop)[:4]:
        refused(shop, method, path, mine, 403, "Authorization", body)
    refused(shop, "POST", "/v1/api-keys", mine, 403, "Authorization", {"role": "program", "retailer_id": "rival"})
    assert ledger(shop) == before
    # Every store belongs to a retailer that exists; a program key to one.
    admin = shop.headers("admin")
    refused(shop, "POST", "/v1/stores", admin, 422, "retailer_id", {"id": "s2", "name": "S", "currency": "USD"})
    refused(
        shop,
        "POST",
        "/v1/stores",
        admin,
        404,
        "retailer_id",
        {"id": "s2", "name": "S", "currency": "USD", "retailer_id": "nobody"},
    )
    refused(shop, "POST", "/v1/api-keys", admin, 404, "retailer_id", {"role": "program"})
