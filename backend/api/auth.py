"""API keys and customer tokens: random, shown once, stored as SHA-256 digests, each bound to a
role and scope. The principals they authenticate are what the policy layer (``policy.py``) decides on.

Keys and tokens are 32 random bytes, so a fast digest is safe (no password stretching needed)
and lets every request be checked in microseconds. Verified keys are cached for a few seconds
(customer tokens never beyond their expiry); revocation takes effect within that time, at once
in the process that revoked.

A lookup blocks on the database, so code on the event loop calls ``verify_async``: a fresh cached
verdict answers on the loop, a lookup runs on a worker thread. A lookup on the loop once stalled
the whole process: the loop waited for a pool connection that only the loop itself could release
(docs/performance.md, "The stall"). When a busy key's verdict expires, the requests that arrive
during its lookup wait for that one lookup instead of each taking a thread and a connection of
their own (single flight): at 1,000 requests a second from one till, that was a burst of lookups
every five seconds.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import secrets
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from functools import lru_cache

import anyio
import anyio.to_thread
from sqlalchemy import Engine
from sqlmodel import Session, select

from backend.consent.tokens import Scope, is_customer_token, lookup_token
from backend.db.models import ApiKey
from backend.db.types import utcnow

KEY_PREFIX = "cred_"
CACHE_SECONDS = 5.0


class Role(StrEnum):
    """The kinds of principal. The first four are API keys; a customer token is the fifth."""

    ADMIN = "admin"  # the program operator
    PROGRAM = "program"  # a retailer's own backend: issues customer tokens, reads members
    CHECKOUT = "checkout"  # a till or web shop of one store
    ORGANISATION = "organisation"  # a brand, manufacturer, distributor or retailer in provenance
    CUSTOMER = "customer"  # one customer, by a customer token (issued, or Sign-In with Ethereum)


KEY_ROLES = (Role.ADMIN, Role.PROGRAM, Role.CHECKOUT, Role.ORGANISATION)


@dataclass(frozen=True)
class Principal:
    """Who is calling, and what they are bound to."""

    key_id: str  # public id of the key or token (safe to log)
    role: Role
    store_id: str | None = None  # checkout keys
    org_id: str | None = None  # organisation keys
    retailer_id: str | None = None  # program keys
    customer_id: str | None = None  # customer tokens: the customer's external id
    scopes: frozenset[Scope] = frozenset()  # customer tokens
    expires_at: float | None = None  # customer tokens: Unix time


@lru_cache(maxsize=4096)
def digest(key: str) -> str:
    # Memoised: the rate limiter, the checkout and the verifier each need the digest of the same
    # key in one request, on the event loop. The secrets it holds are in this process anyway.
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
    retailer_id: str | None = None,
) -> tuple[str, ApiKey]:
    """Store a key (a given one, e.g. from CREDANCE_ADMIN_KEY, or a new one); return it once."""
    if role not in KEY_ROLES:
        raise ValueError(f"{role} is not an API key role")
    if role == Role.CHECKOUT and not store_id:
        raise ValueError("a checkout key is bound to a store")
    if role == Role.ORGANISATION and not org_id:
        raise ValueError("an organisation key is bound to an organisation")
    if role == Role.PROGRAM and not retailer_id:
        raise ValueError("a program key is bound to a retailer")
    key = key or new_key()
    record = ApiKey(
        key_id=key_id_of(key),
        key_hash=digest(key),
        role=role.value,
        store_id=store_id,
        org_id=org_id,
        retailer_id=retailer_id,
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
    """Checks bearer keys and customer tokens against the database, with a short cache."""

    def __init__(self, engine: Engine, limiter: anyio.CapacityLimiter | None = None) -> None:
        self.engine = engine
        self.limiter = limiter  # threads for look-ups (the process budget), AnyIO's default if None
        self._cache: dict[str, tuple[float, Principal | None]] = {}
        self._lock = threading.Lock()
        # Lookups under way on the event loop, by key digest (only touched on the loop).
        self._in_flight: dict[str, asyncio.Future[Principal | None]] = {}

    def verify(self, key: str) -> Principal | None:
        """The key's principal (None: invalid). May block on the database: never on the event loop."""
        fresh, principal = self.cached(key)
        if fresh:
            return principal
        return self._verify_uncached(key)

    async def verify_async(self, key: str) -> Principal | None:
        """``verify`` for the event loop: a fresh cached verdict at once, else a lookup on a thread."""
        fresh, principal = self.cached(key)
        if fresh:
            return principal
        key_hash = digest(key)
        loop = asyncio.get_running_loop()
        in_flight = self._in_flight.get(key_hash)
        if in_flight is not None and in_flight.get_loop() is loop:
            try:
                # shield: a waiter that is cancelled (its client left) must not cancel the lookup
                return await asyncio.shield(in_flight)
            except asyncio.CancelledError:
                this_request = asyncio.current_task()
                if not in_flight.cancelled() or (this_request is not None and this_request.cancelling()):
                    raise  # this request was cancelled (too), not only the lookup
            # the lookup's own request was cancelled before it answered: look up for this one
            return await self.verify_async(key)
        lookup = loop.create_future()
        self._in_flight[key_hash] = lookup
        try:
            principal = await anyio.to_thread.run_sync(self._verify_uncached, key, limiter=self.limiter)
        except Exception as exc:  # the waiters fail as this request does (the database is down)
            lookup.set_exception(exc)
            lookup.exception()  # retrieved: no "never retrieved" warning when nobody waited
            raise
        except BaseException:
            lookup.cancel()
            raise
        else:
            lookup.set_result(principal)
            return principal
        finally:
            if self._in_flight.get(key_hash) is lookup:
                del self._in_flight[key_hash]

    def cached(self, key: str) -> tuple[bool, Principal | None]:
        """(whether a verdict younger than the cache time is known, that verdict). No database."""
        cached = self._cache.get(digest(key))  # a dict read is atomic: no lock needed to read
        if cached is not None and cached[0] > time.monotonic():
            return True, _unexpired(cached[1])
        return False, None

    def _verify_uncached(self, key: str) -> Principal | None:
        key_hash = digest(key)
        now = time.monotonic()
        principal = self._lookup(key, key_hash)
        until = now + CACHE_SECONDS
        if principal is not None and principal.expires_at is not None:  # never cached past its expiry
            until = min(until, now + max(0.0, principal.expires_at - time.time()))
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[key_hash] = (until, principal)
        return principal

    def forget(self, key_ids: set[str]) -> None:
        """Drop cached verdicts of these keys or tokens (revoked in this process: void at once here)."""
        with self._lock:
            for key_hash in [h for h, (_, p) in self._cache.items() if p is not None and p.key_id in key_ids]:
                del self._cache[key_hash]

    def last_verdict(self, key: str) -> Principal | None:
        """The principal of the last check of this key, even if stale; None if invalid or never
        checked. Never touches the database (the rate limiter asks on the event loop)."""
        cached = self._cache.get(digest(key))
        return _unexpired(cached[1]) if cached is not None else None

    def _lookup(self, key: str, key_hash: str) -> Principal | None:
        if is_customer_token(key):
            return self._customer(key)
        with Session(self.engine) as session:
            record = session.exec(select(ApiKey).where(ApiKey.key_id == key_id_of(key))).first()
        if record is None or record.revoked_at is not None:
            return None
        if not hmac.compare_digest(record.key_hash, key_hash):
            return None
        return Principal(record.key_id, Role(record.role), record.store_id, record.org_id, record.retailer_id)

    def _customer(self, token: str) -> Principal | None:
        with Session(self.engine) as session:
            grant = lookup_token(session, token)
        if grant is None:
            return None
        return Principal(
            grant.token_id,
            Role.CUSTOMER,
            customer_id=grant.customer_id,
            scopes=grant.scopes,
            expires_at=grant.expires_at.timestamp(),
        )


def _unexpired(principal: Principal | None) -> Principal | None:
    if principal is not None and principal.expires_at is not None and principal.expires_at <= time.time():
        return None
    return principal
