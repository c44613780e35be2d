"""Enrolment: every customer gets a random pseudonymous address; personal data stays in SQL."""

from __future__ import annotations

import secrets

from eth_hash.auto import keccak
from eth_utils import to_checksum_address
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db.models import Customer, CustomerPrediction, CustomerProfile, CustomerSegment
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import NotFound


def new_custodial_address() -> str:
    """A fresh address nobody holds a key for: the platform operates it as custodian."""
    return to_checksum_address("0x" + secrets.token_hex(20))


# EIP-55 by table: a letter is upper case where its nibble of the address's keccak is 8 or more.
_HIGH_NIBBLE_UP = bytes(0x20 if b >= 0x80 else 0 for b in range(256))
_LOW_NIBBLE_UP = bytes(0x20 if b & 0x0F >= 8 else 0 for b in range(256))
_CASE_BITS = int.from_bytes(b"\x20" * 40, "big")  # 0x20 of each of 40 hex digits


def new_custodial_addresses(count: int) -> list[str]:
    """``count`` fresh custodial addresses, as ``new_custodial_address`` gives them, ~3x faster
    (bulk enrolment of imported history): the EIP-55 case is applied with byte operations instead
    of ``to_checksum_address``'s checks and loop per character."""
    addresses = []
    randomness = secrets.token_bytes(20 * count)  # one system call, not one per address
    for start in range(0, 20 * count, 20):
        hex_address = randomness[start : start + 20].hex().encode()
        digest = keccak(hex_address)[:20]
        flips = bytearray(40)
        flips[0::2] = digest.translate(_HIGH_NIBBLE_UP)
        flips[1::2] = digest.translate(_LOW_NIBBLE_UP)
        digits = int.from_bytes(hex_address, "big")
        letters = digits >> 1 & _CASE_BITS  # a-f have the bit 0x40, 0-9 do not
        cased = digits ^ (int.from_bytes(flips, "big") & letters)
        addresses.append("0x" + cased.to_bytes(40, "big").decode())
    return addresses


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


# -- personal data ------------------------------------------------------------------------


def erase_personal_data(session: Session, external_id: str) -> Customer:
    """Delete name, e-mail and phone, and the profile prediction runs drew of the member (their
    predictions and ``predicted:`` segments; later runs leave erased members out); the
    pseudonymous address and its ledger stay."""
    customer = get_customer(session, external_id)
    profile = session.get(CustomerProfile, customer.id)
    if profile is not None:
        session.delete(profile)
    predictions, segments = table_of(CustomerPrediction), table_of(CustomerSegment)
    session.execute(predictions.delete().where(predictions.c.customer_id == customer.id))
    session.execute(
        segments.delete().where(segments.c.customer_id == customer.id, segments.c.segment.startswith("predicted:"))
    )
    if customer.erased_at is None:
        customer.erased_at = utcnow()
        session.add(customer)
    return customer


def profile_of(session: Session, customer: Customer) -> CustomerProfile | None:
    return session.get(CustomerProfile, customer.id)
