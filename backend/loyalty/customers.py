"""Enrolment: every customer gets a random pseudonymous address; personal data stays in SQL."""

from __future__ import annotations

import secrets

from eth_account import Account
from eth_account.messages import encode_defunct
from eth_utils import to_checksum_address
from sqlalchemy import or_
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.db.models import Customer, CustomerProfile, MirrorAccount, Operation
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty.outbox import has_in_flight, in_flight_transfers_in, queue


def new_custodial_address() -> str:
    """A fresh address nobody holds a key for: the platform operates it as custodian."""
    return to_checksum_address("0x" + secrets.token_hex(20))


def find_customer(session: Session, external_id: str) -> Customer | None:
    return session.exec(select(Customer).where(Customer.external_id == external_id)).first()


def get_customer(session: Session, external_id: str) -> Customer:
    customer = find_customer(session, external_id)
    if customer is None:
        raise NotFound(f"customer {external_id!r} is not enrolled", field="customer_id")
    return customer


def enrol(
    session: Session,
    external_id: str,
    name: str | None = None,
    email: str | None = None,
    phone: str | None = None,
) -> tuple[Customer, bool]:
    """Return the customer, enrolling them if needed; the flag says whether they are new."""
    existing = find_customer(session, external_id)
    if existing is not None:
        return existing, False
    customer = Customer(external_id=external_id, address=new_custodial_address())
    try:
        with session.begin_nested():
            session.add(customer)
            session.flush()
    except IntegrityError:  # enrolled concurrently by another request
        existing = find_customer(session, external_id)
        assert existing is not None
        return existing, False
    if any(v is not None for v in (name, email, phone)):
        session.add(CustomerProfile(customer_id=customer.id, name=name, email=email, phone=phone))  # type: ignore[arg-type]
    return customer, True


# -- wallets and personal data --------------------------------------------------------------


def claim_message(custodial: str, wallet: str) -> str:
    """What the customer signs (EIP-191 personal message) with the wallet they claim."""
    return f"Credance: move my points from {custodial} to my wallet {wallet}"


def _signed_by(message: str, signature: str, wallet: str) -> bool:
    try:
        signer = Account.recover_message(encode_defunct(text=message), signature=signature)
    except Exception:  # malformed signature bytes
        return False
    return bool(signer.lower() == wallet.lower())


def claim_wallet(session: Session, external_id: str, wallet: str, signature: str) -> tuple[Customer, Operation]:
    """Move a custodial member to their own wallet (``claimWallet`` on chain), proven by their signature."""
    customer = get_customer(session, external_id)
    session.exec(select(Customer.id).where(Customer.id == customer.id).with_for_update()).first()
    session.refresh(customer)  # as the lock found it
    wallet = to_checksum_address(wallet)
    if customer.wallet is not None:
        previous = session.exec(
            select(Operation).where(Operation.kind == "claim", Operation.account == customer.address)
        ).first()
        if customer.wallet == wallet and previous is not None:
            return customer, previous  # a replay of the claim
        raise Conflict(f"customer {external_id!r} already claimed wallet {customer.wallet}", field="wallet")
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
    if not _signed_by(claim_message(customer.address, wallet), signature, wallet):
        raise Unprocessable("the signature is not the wallet's signature of the claim message", field="signature")
    operation = queue(session, "claim", customer.address, payload={"wallet": wallet})
    customer.wallet = wallet
    session.add(customer)
    return customer, operation


def erase_personal_data(session: Session, external_id: str) -> Customer:
    """Delete name, e-mail and phone; the pseudonymous address and its ledger stay."""
    customer = get_customer(session, external_id)
    profile = session.get(CustomerProfile, customer.id)
    if profile is not None:
        session.delete(profile)
    if customer.erased_at is None:
        customer.erased_at = utcnow()
        session.add(customer)
    return customer


def profile_of(session: Session, customer: Customer) -> CustomerProfile | None:
    return session.get(CustomerProfile, customer.id)
