"""Wallet claims and Sign-In with Ethereum, attacked (issue 11, finding 1 and the wallet items of
finding 11): a claim needs the member's token and the wallet's EIP-712 signature in the token's own
domain, with the member's nonce and an expiry, and is recognised on a second sending by its signed
message, never by the wallet alone; Sign-In with Ethereum gives a token only to the member whose
claimed wallet signed an EIP-4361 message for this domain, URI, chain, nonce and time."""

from __future__ import annotations

import copy
import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import update
from sqlmodel import Session, func, select

from backend.consent.siwe import SiweMessage
from backend.db.models import Customer, Operation, SiweNonce, WalletClaim
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.loyalty.wallet_claims import claim_digest
from tests.e2e.loyalty_helpers import buy, claim_typed_data, line, new_wallet, order, signed_claim
from tests.support import Platform

pytestmark = pytest.mark.chain


@pytest.fixture
def member(platform: Platform) -> Platform:
    """ivan has 250 points in his custodial account; bob is enrolled."""
    buy(platform, order("W-1", "ivan", line("A", 1, "250.00")))
    platform.client.post("/v1/customers", json={"customer_id": "bob"}, headers=platform.headers())
    platform.settle()
    return platform


def claims(platform: Platform) -> tuple[int, int, str | None]:
    """Claim operations queued, claims recorded, and ivan's wallet."""
    with Session(platform.engine) as session:
        queued = session.exec(select(func.count()).select_from(Operation).where(Operation.kind == "claim")).one()
        recorded = session.exec(select(func.count()).select_from(WalletClaim)).one()
        ivan = session.exec(select(Customer).where(Customer.external_id == "ivan")).one()
        return int(queued), int(recorded), ivan.wallet


def post_claim(platform: Platform, body: dict[str, Any], headers: dict[str, str]) -> Any:
    return platform.client.post("/v1/customers/ivan/wallet", json=body, headers=headers)


def resigned(typed: dict[str, Any], signer: Any, domain: dict[str, Any] | None = None, **message: Any) -> dict:
    """The claim with some fields changed, properly signed by ``signer``."""
    changed = copy.deepcopy(typed)
    changed["domain"].update(domain or {})
    changed["message"].update(message)
    return signed_claim(changed, signer)


def test_the_claim_is_typed_data_in_the_tokens_own_eip712_domain(member: Platform) -> None:
    wallet = new_wallet()
    typed = claim_typed_data(member, "ivan", wallet.address, member.as_customer("ivan"))
    _, name, version, chain_id, contract, *_ = member.ctx.points.functions.eip712Domain().call()
    assert typed["domain"] == {"name": name, "version": version, "chainId": chain_id, "verifyingContract": contract}
    assert typed["primaryType"] == "WalletClaim"
    assert [f["name"] for f in typed["types"]["WalletClaim"]] == ["account", "wallet", "nonce", "expiry"]
    custodial = member.client.get("/v1/customers/ivan/balance", headers=member.headers()).json()["address"]
    assert typed["message"]["account"] == custodial
    assert typed["message"]["nonce"] == 0
    assert 0 < typed["message"]["expiry"] - time.time() <= 600
    assert claim_digest(typed).startswith("0x")


