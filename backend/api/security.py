"""Request guards in front of every route: body size limits, per-key rate limits, CORS, and the
security headers of every answer (``backend/api/headers.py``).

One pure ASGI middleware (no per-request task or copy, so the checkout path keeps its speed):

* **Size.** A body over the route's limit is refused with a JSON 413 before anything parses it:
  by ``Content-Length`` when given, by counting otherwise. Bulk routes (item registration with up
  to 100,000 serials, recalls, EPCIS documents) have their own, larger limit.
* **Rate.** A token bucket per API key (checkout keys get a generous rate of their own) and one per
  client address for requests without a valid key (public pages, and guessing keys). Over the
  rate: a JSON 429 with ``Retry-After``. Buckets live in this process: with several workers the
  limit applies per worker.
* **Depth.** A body whose arrays and objects nest deeper than ``CREDANCE_MAX_JSON_DEPTH`` (64) is a
  422 naming the limit, measured on the raw bytes before anything parses or walks it: every JSON
  parser, validator and walker after this point recurses, and hostile nesting overflowed them.
* **NUL.** A NUL character in the path, a query parameter or any string of a JSON body is a 422
  naming where it is, before any route sees it: PostgreSQL cannot store it, SQLite can, so it
  would otherwise be a 500 on one database and stored on the other.
* **CORS.** Denied by default. Origins listed in ``CREDANCE_CORS_ORIGINS`` may call the API from
  a browser (with an ``Authorization`` header); the public verification pages may be read from
  any origin, without credentials.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from collections.abc import Awaitable, Callable, MutableMapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl

import orjson
from fastapi import Request

from backend.api.auth import KeyVerifier, Role
from backend.api.headers import with_security_headers
from backend.api.request_headers import header
from backend.api.route_facts import RouteFacts, RouteTable
from backend.bounds import json_depth_exceeds
from backend.errors import Unprocessable
from backend.settings import Settings

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

CORS_METHODS = "GET, POST, PUT, DELETE, OPTIONS"
CORS_HEADERS = "Authorization, Content-Type, Accept"
MAX_BUCKETS = 50_000


async def single_valued_query(request: Request) -> None:
    """A query parameter declared as one value and sent several times is refused (422), not
    silently read as one of them. An app-wide dependency (async: no thread hop on the checkout
    path); what each route declares is read from the app's OpenAPI description (public API, built
    once), not from FastAPI's internals."""
    query = request.query_params
    if len(query) == len(query.multi_items()):
        return  # nothing repeated: the common case costs one comparison
    route = request.scope.get("route")
    path = getattr(route, "path_format", None)
    if path is None:
        return
    single = _single_valued_queries(request.app).get((path, request.method.lower()), frozenset())
    counts = Counter(key for key, _ in query.multi_items())
    for name, count in counts.items():
        if count > 1 and name in single:
            raise Unprocessable(f"{name!r} takes one value; it was given {count} times", field=name)


def _single_valued_queries(app: Any) -> dict[tuple[str, str], frozenset[str]]:
    """(path, method) -> the query parameters the operation declares as one value (not an array)."""
    cached: dict[tuple[str, str], frozenset[str]] | None = getattr(app.state, "single_valued_queries", None)
    if cached is None:
        cached = {}
        for path, operations in app.openapi().get("paths", {}).items():
            for method, operation in operations.items():
                parameters = operation.get("parameters", []) if isinstance(operation, dict) else []
                cached[(path, method)] = frozenset(
                    p["name"] for p in parameters if p.get("in") == "query" and not _is_array(p.get("schema", {}))
                )
        app.state.single_valued_queries = cached
    return cached


def _is_array(schema: dict[str, Any]) -> bool:
    if schema.get("type") == "array":
        return True
    return any(_is_array(option) for option in schema.get("anyOf", []) + schema.get("oneOf", []))


