"""Tickets: a copy of a collectible edition shown at a door as a short-lived signed QR code.

The member's page (or app) asks for a ticket of an edition they hold; the platform signs
``{holder, edition, nonce}`` with a key of its own (``itsdangerous``, HMAC-SHA256, keyed by the
``ticket`` audience of the reference secret: nobody outside can make one) and a timestamp. The
door (a store's checkout key, the organiser's organisation key or an admin) sends the code back:
the platform checks the signature and its age, that the holder still holds a copy on the mirror
(a copy sold since no longer enters), and records the nonce, once, ever (a replayed code is
refused). The code names an address and an edition, never a person.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, SignatureExpired, URLSafeTimedSerializer
from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, select

from backend.db.models import Customer, Reward, TicketCheck
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.loyalty.collectibles import addresses_of, copies_held
from backend.loyalty.refs import Audience, references

TICKET_LIFETIME_SECONDS = 120  # long enough to walk to the door, too short to pass a screenshot around
_SALT = "credance/ticket/v1"


def _serializer() -> URLSafeTimedSerializer:
    key = references().reference(Audience.TICKET, "ticket-signing-key")
    return URLSafeTimedSerializer(key, salt=_SALT)


def collectible_reward(session: Session, edition: int) -> Reward:
    reward = session.exec(select(Reward).where(Reward.edition == edition)).first()
    if reward is None:
        raise NotFound(f"edition {edition} is not a collectible reward", field="edition")
    return reward


@dataclass(frozen=True)
class Ticket:
    code: str
    holder: str
    edition: int
    expires_in: int


def issue_ticket(session: Session, customer: Customer, edition: int) -> Ticket:
    """A signed code for a copy of ``edition`` the member holds (at their custodial address or wallet)."""
    collectible_reward(session, edition)
    holder = next((a for a in addresses_of(customer) if copies_held(session, a, edition) > 0), None)
    if holder is None:
        raise Conflict(f"the member holds no copy of edition {edition}", field="edition")
    payload = {"h": holder, "e": edition, "n": secrets.token_hex(16)}
    return Ticket(str(_serializer().dumps(payload)), holder, edition, TICKET_LIFETIME_SECONDS)


@dataclass(frozen=True)
class Door:
    """Who checks: the key's id, and the organisation of an organisation key (None otherwise)."""

    key_id: str
    organisation: str | None


def check_ticket(session: Session, code: str, door: Door) -> TicketCheck:
    """Admit the holder of a ticket once: a valid signature, fresh, still held, never used."""
    payload = _payload(code)
    reward = collectible_reward(session, payload["e"])
    if door.organisation is not None and door.organisation != reward.organiser:
        raise Forbidden(f"edition {payload['e']} is not an edition of this organisation", field="edition")
    if copies_held(session, payload["h"], payload["e"]) <= 0:
        raise Conflict("the ticket's holder no longer holds a copy of its edition", field="ticket")
    check = TicketCheck(nonce=payload["n"], edition=payload["e"], holder=payload["h"], checked_by=door.key_id)
    try:
        with session.begin_nested():
            session.add(check)
    except IntegrityError:
        raise Conflict("this ticket was used already", field="ticket") from None
    return check


def _payload(code: str) -> dict[str, Any]:
    try:
        payload = _serializer().loads(code, max_age=TICKET_LIFETIME_SECONDS)
    except SignatureExpired:
        raise Unprocessable("the ticket has expired: ask the member to show it again", field="ticket") from None
    except BadSignature:
        raise Unprocessable("the ticket is not one of ours", field="ticket") from None
    if not (
        isinstance(payload, dict)
        and isinstance(payload.get("h"), str)
        and isinstance(payload.get("e"), int)
        and isinstance(payload.get("n"), str)
    ):
        raise Unprocessable("the ticket is not one of ours", field="ticket")
    return payload