def test_wallet_claim_attacks_are_refused_and_a_replay_is_told_by_its_signed_message(member: Platform) -> None:
    ivan = member.as_customer("ivan")
    wallet, other = new_wallet(), new_wallet()
    typed = claim_typed_data(member, "ivan", wallet.address, ivan)
    good = signed_claim(typed, wallet)
    before = claims(member)
    registry = member.ctx.registry.address
    now = int(time.time())
    attacks = {
        # Finding 1: a till (any checkout key), another customer's token, a token without the scope.
        "checkout key": (good, member.headers(), 403, "Authorization"),
        "another customer's token": (good, member.as_customer("bob"), 403, "customer_id"),
        "token without the wallet scope": (good, member.as_customer("ivan", ["read", "redeem"]), 403, "Authorization"),
        # The signature binds the contract, the chain, the nonce and the expiry.
        "another contract": (resigned(typed, wallet, {"verifyingContract": registry}), ivan, 422, "signature"),
        "another chain": (resigned(typed, wallet, {"chainId": 1}), ivan, 422, "signature"),
        "another nonce": (resigned(typed, wallet, nonce=1), ivan, 422, "nonce"),
        "expired": (resigned(typed, wallet, expiry=now - 1), ivan, 422, "expiry"),
        "a day ahead": (resigned(typed, wallet, expiry=now + 86_400), ivan, 422, "expiry"),
        "another wallet's signature": (
            {**good, "signature": signed_claim(typed, other)["signature"]},
            ivan,
            422,
            "signature",
        ),
        "the signature reused for another wallet": ({**good, "wallet": other.address}, ivan, 422, "signature"),
        "not an address": ({**good, "wallet": "hello"}, ivan, 422, "wallet"),
    }
    for name, (body, headers, status, field) in attacks.items():
        response = post_claim(member, body, headers)
        assert (response.status_code, response.json()["error"]["field"]) == (status, field), (name, response.text)
    bad = member.client.get("/v1/customers/ivan/wallet-claim", params={"wallet": "hello"}, headers=ivan)
    assert (bad.status_code, bad.json()["error"]["field"]) == (422, "wallet")
    assert claims(member) == before == (0, 0, None)

    claimed = post_claim(member, good, ivan)
    assert claimed.status_code == 202, claimed.text
    replayed = post_claim(member, good, member.as_customer("ivan"))
    assert (replayed.status_code, replayed.headers["Idempotent-Replayed"]) == (202, "true")
    assert replayed.json() == claimed.json()
    # A second claim is always checked: a replay with another wallet, or a new claim, is refused.
    swapped = post_claim(member, {**good, "wallet": other.address}, ivan)
    assert (swapped.status_code, swapped.json()["error"]["field"]) == (422, "signature")
    for nonce in (0, 1):
        again = post_claim(member, resigned(typed, other, wallet=other.address, nonce=nonce), ivan)
        assert (again.status_code, again.json()["error"]["field"]) == (409, "wallet")
    assert claims(member) == (1, 1, wallet.address)
    member.settle()
    assert member.ctx.points.functions.isSelfCustodied(wallet.address).call()
    assert member.ctx.points.functions.balanceOf(wallet.address).call() == 250
    assert member.ctx.points.functions.balanceOf(other.address).call() == 0


# -- Sign-In with Ethereum ------------------------------------------------------------------


@pytest.fixture
def claimed(member: Platform) -> tuple[Platform, Any]:
    """ivan has claimed his own wallet (on chain)."""
    wallet = new_wallet()
    ivan = member.as_customer("ivan")
    assert (
        post_claim(
            member, signed_claim(claim_typed_data(member, "ivan", wallet.address, ivan), wallet), ivan
        ).status_code
        == 202
    )
    member.settle()
    return member, wallet


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def sign_in_message(asked: dict[str, Any], address: str, **changes: Any) -> str:
    """The EIP-4361 message the server asked for (``POST /v1/siwe/nonces``), with ``changes``."""
    now = datetime.now(UTC)
    fields: dict[str, Any] = {
        "domain": asked["domain"],
        "address": address,
        "uri": asked["uri"] + "/me",
        "version": "1",
        "chain_id": asked["chain_id"],
        "nonce": asked["nonce"],
        "issued_at": _stamp(now),
        "statement": asked["statement"],
        "expiration_time": _stamp(now + timedelta(minutes=5)),
    }
    fields.update(changes)
    return SiweMessage(**fields).render()


def personal_sign(account: Any, text: str) -> str:
    return "0x" + bytes(account.sign_message(encode_defunct(text=text)).signature).hex()


def new_nonce(platform: Platform) -> dict[str, Any]:
    response = platform.client.post("/v1/siwe/nonces")
    assert response.status_code == 201, response.text
    return dict(response.json())


