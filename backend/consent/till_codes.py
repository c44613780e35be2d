"""One-time till codes: how a customer lets a till spend their points, once, while present.

The customer (with their token) asks for a code: 8 digits, valid for a couple of minutes, one live
code per customer (a new one voids the last). The till sends it with the redemption, or with a
purchase paid with points. The code is used in the same unit of work as what it authorises, so a
refused redemption leaves it unused; a retry of the same redemption with the same code is
recognised (``used_for``) and answered as the replay it is. A wrong code counts against the live
code, which is void after ``MAX_ATTEMPTS`` wrong guesses: guessing one of 10^8 codes within a
handful of tries and two minutes is hopeless.

Codes are stored as salted SHA-256 digests. (Ten to the eight codes can be enumerated offline by
anyone who reads the table, so the digest protects only against casual reading; the short life,
single use and the attempt limit are what protect the customer.)
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import datetime, timedelta

from sqlalchemy import update
from sqlmodel import Session, col, select

from backend.db.models import Customer, TillCode
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Forbidden

CODE_DIGITS = 8
MAX_ATTEMPTS = 5
FIELD = "customer_code"
RECENT = timedelta(hours=1)  # codes older than this are not even compared


class TillCodeRefused(Forbidden):
    """The till's code does not authorise this. ``wrong`` when it matched no code of the customer
    (a guess, which counts against their live code)."""

    code = "invalid_customer_code"

    def __init__(self, message: str, customer_pk: int | None, wrong: bool) -> None:
        super().__init__(message, field=FIELD)
        self.customer_pk = customer_pk
        self.wrong = wrong


def _hash(salt: str, code: str) -> str:
    return hashlib.sha256(f"{salt}:{code}".encode()).hexdigest()


def _live(session: Session, customer_pk: int, now: datetime, for_update: bool = False) -> list[TillCode]:
    query = select(TillCode).where(
        TillCode.customer_id == customer_pk,
        col(TillCode.used_at).is_(None),
        col(TillCode.expires_at) > now,
        col(TillCode.attempts) < MAX_ATTEMPTS,
    )
    return list(session.exec(query.with_for_update() if for_update else query).all())


def issue_code(
    session: Session, customer: Customer, token_id: str, lifetime: timedelta, now: datetime | None = None
) -> tuple[str, TillCode]:
    """A new code for the customer (shown once); any code still live is voided."""
    now = now or utcnow()
    assert customer.id is not None
    for previous in _live(session, customer.id, now, for_update=True):
        previous.expires_at = now
        session.add(previous)
    code = f"{secrets.randbelow(10**CODE_DIGITS):0{CODE_DIGITS}d}"
    salt = secrets.token_hex(16)
    record = TillCode(
        customer_id=customer.id,
        token_id=token_id,
        salt=salt,
        code_hash=_hash(salt, code),
        created_at=now,
        expires_at=now + lifetime,
    )
    session.add(record)
    session.flush()
    return code, record


def use_code(
    session: Session, customer: Customer | None, code: str, purpose: str, used_by: str, now: datetime | None = None
) -> None:
    """Use the customer's code for ``purpose`` (in the caller's unit of work), or refuse.

    A code already used for this very purpose is accepted again: that is a retry of the request
    it authorised, which the caller answers as a replay."""
    now = now or utcnow()
    if customer is None or customer.id is None:
        raise TillCodeRefused("this customer has no live code; ask them for a new one", None, wrong=False)
    recent = session.exec(
        select(TillCode)
        .where(TillCode.customer_id == customer.id, col(TillCode.created_at) > now - RECENT)
        .order_by(col(TillCode.id).desc())
        .limit(20)
        .with_for_update()
    ).all()
    match = next((c for c in recent if hmac.compare_digest(c.code_hash, _hash(c.salt, code))), None)
    if match is None:
        raise TillCodeRefused("wrong code: ask the customer for the code on their phone", customer.id, wrong=True)
    if match.used_at is not None:
        if match.used_for == purpose:
            return
        raise TillCodeRefused("this code was used already; ask the customer for a new one", customer.id, wrong=False)
    if match.attempts >= MAX_ATTEMPTS:
        raise TillCodeRefused("too many wrong codes: this code is void; ask for a new one", customer.id, wrong=False)
    if match.expires_at <= now:
        raise TillCodeRefused("this code has expired; ask the customer for a new one", customer.id, wrong=False)
    match.used_at = now
    match.used_for = purpose[:300]
    match.used_by = used_by[:32]
    session.add(match)


def count_wrong_code(session: Session, customer_pk: int, now: datetime | None = None) -> None:
    """A wrong code was presented for the customer: it counts against their live code. Runs in
    a unit of work of its own, after the refused request rolled back."""
    now = now or utcnow()
    table = table_of(TillCode)
    session.execute(
        update(table)
        .where(
            table.c.customer_id == customer_pk,
            table.c.used_at.is_(None),
            table.c.expires_at > now,
            table.c.attempts < MAX_ATTEMPTS,
        )
        .values(attempts=table.c.attempts + 1)
    )
