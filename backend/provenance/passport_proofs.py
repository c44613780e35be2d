"""Proof of holding a passport by a wallet signature (EIP-191, ``personal_sign``).

Whoever scans an item and holds its passport in their own wallet proves it without an account:
they ask the server for a challenge for that passport, sign its message with the wallet, and send
the signature back. The challenge is for one passport, lives ``CHALLENGE_SECONDS`` and is spent by
its first answer (right or wrong): a signature seen once (a screenshot, a proxy's log) proves
nothing again, and one made for another item proves nothing here. The address recovered from the
signature must be the passport's holder now (the mirror), so a former owner's wallet proves
nothing after a resale. A valid signature by a wallet that does not hold the passport is kept
(``signer``, ``proved``): someone who believes they own the item and cannot prove it is what a
second physical item claiming the same passport looks like (a soft clone signal, scans.py).
A passport in custody (a member's custodial address, whose key nobody holds) is proven by the
member's session or customer token instead.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from eth_account import Account
from eth_account.messages import encode_defunct
from sqlalchemy import delete
from sqlmodel import Session, col

from backend.db.models import PassportChallenge
from backend.db.types import utcnow
from backend.errors import NotFound
from backend.provenance.passports import ownership

KEEP_ANSWERED_DAYS = 7  # longer than any clone window worth setting (clone_window_hours)
CHALLENGE_SECONDS = 300  # long enough to open a wallet and sign, short enough that a leak soon expires


@dataclass(frozen=True)
class Challenge:
    nonce: str
    token_id: str
    message: str
    expires_at: datetime


@dataclass(frozen=True)
class WalletProof:
    """The answer to a signed challenge: whether it proves holding, and why not when it does not."""

    proves_ownership: bool
    reason: str | None = None


def challenge_message(token_id: str, nonce: str, expires_at: datetime) -> str:
    """The text the wallet signs: names the passport and the challenge, readable by its holder."""
    return (
        f"Credance: I hold item passport {token_id}.\n"
        f"Challenge: {nonce}\n"
        f"Valid until: {expires_at.strftime('%Y-%m-%dT%H:%M:%SZ')}"
    )


def issue_challenge(session: Session, token_id: str, now: datetime | None = None) -> Challenge:
    """A fresh challenge for an issued passport (expired ones are cleared on the way)."""
    now = now or utcnow()
    token_id = token_id.lower()
    if ownership(session, token_id) is None:
        raise NotFound("no passport issued with this id", field="token_id")
    # Old challenges go; answered ones are kept a while: the clone signal reads them (scans.py).
    session.execute(
        delete(PassportChallenge).where(col(PassportChallenge.expires_at) < now - timedelta(days=KEEP_ANSWERED_DAYS))
    )
    nonce = secrets.token_hex(16)
    expires_at = (now + timedelta(seconds=CHALLENGE_SECONDS)).replace(microsecond=0)
    session.add(PassportChallenge(nonce=nonce, token_id=token_id, expires_at=expires_at))
    session.flush()
    return Challenge(nonce, token_id, challenge_message(token_id, nonce, expires_at), expires_at)


def _signer(message: str, signature: str) -> str | None:
    try:
        return str(Account.recover_message(encode_defunct(text=message), signature=signature))
    except Exception:  # any malformed signature (length, v, s) is simply no proof
        return None


def prove_with_wallet(
    session: Session, token_id: str, nonce: str, signature: str, now: datetime | None = None
) -> WalletProof:
    """Spend the challenge ``nonce`` and say whether ``signature`` over it proves holding ``token_id``."""
    now = now or utcnow()
    token_id = token_id.lower()
    owner = ownership(session, token_id)
    if owner is None:
        raise NotFound("no passport issued with this id", field="token_id")
    challenge = session.get(PassportChallenge, nonce, with_for_update=True)
    if challenge is None or challenge.token_id != token_id:
        return WalletProof(False, "unknown challenge, or one given for another passport")
    if challenge.used_at is not None:
        return WalletProof(False, "challenge already used: ask for a new one")
    challenge.used_at = now
    session.add(challenge)
    if challenge.expires_at < now:
        return WalletProof(False, "challenge expired: ask for a new one")
    signer = _signer(challenge_message(token_id, nonce, challenge.expires_at), signature)
    if signer is None:
        return WalletProof(False, "not a valid signature of the challenge")
    challenge.signer, challenge.proved = signer, signer.lower() == owner.holder.lower()
    if not challenge.proved:
        return WalletProof(False, "the signing wallet does not hold this passport")
    return WalletProof(True)