def test_sign_in_with_ethereum_gives_the_wallets_member_a_token(claimed: tuple[Platform, Any]) -> None:
    platform, wallet = claimed
    nonce = new_nonce(platform)
    assert (nonce["domain"], nonce["uri"], nonce["chain_id"]) == ("127.0.0.1:8000", "http://127.0.0.1:8000", 31337)
    message = sign_in_message(nonce, wallet.address)
    session = platform.client.post(
        "/v1/siwe/sessions", json={"message": message, "signature": personal_sign(wallet, message)}
    )
    assert session.status_code == 201, session.text
    body = session.json()
    assert (body["customer_id"], body["address"], body["token"][:5]) == ("ivan", wallet.address, "cust_")
    bearer = {"Authorization": f"Bearer {body['token']}"}
    assert platform.client.get("/v1/customers/ivan/balance", headers=bearer).json()["balance"] == 250
    assert platform.client.get("/v1/customers/bob/balance", headers=bearer).status_code == 403
    again = platform.client.post(
        "/v1/siwe/sessions", json={"message": message, "signature": personal_sign(wallet, message)}
    )
    assert (again.status_code, again.json()["error"]["field"]) == (401, "message.nonce")  # used once


def test_sign_in_attacks_are_refused_and_use_nothing(claimed: tuple[Platform, Any]) -> None:
    platform, wallet = claimed
    nonce = new_nonce(platform)
    intruder, stranger = Account.create(), Account.create()
    past = datetime.now(UTC) - timedelta(minutes=1)

    def attempt(message: str, signer: Any = wallet) -> Any:
        return platform.client.post(
            "/v1/siwe/sessions", json={"message": message, "signature": personal_sign(signer, message)}
        )

    attacks = {
        "another domain": (sign_in_message(nonce, wallet.address, domain="evil.example"), wallet, "message.domain"),
        "a URI elsewhere": (
            sign_in_message(nonce, wallet.address, uri="https://evil.example/me"),
            wallet,
            "message.uri",
        ),
        "another chain": (sign_in_message(nonce, wallet.address, chain_id=1), wallet, "message.chain_id"),
        "expired": (
            sign_in_message(nonce, wallet.address, expiration_time=_stamp(past)),
            wallet,
            "message.expiration_time",
        ),
        "no expiry": (sign_in_message(nonce, wallet.address, expiration_time=None), wallet, "message.expiration_time"),
        "a made-up nonce": (sign_in_message(nonce, wallet.address, nonce="deadbeefdeadbeef"), wallet, "message.nonce"),
        "another statement": (
            sign_in_message(nonce, wallet.address, statement="Transfer all my points."),
            wallet,
            "message.statement",
        ),
        "signed by another key": (sign_in_message(nonce, wallet.address), intruder, "signature"),
        "a wallet no member claimed": (sign_in_message(nonce, stranger.address), stranger, "message.address"),
    }
    for name, (message, signer, field) in attacks.items():
        response = attempt(message, signer)
        assert (response.status_code, response.json()["error"]["field"]) == (401, field), (name, response.text)
    malformed = attempt(sign_in_message(nonce, wallet.address).replace("Version: 1", "Version: 2"))
    assert (malformed.status_code, malformed.json()["error"]["field"]) == (422, "message.version")
    # None of that used the nonce: the real member signs in with it.
    assert attempt(sign_in_message(nonce, wallet.address)).status_code == 201
    # An expired nonce is refused.
    late = new_nonce(platform)
    with Session(platform.engine) as session:
        table = table_of(SiweNonce)
        session.execute(update(table).where(table.c.nonce == late["nonce"]).values(expires_at=utcnow()))
        session.commit()
    expired = attempt(sign_in_message(late, wallet.address))
    assert (expired.status_code, expired.json()["error"]["field"]) == (401, "message.nonce")


def test_a_member_with_a_wallet_is_offered_no_other_claim(claimed: tuple[Platform, Any]) -> None:
    platform, wallet = claimed
    again = platform.client.get(
        "/v1/customers/ivan/wallet-claim", params={"wallet": new_wallet().address}, headers=platform.as_customer("ivan")
    )
    assert (again.status_code, again.json()["error"]["field"]) == (409, "wallet")
    with Session(platform.engine) as session:
        accepted = session.exec(select(WalletClaim)).one()
    assert (accepted.nonce, accepted.wallet) == (0, wallet.address)
