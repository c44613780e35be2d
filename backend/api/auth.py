"""API keys: random, shown once, stored as SHA-256 digests, each bound to a role and scope.

Keys are 32 random bytes, so a fast digest is safe (no password stretching needed) and lets
every request be checked in microseconds. Verified keys are cached for a few seconds;
revocation takes effect within that time.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Engine
from sqlmodel import Session, select

from backend.db.models import ApiKey
from backend.db.types import utcnow

KEY_PREFIX = "cred_"
CACHE_SECONDS = 5.0


class Role(StrEnum):
    ADMIN = "admin"
    CHECKOUT = "checkout"
    ORGANISATION = "organisation"


@dataclass(frozen=True)
class Principal:
    key_id: str
    role: Role
    store_id: str | None = None
    org_id: str | None = None


def digest(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def key_id_of(key: str) -> str:
    return key[: len(KEY_PREFIX) + 8]


def new_key() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def create_api_key(
    session: Session,
    role: Role,
    store_id: str | None = None,
    org_id: str | None = None,
    label: str = "",
    key: str | None = None,
) -> tuple[str, ApiKey]:
    """Store a key (a given one, e.g. from CREDANCE_ADMIN_KEY, or a new one); return it once."""
    if role == Role.CHECKOUT and not store_id:
        raise ValueError("a checkout key is bound to a store")
    if role == Role.ORGANISATION and not org_id:
        raise ValueError("an organisation key is bound to an organisation")
    key = key or new_key()
    record = ApiKey(
        key_id=key_id_of(key),
        key_hash=digest(key),
        role=role.value,
        store_id=store_id,
        org_id=org_id,
        label=label,
    )
    session.add(record)
    return key, record


def revoke_api_key(session: Session, key_id: str) -> bool:
    record = session.exec(select(ApiKey).where(ApiKey.key_id == key_id)).first()
    if record is None or record.revoked_at is not None:
        return False
    record.revoked_at = utcnow()
    session.add(record)
    return True


class KeyVerifier:
    """Checks bearer keys against the database, with a short cache."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()

    def verify(self, key: str) -> Principal | None:
        key_hash = digest(key)
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(key_hash)
        if cached is not None and cached[0] > now:
            return cached[1]
        principal = self._lookup(key, key_hash)
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (now + CACHE_SECONDS, principal)
        return principal

    def last_verdict(self, key: str) -> Principal | None:
        """The principal of the last check of this key, even if stale; None if invalid or never
        checked. Never touches the database (the rate limiter asks on the event loop)."""
        cached = self._cache.get(digest(key))
        return cached[1] if cached is not None else None

    def _lookup(self, key: str, key_hash: str) -> Principal | None:
        with Session(self.engine) as session:
            record = session.exec(select(ApiKey).where(ApiKey.key_id == key_id_of(key))).first()
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.key_hash, key_hash):
            return None
        return Principal(record.key_id, Role(record.role), record.store_id, record.org_id)
