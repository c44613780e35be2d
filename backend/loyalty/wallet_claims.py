"""Wallet claims: a custodial member moves their points to a wallet of their own (``claimWallet``).

Two consents are needed: the member's (their customer token, checked by the API's policy layer)
and the wallet's, an EIP-712 signature of typed data in the LoyaltyPoints token's own EIP-712
domain (name, version, chain id, contract: the domain its ERC-2612 permits use), so a signature is
good for one contract on one chain only:

    WalletClaim(address account, address wallet, uint256 nonce, uint256 expiry)

``account`` is the member's custodial address, ``nonce`` the member's claim nonce (0 for the
first claim; each accepted claim uses one), ``expiry`` a Unix time after which the signature is
void. A claim sent again is recognised by its signed message (same digest, signature checked
again), never by the wallet alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from eth_account import Account
from eth_account.messages import encode_typed_data
from eth_utils import keccak, to_checksum_address
from sqlalchemy import func, or_
from sqlmodel import Session, col, select

from backend.chain.operations import ClaimWallet, enqueue
from backend.db.models import Customer, MirrorAccount, Operation, WalletClaim
from backend.db.types import utcnow
from backend.errors import Conflict, Unprocessable
from backend.loyalty.customers import get_customer
from backend.loyalty.in_flight import has_in_flight, in_flight_transfers_in

CLAIM_LIFETIME = timedelta(minutes=10)  # the expiry GET …/wallet-claim proposes
MAX_CLAIM_LIFETIME = timedelta(hours=1)  # the furthest expiry a claim may carry

DOMAIN_TYPE = [
    {"name": "name", "type": "string"},
    {"name": "version", "type": "string"},
    {"name": "chainId", "type": "uint256"},
    {"name": "verifyingContract", "type": "address"},
]
CLAIM_TYPE = [
    {"name": "account", "type": "address"},
    {"name": "wallet", "type": "address"},
    {"name": "nonce", "type": "uint256"},
    {"name": "expiry", "type": "uint256"},
]


@dataclass(frozen=True)
class TokenDomain:
    """The LoyaltyPoints token's EIP-712 domain (as ``eip712Domain()`` reports it on chain)."""

    name: str
    version: str
    chain_id: int
    verifying_contract: str


@dataclass(frozen=True)
class ClaimRequest:
    customer_id: str
    wallet: str
    nonce: int
    expiry: int
    signature: str


@dataclass(frozen=True)
class ClaimOutcome:
    customer: Customer
    operation: Operation
    replayed: bool


def typed_data(domain: TokenDomain, account: str, wallet: str, nonce: int, expiry: int) -> dict[str, Any]:
    """The claim as ``eth_signTypedData_v4`` takes it."""
    return {
        "types": {"EIP712Domain": DOMAIN_TYPE, "WalletClaim": CLAIM_TYPE},
        "primaryType": "WalletClaim",
        "domain": {
            "name": domain.name,
            "version": domain.version,
            "chainId": domain.chain_id,
            "verifyingContract": to_checksum_address(domain.verifying_contract),
        },
        "message": {
            "account": to_checksum_address(account),
            "wallet": to_checksum_address(wallet),
            "nonce": nonce,
            "expiry": expiry,
        },
    }


def claim_digest(data: dict[str, Any]) -> str:
    """The EIP-712 digest the wallet signs: keccak256(0x19 0x01 ‖ domainSeparator ‖ hashStruct)."""
    signable = encode_typed_data(full_message=data)
    return "0x" + keccak(b"\x19" + signable.version + signable.header + signable.body).hex()


def _signer(data: dict[str, Any], signature: str) -> str | None:
    try:
        return str(Account.recover_message(encode_typed_data(full_message=data), signature=signature))
    except Exception:  # malformed signature bytes, a bad recovery id
        return None


