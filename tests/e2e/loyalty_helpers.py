"""Helpers for the loyalty tests: purchases, rules, balances, and the check that the SQL books
(lots and expected debt) agree with the chain."""

from __future__ import annotations

from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from sqlmodel import Session, func, select

from backend.db.models import Customer, MemberState, PointLot
from tests.permits import sign_permit
from tests.support import Platform


def order(order_id: str, customer: str = "alice", *lines: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {
        "order_id": order_id,
        "customer_id": customer,
        "store_id": "demo-store",
        "currency": "USD",
        "lines": list(lines) or [{"sku": "COFFEE", "quantity": 1, "unit_price": "100.00"}],
        **extra,
    }


def line(sku: str, quantity: int, price: str, category: str | None = None) -> dict[str, Any]:
    data: dict[str, Any] = {"sku": sku, "quantity": quantity, "unit_price": price}
    if category:
        data["category"] = category
    return data


def buy(platform: Platform, body: dict[str, Any], status: int = 200) -> dict[str, Any]:
    response = platform.client.post("/v1/purchases", json=body, headers=platform.headers())
    assert response.status_code == status, response.text
    return dict(response.json())


def publish(platform: Platform, document: dict[str, Any]) -> dict[str, Any]:
    response = platform.client.post("/v1/rule-sets", json=document, headers=platform.headers("admin"))
    assert response.status_code in (200, 201), response.text
    platform.settle()
    return dict(response.json())


def balance(platform: Platform, customer: str) -> dict[str, Any]:
    response = platform.client.get(f"/v1/customers/{customer}/balance", headers=platform.headers())
    assert response.status_code == 200, response.text
    return dict(response.json())


def on_chain(platform: Platform, address: str) -> tuple[int, int]:
    points = platform.ctx.points.functions
    return points.balanceOf(address).call(), points.debtOf(address).call()


def books(platform: Platform, customer: str) -> tuple[int, int]:
    """Points left in the customer's lots, and the debt SQL expects."""
    with Session(platform.engine) as session:
        member = session.exec(select(Customer).where(Customer.external_id == customer)).one()
        lots = session.exec(
            select(func.coalesce(func.sum(PointLot.remaining), 0)).where(PointLot.customer_id == member.id)
        ).one()
        state = session.get(MemberState, member.id)
        return int(lots), state.debt if state else 0


def assert_books_match_chain(platform: Platform, customer: str) -> None:
    """After settling, the lots hold exactly the balance on chain and SQL expects the chain's debt."""
    view = balance(platform, customer)
    assert books(platform, customer) == on_chain(platform, view["address"]) == (view["balance"], view["debt"])


def enable_transfers(platform: Platform, daily_cap: int = 0) -> None:
    response = platform.client.put(
        "/v1/transfer-policy", json={"enabled": True, "daily_cap": daily_cap}, headers=platform.headers("admin")
    )
    assert response.status_code == 202, response.text
    platform.settle()


def add_reward(platform: Platform, reward_id: str, price: int, stock: int | None = None) -> None:
    body: dict[str, Any] = {"id": reward_id, "name": reward_id.title(), "points_price": price}
    if stock is not None:
        body["stock"] = stock
    response = platform.client.post("/v1/rewards", json=body, headers=platform.headers("admin"))
    assert response.status_code == 201, response.text


def claim_typed_data(platform: Platform, customer: str, wallet: str, headers: dict[str, str]) -> dict[str, Any]:
    """The EIP-712 claim the API proposes for the customer's wallet (asked with the customer's token)."""
    response = platform.client.get(f"/v1/customers/{customer}/wallet-claim", params={"wallet": wallet}, headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


def sign_typed(account: Any, typed: dict[str, Any]) -> str:
    signed = account.sign_message(encode_typed_data(full_message=typed))
    return "0x" + bytes(signed.signature).hex()


def signed_claim(typed: dict[str, Any], signer: Any) -> dict[str, Any]:
    """The body of ``POST …/wallet``: the claim's wallet, nonce and expiry, signed by ``signer``."""
    message = typed["message"]
    return {
        "wallet": message["wallet"],
        "nonce": message["nonce"],
        "expiry": message["expiry"],
        "signature": sign_typed(signer, typed),
    }


def permit(platform: Platform, account: Any, value: int, deadline: int = 2**40) -> dict[str, Any]:
    """An ERC-2612 permit of ``value`` points for the token contract, signed by ``account``."""
    token = platform.ctx.points
    nonce = token.functions.nonces(account.address).call()
    v, r, s = sign_permit(account, token.address, value, nonce, deadline, platform.ctx.chain_id)
    return {
        "deadline": deadline,
        "v": v,
        "r": "0x" + r.hex(),
        "s": "0x" + s.hex(),
    }


def new_wallet() -> Any:
    return Account.create()