class TokenBucket:
    """``rate`` tokens per second, holding at most ``capacity``."""

    __slots__ = ("capacity", "rate", "stamp", "tokens")

    def __init__(self, rate: float, capacity: float, now: float) -> None:
        self.rate = rate
        self.capacity = capacity
        self.tokens = capacity
        self.stamp = now

    def take(self, now: float) -> float:
        """Take a token; return 0 if granted, else the seconds until one is available."""
        self.tokens = min(self.capacity, self.tokens + (now - self.stamp) * self.rate)
        self.stamp = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    """Token buckets by name. Used from the event loop only, so no lock is needed."""

    def __init__(self, burst_seconds: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.burst_seconds = burst_seconds
        self.clock = clock
        self._buckets: dict[str, TokenBucket] = {}

    def check(self, name: str, rate: float) -> float:
        """0 when allowed (or unlimited: ``rate <= 0``), else the wait in seconds."""
        if rate <= 0:
            return 0.0
        now = self.clock()
        bucket = self._buckets.get(name)
        if bucket is None:
            if len(self._buckets) >= MAX_BUCKETS:  # many one-off clients: start over, never grow unbounded
                self._buckets.clear()
            bucket = self._buckets[name] = TokenBucket(rate, max(1.0, rate * self.burst_seconds), now)
        return bucket.take(now)


@dataclass(frozen=True)
class SecurityPolicy:
    max_body_bytes: int
    max_bulk_body_bytes: int
    checkout_rate: float
    key_rate: float
    anonymous_rate: float
    burst_seconds: float
    cors_origins: frozenset[str]
    max_json_depth: int = 64

    @classmethod
    def from_settings(cls, settings: Settings) -> SecurityPolicy:
        origins = frozenset(o.strip().rstrip("/") for o in settings.cors_origins.split(",") if o.strip())
        return cls(
            max_body_bytes=settings.max_body_bytes,
            max_bulk_body_bytes=settings.max_bulk_body_bytes,
            checkout_rate=settings.rate_limit_checkout,
            key_rate=settings.rate_limit_key,
            anonymous_rate=settings.rate_limit_anonymous,
            burst_seconds=settings.rate_limit_burst_seconds,
            cors_origins=origins,
            max_json_depth=settings.max_json_depth,
        )

    def body_limit(self, facts: RouteFacts) -> int:
        return self.max_bulk_body_bytes if facts.bulk else self.max_body_bytes


Headers = list[tuple[bytes, bytes]]
Refusal = tuple[int, bytes, Headers]  # status, JSON body, headers: an answer given before any route runs


def _error(status: int, code: str, message: str, field: str, headers: Headers | None = None) -> Refusal:
    body = orjson.dumps({"error": {"code": code, "message": message, "field": field}})
    return (
        status,
        body,
        [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode()), *(headers or [])],
    )


async def respond(send: Send, status: int, body: bytes, headers: list[tuple[bytes, bytes]]) -> None:
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def read_body(receive: Receive, limit: int | None = None) -> bytes | None:
    """The whole request body, or None once it passes ``limit`` bytes (the rest is not read)."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunk = message.get("body", b"")
        size += len(chunk)
        if limit is not None and size > limit:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def replaying(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives the application ``body`` (already read), then the client's next
    messages (a disconnect)."""
    given = False

    async def replay() -> Message:
        nonlocal given
        if given:
            return await receive()
        given = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replay


def _bearer(scope: Scope) -> str | None:
    value = header(scope, b"authorization")
    if value is None:
        return None
    scheme, _, token = value.partition(" ")
    return token.strip() if scheme.lower() == "bearer" and token.strip() else None


def _nul_in_url(scope: Scope) -> Refusal | None:
    """A NUL character in the path or a query parameter: refused before any route sees it
    (PostgreSQL cannot compare or store NUL in text or JSON; SQLite can, so it would differ by
    database). The same holds for bodies: ``_nul_in_body``."""
    if "\x00" in scope["path"]:
        return _error(422, "invalid", "the path must not contain NUL characters", "path")
    query: bytes = scope.get("query_string", b"")
    if b"\x00" in query or b"%00" in query:  # "%00" has no letters: no case to fold
        for name, value in parse_qsl(query.decode("latin-1"), keep_blank_values=True):
            if "\x00" in name or "\x00" in value:
                where = repr(name) if name else "the query string"
                return _error(422, "invalid", f"{where} must not contain NUL characters", name or "query")
    return None


def _nul_path(value: Any, path: str = "") -> str | None:
    """Where the first NUL character of a parsed JSON value is (``lines[0].sku``), if any."""
    if isinstance(value, str):
        return path if "\x00" in value else None
    if isinstance(value, dict):
        for key, item in value.items():
            where = f"{path}.{key}" if path else str(key)
            if "\x00" in key:
                return where
            found = _nul_path(item, where)
            if found is not None:
                return found
    elif isinstance(value, list):
        for index, item in enumerate(value):
            found = _nul_path(item, f"{path}[{index}]")
            if found is not None:
                return found
    return None


def _nul_in_body(body: bytes) -> Refusal | None:
    """A NUL character in any string of a JSON body, refused naming the field. JSON can only
    carry it escaped, so the common case costs one scan of the bytes; the document is parsed only
    when the escape is there (it may be an escaped backslash followed by "u0000": then nothing)."""
    if b"\\u0000" not in body:
        return None
    try:
        document = orjson.loads(body)
    except orjson.JSONDecodeError:
        return None  # not JSON: the route answers that
    where = _nul_path(document)
    if where is None:
        return None
    named = repr(where) if where else "the body"
    return _error(422, "invalid", f"{named} must not contain NUL characters", where or "body")


def _too_deep(body: bytes, limit: int) -> Refusal | None:
    if not json_depth_exceeds(body, limit):
        return None
    return _error(422, "too_deep", f"the body nests arrays and objects deeper than {limit} levels (the limit)", "body")


