"""The public verification link's fast path: ``GET /01/{gtin}/21/{serial}`` answered without the
framework's per-request machinery, as ``CheckoutFastPath`` does for purchases.

A scanned QR code is the common case: no key, a few query parameters at most. This ASGI
middleware answers it exactly as the route in ``routers/verification.py`` does (the same
``VerificationAnswers``, the same scan record, the same representation, ETag and headers).
Anything else is handed to the application untouched, so every refusal comes from the one place
that defines it: an ``Authorization`` header (an organisation's scan, or a key to check), a
repeated or malformed parameter, a location out of range, a malformed GTIN or serial.

It sits inside ``SecurityMiddleware``: rate limits (per client network for anonymous callers),
NUL checks, CORS and the security headers apply first. Admission (admission.py) lets the requests
``takes`` names in through the fast path's own gate: such an answer holds no thread and no
connection while it waits for its scan's batch. It takes a slot of the public class (threads and
connections) only for what holds one: building a cold cache entry, or handing the request to the
route.
"""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple
from urllib.parse import parse_qsl

from backend.api.admission import ADMITTED_BY, Gate, Gates, Overloaded
from backend.api.answers import Answer, VerificationAnswers, matches
from backend.api.checkout import RouteLabel
from backend.api.request_headers import request_headers
from backend.api.security import ASGIApp, Receive, Scope, Send, respond
from backend.errors import DomainError
from backend.indexer.confirmed import View
from backend.provenance.answers import ScanRecord
from backend.provenance.scan_clients import client_id, client_key
from backend.provenance.scans import CoarseLocation

PATH = re.compile(r"^/01/([^/]+)/21/([^/]+)$")
ROUTE = RouteLabel("/01/{gtin}/21/{serial}")
_NUMBER = re.compile(r"^-?\d{1,3}(\.\d{1,12})?$")  # what the fast path parses; anything else goes to the route
_TRUE, _FALSE = frozenset({"true", "1", "yes", "on"}), frozenset({"false", "0", "no", "off"})
_BOOLEANS = _TRUE | _FALSE
_VIEWS = {view.value: view for view in View}  # a look-up: calling the enum costs more
JSON_TYPE = b"application/json"
HTML_TYPE = b"text/html; charset=utf-8"


class Resolution(NamedTuple):
    """A request the fast path takes: what the route's parameters would have been (a tuple: built
    for every request, and cheaper to build than a frozen dataclass)."""

    gtin: str
    serial: str
    html: bool
    view: View
    scan: bool
    where: CoarseLocation
    if_none_match: str | None


def wants_html(accept: str | None, format_: str | None) -> bool:
    """The page for people, JSON for programs (content negotiation, or ``?format=``)."""
    if format_ is not None:
        return format_ == "html"
    if not accept:
        return False
    html = "text/html" in accept
    json_first = accept.find("application/json")
    return html and (json_first == -1 or accept.find("text/html") < json_first)


def headers_of(answer: Answer, html: bool) -> tuple[str, list[tuple[bytes, bytes]]]:
    """The ETag and the headers every answer carries (also the 304)."""
    etag = answer.etag("html" if html else "json")
    # no-cache: a cache may keep the answer but must revalidate it (scans and recalls change it).
    return etag, [(b"etag", etag.encode()), (b"vary", b"Accept"), (b"cache-control", b"no-cache")]


def takes(scope: Scope) -> bool:
    """Whether the fast path may answer this request (admission asks before the guards): a GET of
    the link without a key. Its parameters are judged later; what it declines goes to the route."""
    return (
        scope["method"] == "GET"
        and PATH.match(scope["path"]) is not None
        and (b"authorization" not in request_headers(scope))
    )


def query_of(raw: bytes) -> dict[str, str] | None:
    """The query's parameters, None if one is repeated (the route refuses that). Percent-encoded
    or ``+`` queries go through ``parse_qsl``; a QR code's plain ``a=b&c=d`` is split directly."""
    text = raw.decode("latin-1")
    if "%" in text or "+" in text:
        pairs = parse_qsl(text, keep_blank_values=True)
    else:
        pairs = [(name, value) for name, _, value in (pair.partition("=") for pair in text.split("&") if pair)]
    params = dict(pairs)
    return params if len(params) == len(pairs) else None


def _text(value: bytes | None) -> str | None:
    """A header's value as text (as ``request_headers.header`` reads it; the headers looked up once)."""
    return None if value is None else bytes(value).decode("latin-1")