def next_nonce(session: Session, customer: Customer) -> int:
    """The nonce the member's next claim must carry: one per accepted claim."""
    used = session.exec(select(func.count()).select_from(WalletClaim).where(WalletClaim.customer_id == customer.id))
    return int(used.one())


def proposal(
    session: Session, domain: TokenDomain, external_id: str, wallet: str, now: datetime | None = None
) -> dict[str, Any]:
    """The typed data for the wallet to sign (``GET …/wallet-claim``): the next nonce, a short expiry."""
    now = now or utcnow()
    customer = get_customer(session, external_id)
    if customer.wallet is not None:
        raise Conflict(f"customer {external_id!r} already claimed wallet {customer.wallet}", field="wallet")
    expiry = int((now + CLAIM_LIFETIME).timestamp())
    return typed_data(domain, customer.address, wallet, next_nonce(session, customer), expiry)


def claim_wallet(
    session: Session, domain: TokenDomain, request: ClaimRequest, now: datetime | None = None
) -> ClaimOutcome:
    """Check the wallet's signed claim and queue ``claimWallet``; a claim sent again is a replay.

    The signature is checked first, every time: a replay must be the very message that was
    accepted (same digest), signed by its wallet."""
    now = now or utcnow()
    customer = get_customer(session, request.customer_id)
    session.exec(select(Customer.id).where(Customer.id == customer.id).with_for_update()).first()
    session.refresh(customer)  # as the lock found it
    wallet = to_checksum_address(request.wallet)
    data = typed_data(domain, customer.address, wallet, request.nonce, request.expiry)
    if _signer(data, request.signature) != wallet:
        raise Unprocessable(
            "the signature is not the wallet's EIP-712 signature of this claim (account, wallet, nonce, "
            "expiry, in the token's domain: name, version, chain id, contract)",
            field="signature",
        )
    digest = claim_digest(data)
    accepted = session.exec(
        select(WalletClaim).where(WalletClaim.customer_id == customer.id, WalletClaim.digest == digest)
    ).first()
    if accepted is not None:
        operation = session.get(Operation, accepted.operation_id)
        assert operation is not None
        return ClaimOutcome(customer, operation, replayed=True)
    if customer.wallet is not None:
        raise Conflict(f"customer {request.customer_id!r} already claimed wallet {customer.wallet}", field="wallet")
    expected_nonce = next_nonce(session, customer)
    if request.nonce != expected_nonce:
        raise Unprocessable(f"the claim's nonce must be {expected_nonce} (used once)", field="nonce")
    if request.expiry <= int(now.timestamp()):
        raise Unprocessable("the signed claim has expired: sign a new one", field="expiry")
    if request.expiry > int((now + MAX_CLAIM_LIFETIME).timestamp()):
        raise Unprocessable("a claim may not be valid for more than an hour", field="expiry")
    if wallet.lower() == customer.address.lower():
        raise Unprocessable("the wallet must differ from the custodial address", field="wallet")
    taken = session.exec(
        select(Customer.id).where(or_(col(Customer.address) == wallet, col(Customer.wallet) == wallet))
    ).first()
    holder = session.get(MirrorAccount, wallet)
    if taken is not None or (holder is not None and (holder.balance or holder.debt)):
        raise Conflict(f"wallet {wallet} already belongs to a member or holds points", field="wallet")
    if has_in_flight(session, customer) or in_flight_transfers_in(session, customer.id):  # type: ignore[arg-type]
        raise Conflict("operations of this customer are on their way to the chain; retry shortly", field="customer_id")
    operation = enqueue(session, ClaimWallet(account=customer.address, wallet=wallet))
    assert customer.id is not None
    assert operation.id is not None
    session.add(
        WalletClaim(
            customer_id=customer.id,
            nonce=request.nonce,
            wallet=wallet,
            expiry=request.expiry,
            digest=digest,
            operation_id=operation.id,
            created_at=now,
        )
    )
    customer.wallet = wallet
    session.add(customer)
    return ClaimOutcome(customer, operation, replayed=False)
