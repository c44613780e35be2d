"""GS1 Digital Link resolver: ``/01/{gtin}/21/{serial}`` answers people with a page and programs
with JSON (content negotiation, or ``?format=json``). Public: a shopper scanning a QR code has no
API key.

Each resolution of a registered item is recorded as a scan (for clone detection), with a coarse
location only if the client offers one (``lat``/``lon``/``country`` query parameters or an
``X-Scan-Location: <lat>,<lon>`` header) and a keyed hash of the client's network (never its
address); ``scan=false`` resolves without recording. An organisation may scan with its key
(``Authorization: Bearer``): the scan then counts as that organisation's, and vouches for the
item's whereabouts if it is the item's brand or a partner the brand authorised
(docs/security/scan-signals.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Depends, FastAPI, Header, Query, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlmodel import Session

from backend.api.answers import VerificationAnswers, matches
from backend.api.auth import Principal, Role
from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import PUBLIC, PUBLIC_SCANNER
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import VerificationOut
from backend.api.verification_fast import headers_of, wants_html
from backend.errors import DomainError, NotFound
from backend.indexer.confirmed import View
from backend.provenance import product_link
from backend.provenance.answers import ScanRecord
from backend.provenance.digital_link import (
    DigitalLink,
    check_qualifier,
    decompress,
    is_compressed,
    parse_gtin,
    parse_path,
)
from backend.provenance.product_link import check_item_qualifiers, linkset, product_page
from backend.provenance.scan_clients import client_id, client_key
from backend.provenance.scans import CoarseLocation
from backend.settings import get_settings

router = APIRouter(tags=["verification"], responses=ERROR_RESPONSES)
templates = Jinja2Templates(directory=Path(__file__).resolve().parents[1] / "templates")
LINKSET_TYPE = "application/linkset+json"


def _scanning_organisation(scanner: Principal | None) -> str | None:
    """The organisation whose key signed this request (None: anonymous, or not an organisation key:
    admin and checkout keys scan like anyone else)."""
    if scanner is None or scanner.role != Role.ORGANISATION or scanner.org_id is None:
        return None
    return scanner.org_id


def _client(request: Request, state: StateDep) -> str:
    provenance = get_settings()
    secret = provenance.scan_client_secret.get_secret_value() if provenance.scan_client_secret else None
    host = request.client.host if request.client else None
    return client_id(client_key(state.settings.resolved_home, secret), host)


@router.api_route(
    "/01/{gtin}/21/{serial}",
    methods=["GET", "HEAD"],
    openapi_extra=declare(RouteClass.PUBLIC),
    response_model=VerificationOut,
    summary="Verify a product item (GS1 Digital Link)",
    responses={
        200: {"content": {"text/html": {}, LINKSET_TYPE: {}}},
        304: {"description": "Not modified (If-None-Match)"},
        307: {"description": "linkType=gs1:pip: the product page"},
    },
)
async def verify(
    gtin: str,
    serial: str,
    request: Request,
    state: StateDep,
    scanner: Annotated[Principal | None, Depends(PUBLIC_SCANNER)],
    accept: Annotated[str | None, Header()] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
    lat: Annotated[float | None, Query(description="Coarse latitude of the scan (rounded to 0.1°).")] = None,
    lon: Annotated[float | None, Query(description="Coarse longitude of the scan (rounded to 0.1°).")] = None,
    country: Annotated[str | None, Query(description="ISO 3166 alpha-2 country of the scan.")] = None,
    scan: Annotated[bool, Query(description="false: resolve without recording a scan.")] = True,
    x_scan_location: Annotated[str | None, Header(description="'<lat>,<lon>' of the scan.")] = None,
    if_none_match: Annotated[str | None, Header(description="An ETag of an earlier answer: 304 if unchanged.")] = None,
    view: Annotated[View, Query(description="`latest` (default) or `confirmed`.")] = View.LATEST,
    link_type: Annotated[
        str | None, Query(alias="linkType", max_length=100, description="A GS1 link type, or `all` (linkset).")
    ] = None,
) -> Any:
    link = DigitalLink(parse_gtin(gtin), serial=check_qualifier("21", serial))
    other = _other_link(request, link, link_type, accept)
    if other is not None:
        return other
    return await _item_answer(
        request, state, scanner, link, accept, format, lat, lon, country, scan, x_scan_location, if_none_match, view
    )


async def _item_answer(
    request: Request,
    state: StateDep,
    scanner: Principal | None,
    link: DigitalLink,
    accept: str | None,
    format: str | None,
    lat: float | None,
    lon: float | None,
    country: str | None,
    scan: bool,
    x_scan_location: str | None,
    if_none_match: str | None,
    view: View,
) -> Response:
    assert link.serial is not None
    gtin, serial = link.gtin, link.serial
    scan = scan and request.method != "HEAD"  # a HEAD asks about the answer, it scans nothing
    where = (
        CoarseLocation.of(lat, lon, country)
        if lat is not None or lon is not None or country
        else (CoarseLocation.parse_header(x_scan_location))
    )
    answers: VerificationAnswers = request.app.state.answers
    record = ScanRecord(where, _client(request, state), _scanning_organisation(scanner)) if scan else None
    answer = await answers.answer(gtin, serial, view, record)
    html = wants_html(accept, format)
    etag, headers = headers_of(answer, html)
    plain = {key.decode(): value.decode() for key, value in headers}
    if matches(if_none_match, etag):
        return Response(status_code=304, headers=plain)
    body, kind = (answer.html(), "text/html; charset=utf-8") if html else (answer.json(), "application/json")
    return _answer(request, body, kind, plain)


def _answer(request: Request, body: bytes, kind: str, headers: dict[str, str] | None = None) -> Response:
    """The answer, or for a HEAD its headers alone (with the length the GET's body has)."""
    if request.method == "HEAD":
        return Response(status_code=200, media_type=kind, headers={**(headers or {}), "content-length": str(len(body))})
    return Response(body, media_type=kind, headers=headers)


def _wants_linkset(accept: str | None) -> bool:
    return accept is not None and LINKSET_TYPE in accept


def _other_link(request: Request, link: DigitalLink, link_type: str | None, accept: str | None) -> Response | None:
    """What a GS1 resolver answers for ``linkType`` (or ``Accept: application/linkset+json``) other
    than the link's default answer; None: the default answer."""
    base = get_settings().resolved_public_url
    if link_type == "all" or (link_type is None and _wants_linkset(accept)):
        return _answer(request, orjson.dumps(linkset(link, base)), LINKSET_TYPE)
    if link_type is None:
        return None
    wanted = product_link.link_type(link_type)
    offered = product_link.offered(link)
    if wanted not in (*offered, product_link.DEFAULT):
        known = ", ".join(f"gs1:{t}" for t in offered)
        raise NotFound(f"no link of type {link_type!r} for this link: it offers {known} and all", field="linkType")
    if wanted == product_link.PIP and link.serial is not None:
        product = DigitalLink(link.gtin, link.cpv, link.lot)
        return RedirectResponse(base + product.path(), status_code=307)
    return None


@router.api_route(
    "/01/{gtin}",
    methods=["GET", "HEAD"],
    openapi_extra=declare(RouteClass.PUBLIC),
    summary="A product's page (GS1 Digital Link of a GTIN)",
    responses={200: {"content": {"text/html": {}, "application/json": {}, LINKSET_TYPE: {}}}},
)
def product(
    gtin: str,
    request: Request,
    session: SessionDep,
    _public: Annotated[None, Depends(PUBLIC)],
    accept: Annotated[str | None, Header()] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
    link_type: Annotated[str | None, Query(alias="linkType", max_length=100)] = None,
) -> Any:
    """The product page of a GTIN: name, brand, recalls of the whole GTIN; ``?linkType=all`` or
    ``Accept: application/linkset+json``: its links."""
    return _product(request, session, DigitalLink(parse_gtin(gtin)), accept, format, link_type)


def _product(
    request: Request,
    session: Session,
    link: DigitalLink,
    accept: str | None,
    format: str | None,
    link_type: str | None,
) -> Response:
    other = _other_link(request, link, link_type, accept)
    if other is not None:
        return other
    page = product_page(session, link, get_settings().resolved_public_url)
    if wants_html(accept, format):
        html = templates.get_template("product.html").render(p=page).encode()
        return _answer(request, html, "text/html; charset=utf-8")
    return _answer(request, orjson.dumps(page), "application/json")


@router.api_route(
    "/01/{gtin}/{qualifiers:path}",
    methods=["GET", "HEAD"],
    openapi_extra=declare(RouteClass.PUBLIC),
    summary="Any other GS1 Digital Link of a GTIN: lot, variant and serial in GS1's order",
    responses={
        200: {"content": {"text/html": {}, "application/json": {}, LINKSET_TYPE: {}}},
        304: {"description": "Not modified (If-None-Match)"},
        307: {"description": "linkType=gs1:pip: the product page"},
    },
)
async def digital_link(
    gtin: str,
    qualifiers: str,
    request: Request,
    state: StateDep,
    scanner: Annotated[Principal | None, Depends(PUBLIC_SCANNER)],
    accept: Annotated[str | None, Header()] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
    scan: Annotated[bool, Query(description="false: resolve without recording a scan.")] = True,
    view: Annotated[View, Query(description="`latest` (default) or `confirmed`.")] = View.LATEST,
    link_type: Annotated[str | None, Query(alias="linkType", max_length=100)] = None,
    if_none_match: Annotated[str | None, Header()] = None,
) -> Any:
    """``/01/{gtin}/10/{lot}/21/{serial}`` (and ``/22/{cpv}``): the item's verification, its lot
    checked against the registered one; ``/01/{gtin}/10/{lot}``: the lot's product page. Key
    qualifiers out of GS1's order, or an AI that is none, are a 400 naming it."""
    link = parse_path(f"/01/{gtin}/{qualifiers}")
    return await _resolve(request, state, scanner, link, accept, format, scan, view, link_type, if_none_match)


async def _resolve(
    request: Request,
    state: StateDep,
    scanner: Principal | None,
    link: DigitalLink,
    accept: str | None,
    format: str | None,
    scan: bool,
    view: View,
    link_type: str | None,
    if_none_match: str | None,
) -> Response:
    if link.serial is None:
        with Session(state.engine) as session:
            return _product(request, session, link, accept, format, link_type)
    with Session(state.engine) as session:
        check_item_qualifiers(session, link)
    other = _other_link(request, link, link_type, accept)
    if other is not None:
        return other
    return await _item_answer(
        request, state, scanner, link, accept, format, None, None, None, scan, None, if_none_match, view
    )


class CompressedLinks:
    """Compressed GS1 Digital Links (one path segment, GS1's binary compression): the router's
    default, so it runs only when no route matched (every route, even one added later, comes
    first). A segment that decompresses to a GTIN link is answered by that link's route, with its
    policy, exactly as the full link; anything else is the usual 404."""

    def __init__(self, router: Any, not_found: Any) -> None:
        self.router = router
        self.not_found = not_found

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        path = scope.get("path", "") if scope["type"] == "http" else ""
        segment = path[1:]
        full = None
        if segment and "/" not in segment and is_compressed(segment):
            try:
                full = decompress(segment).path()
            except DomainError:  # not a link, or a malformed one: nothing is here
                full = None
        if full is None:
            await self.not_found(scope, receive, send)
            return
        await self.router({**scope, "path": full, "raw_path": full.encode()}, receive, send)


def install_compressed_links(app: FastAPI) -> None:
    app.router.default = CompressedLinks(app.router, app.router.default)