def _number(value: str) -> float | None:
    return float(value) if _NUMBER.match(value) else None


class VerificationFastPath:
    def __init__(
        self, app: ASGIApp, answers: VerificationAnswers, home: Path, secret: str | None, gates: Gates | None = None
    ) -> None:
        self.app = app
        self.answers = answers
        self.home = home
        self.secret = secret
        self.gates = gates  # admission's: a request admitted through ``public_fast`` holds no slot

    @lru_cache(maxsize=65_536)  # noqa: B019  (one instance per process; bounded)
    def client(self, host: str | None) -> str:
        """The keyed hash of the client's network (scan_clients.py)."""
        return client_id(client_key(self.home, self.secret), host)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        resolution = self._accepted(scope) if scope["type"] == "http" and scope["method"] == "GET" else None
        slot = self._slot(scope)
        if resolution is None:
            await self._to_route(scope, receive, send, slot)
            return
        client = scope.get("client")
        record = ScanRecord(resolution.where, self.client(client[0] if client else None)) if resolution.scan else None
        try:
            answer = await self.answers.answer(resolution.gtin, resolution.serial, resolution.view, record, slot)
        except DomainError:  # a malformed link: the route answers it (nothing was recorded)
            await self._to_route(scope, receive, send, slot)
            return
        except Overloaded as full:  # no thread for a cold entry in time: nothing was recorded
            assert self.gates is not None
            await self.gates.refuse(full.gate, scope, send)
            return
        scope["route"] = ROUTE
        etag, headers = headers_of(answer, resolution.html)
        if matches(resolution.if_none_match, etag):
            await respond(send, 304, b"", headers)
            return
        body = answer.html() if resolution.html else answer.json()
        kind = HTML_TYPE if resolution.html else JSON_TYPE
        await respond(
            send, 200, body, [(b"content-type", kind), (b"content-length", str(len(body)).encode()), *headers]
        )

    def _slot(self, scope: Scope) -> Gate | None:
        """The public class's gate if this request was admitted without a slot (the fast path's gate)."""
        if self.gates is not None and scope.get(ADMITTED_BY) is self.gates.public_fast:
            return self.gates.public
        return None

    async def _to_route(self, scope: Scope, receive: Receive, send: Send, slot: Gate | None) -> None:
        """The application answers; a request admitted without a slot takes one first (routes may
        hold a thread and a connection)."""
        if slot is None:
            await self.app(scope, receive, send)
            return
        assert self.gates is not None
        if not await slot.enter():
            await self.gates.refuse(slot, scope, send)
            return
        try:
            await self.app(scope, receive, send)
        finally:
            slot.leave()

    def _accepted(self, scope: Scope) -> Resolution | None:
        """The request's parameters, if this is the common case; None hands it to the application."""
        match = PATH.match(scope["path"])
        if match is None:
            return None
        headers = request_headers(scope)
        if b"authorization" in headers:
            return None  # a key: checked, and its scan weighed, by the route
        accept, if_none_match = _text(headers.get(b"accept")), _text(headers.get(b"if-none-match"))
        location = _text(headers.get(b"x-scan-location"))
        params = query_of(scope.get("query_string", b""))
        if params is None:
            return None  # a repeated parameter: the route refuses it
        if "linkType" in params or (accept is not None and "linkset" in accept):
            return None  # another link than the answer (a linkset, the product page): the route's
        format_, view, scan = params.get("format"), params.get("view", "latest"), params.get("scan", "true")
        if format_ not in (None, "json", "html") or view not in ("latest", "confirmed"):
            return None
        scan = scan.lower()
        if scan not in _BOOLEANS:
            return None
        try:
            where = self._where(params, location)
        except (DomainError, ValueError):
            return None
        if where is None:
            return None
        return Resolution(
            match.group(1),
            match.group(2),
            wants_html(accept, format_),
            _VIEWS[view],
            scan in _TRUE,
            where,
            if_none_match,
        )

    @staticmethod
    def _where(params: dict[str, str], header: str | None) -> CoarseLocation | None:
        lat_text, lon_text, country = params.get("lat"), params.get("lon"), params.get("country")
        if lat_text is None and lon_text is None and not country:
            return CoarseLocation.parse_header(header)
        lat = None if lat_text is None else _number(lat_text)
        lon = None if lon_text is None else _number(lon_text)
        if (lat_text is not None and lat is None) or (lon_text is not None and lon is None):
            return None
        return CoarseLocation.of(lat, lon, country)
