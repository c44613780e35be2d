"""The checkout's fast path: ``POST /v1/purchases`` answered without the framework's per-request
machinery.

FastAPI's routing, dependency solving and middleware stack cost more CPU per purchase than
recording the purchase does. This ASGI middleware answers the common case (a valid key that the
route's policy admits for the store, with no customer consent to check, and a JSON object that
``PurchaseIn`` accepts) exactly as the route in ``routers/purchases.py`` does: the same model, the
same policy decision (``policy.decide`` with the route's ``PURCHASE`` policy), the same
group-commit writer, the same answer. Anything else (no key or a bad one, another store, a
purchase paid with points or carrying a customer code, malformed JSON, invalid fields, a query
string, another content type) is handed to the application untouched, so every refusal before
the writer comes from the one place that defines it. A domain error from the writer (an unknown
store, a reused order id) is answered with the application's error body.

It sits inside ``SecurityMiddleware``: size and rate limits, NUL checks and CORS apply first.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import Response

from backend.api.auth import KeyVerifier, Principal
from backend.api.error_responses import domain_error
from backend.api.policy import PURCHASE, Context, Facts, decide
from backend.api.replays import REPLAYED, replay_headers
from backend.api.request_headers import request_headers
from backend.api.schemas.loyalty import PurchaseIn
from backend.api.security import ASGIApp, Receive, Scope, Send, read_body, replaying
from backend.api.writer import GroupCommitWriter
from backend.errors import DomainError
from backend.loyalty.purchases import PurchaseInput, PurchaseLineInput, PurchaseOutcome

PATH = "/v1/purchases"
JSON = b"application/json"
REPLAYED_HEADER = (REPLAYED.lower().encode("latin-1"), b"true")  # as ``replay_headers`` sets it


@dataclass(frozen=True)
class RouteLabel:
    """What ``HttpMetrics`` reads from ``scope["route"]``: the route template."""

    path: str


def purchase_input(body: PurchaseIn, till_code: str | None = None, till_key: str = "") -> PurchaseInput:
    """The domain's purchase from the validated request (shared with the FastAPI route)."""
    return PurchaseInput(
        order_id=body.order_id,
        customer_id=body.customer_id,
        store_id=body.store_id,
        currency=body.currency,
        lines=[
            PurchaseLineInput(line.sku, line.quantity, line.unit_price, line.category, line.gtin, line.serial)
            for line in body.lines
        ],
        paid_with_points=body.paid_with_points,
        till_code=till_code,
        till_key=till_key,
    )


NO_RETAILERS = Context(retailer_of=lambda store_id: None)  # the purchase policy admits no program key


def purchase_response(outcome: PurchaseOutcome) -> Response:
    """The answer to a recorded purchase (shared with the FastAPI route): the stored first answer,
    already the ``PurchaseOut`` shape, so orjson and no re-validation."""
    headers = replay_headers(outcome.replayed)
    return Response(orjson.dumps(outcome.body), media_type="application/json", headers=headers)


async def _send_answer(send: Send, outcome: PurchaseOutcome) -> None:
    """``purchase_response(outcome)`` sent as the two ASGI messages it makes (the same status,
    headers and body), without building a Starlette response for every purchase."""
    body = orjson.dumps(outcome.body)
    headers = [(b"content-length", b"%d" % len(body)), (b"content-type", JSON)]
    if outcome.replayed:
        headers.insert(0, REPLAYED_HEADER)
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _credentials(scope: Scope) -> tuple[str | None, bytes | None]:
    """The bearer key and the content type (the first of each wins, as in Starlette's Headers)."""
    headers = request_headers(scope)
    authorization, content_type = headers.get(b"authorization"), headers.get(b"content-type")
    if authorization is None or authorization[:7].lower() != b"bearer ":
        return None, content_type
    return authorization[7:].decode("latin-1").strip(), content_type


class CheckoutFastPath:
    def __init__(self, app: ASGIApp, verifier: KeyVerifier, purchases: GroupCommitWriter[Any, Any]) -> None:
        self.app = app
        self.verifier = verifier
        self.purchases = purchases
        self.label = RouteLabel(PATH)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"] != PATH or scope.get("query_string"):
            await self.app(scope, receive, send)
            return
        # SecurityMiddleware has read and size-checked the body already: this is one message.
        body = await read_body(receive) or b""
        key, content_type = _credentials(scope)
        # A lookup of a key not seen lately runs on a thread, never on the loop.
        principal = await self.verifier.verify_async(key) if key is not None else None
        purchase = self._accepted(principal, content_type, body)
        if purchase is None:
            await self.app(scope, replaying(body, receive), send)
            return
        scope["route"] = self.label
        try:
            outcome = await self.purchases.submit(purchase)
        except DomainError as exc:
            response = await domain_error(Request(scope), exc)  # the application's own error answer
            await response(scope, replaying(body, receive), send)
            return
        await _send_answer(send, outcome)

    @staticmethod
    def _accepted(principal: Principal | None, content_type: bytes | None, body: bytes) -> PurchaseInput | None:
        """The purchase, if this request is the common case; None hands it to the application."""
        if content_type != JSON or principal is None:
            return None
        try:
            document = orjson.loads(body)
            request = PurchaseIn.model_validate(document) if isinstance(document, dict) else None
        except (orjson.JSONDecodeError, ValidationError):
            return None
        if request is None:
            return None
        facts = Facts(
            store_id=request.store_id, till_code=request.customer_code, till_code_needed=request.paid_with_points > 0
        )
        try:
            access = decide(PURCHASE, principal, facts, NO_RETAILERS)
        except DomainError:
            return None  # refused: the route answers it
        if access.till_code is not None:
            return None  # the customer's consent is checked (and wrong codes counted) by the route
        return purchase_input(request)