class SecurityMiddleware:
    def __init__(
        self,
        app: ASGIApp,
        policy: SecurityPolicy,
        verifier: KeyVerifier,
        routes: RouteTable,
        limiter: RateLimiter | None = None,
    ) -> None:
        self.app = app
        self.policy = policy
        self.verifier = verifier
        self.routes = routes
        self.limiter = limiter or RateLimiter(policy.burst_seconds)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        send = with_security_headers(send)  # nosniff on every answer; CSP, frames, referrer on pages
        path: str = scope["path"]
        origin = header(scope, b"origin")
        if origin is not None:  # only a browser's cross-origin call asks: a till never does
            public = self.routes.is_public(path)
            if scope["method"] == "OPTIONS" and header(scope, b"access-control-request-method"):
                await self._preflight(send, origin, public)
                return
            send = self._with_cors(send, origin, public)

        limit = self.policy.body_limit(self.routes.of_request(scope))
        refused = self._rate_limited(scope) or self._too_large(scope, limit) or _nul_in_url(scope)
        if refused is None and self._bulk_body(scope, limit):
            refused = await self._unauthenticated(scope)
        if refused is not None:
            await respond(send, *refused)
            return
        if scope["method"] in ("POST", "PUT", "PATCH"):
            read = await self._buffered(receive, limit, send)
            if read is None:
                return
            body, receive = read
            refused = _too_deep(body, self.policy.max_json_depth) or _nul_in_body(body)
            if refused is not None:
                await respond(send, *refused)
                return
        await self.app(scope, receive, send)

    # --- size -----------------------------------------------------------------------------

    def _too_large(self, scope: Scope, limit: int) -> Refusal | None:
        declared = header(scope, b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            return _error(413, "payload_too_large", f"the body is over {limit} bytes", "body")
        return None

    def _bulk_body(self, scope: Scope, limit: int) -> bool:
        """A body that may be bigger than ordinary ones (a bulk route, over or without a length)."""
        if scope["method"] not in ("POST", "PUT", "PATCH") or limit <= self.policy.max_body_bytes:
            return False
        declared = header(scope, b"content-length")
        return declared is None or not declared.isdigit() or int(declared) > self.policy.max_body_bytes

    async def _unauthenticated(self, scope: Scope) -> Refusal | None:
        """Bulk bodies are read only for a valid key: nobody else makes us parse megabytes."""
        token = _bearer(scope)
        principal = self.verifier.last_verdict(token) if token else None
        if principal is None and token:
            principal = await self.verifier.verify_async(token)
        if principal is not None:
            return None
        return _error(401, "unauthorized", "a valid API key is needed to send a body this large", "Authorization")

    async def _buffered(self, receive: Receive, limit: int, send: Send) -> tuple[bytes, Receive] | None:
        """Read the body (refused once it passes the limit, also when sent without Content-Length);
        the body and a ``receive`` that gives it again to the application."""
        body = await read_body(receive, limit)
        if body is None:
            await respond(send, *_error(413, "payload_too_large", f"the body is over {limit} bytes", "body"))
            return None
        return body, replaying(body, receive)

    # --- rate -----------------------------------------------------------------------------

    def _rate_limited(self, scope: Scope) -> Refusal | None:
        token = _bearer(scope)
        # The verifier's last verdict, even if stale: the route's dependency does the real check.
        # Unknown and invalid keys count against the client's address, so guessing keys is slow.
        principal = self.verifier.last_verdict(token) if token else None
        if principal is not None:
            rate = self.policy.checkout_rate if principal.role == Role.CHECKOUT else self.policy.key_rate
            wait = self.limiter.check(f"key:{principal.key_id}", rate)
        else:
            client = scope.get("client")
            wait = self.limiter.check(f"ip:{client[0] if client else '?'}", self.policy.anonymous_rate)
        if wait <= 0:
            return None
        retry = str(max(1, math.ceil(wait))).encode()
        return _error(429, "rate_limited", "too many requests; retry later", "Authorization", [(b"retry-after", retry)])

    # --- CORS -----------------------------------------------------------------------------

    def _allowed(self, origin: str, public: bool) -> bool:
        return public or origin.rstrip("/") in self.policy.cors_origins

    def _cors_headers(self, origin: str, public: bool) -> list[tuple[bytes, bytes]]:
        if public:
            return [(b"access-control-allow-origin", b"*")]
        return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]

    async def _preflight(self, send: Send, origin: str, public: bool) -> None:
        if not self._allowed(origin, public):
            await respond(send, *_error(403, "cors_denied", f"origin {origin!r} may not call this API", "Origin"))
            return
        headers = [
            *self._cors_headers(origin, public),
            (b"access-control-allow-methods", b"GET, OPTIONS" if public else CORS_METHODS.encode()),
            (b"access-control-allow-headers", b"Accept" if public else CORS_HEADERS.encode()),
            (b"access-control-max-age", b"600"),
            (b"content-length", b"0"),
        ]
        await respond(send, 204, b"", headers)

    def _with_cors(self, send: Send, origin: str, public: bool) -> Send:
        if not self._allowed(origin, public):
            return send
        extra = self._cors_headers(origin, public)

        async def send_with_cors(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *extra]
            await send(message)

        return send_with_cors
