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

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import Response

from backend.api.answers import VerificationAnswers, matches
from backend.api.auth import Principal, Role
from backend.api.deps import StateDep
from backend.api.policy import PUBLIC_SCANNER
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import VerificationOut
from backend.api.verification_fast import headers_of, wants_html
from backend.indexer.confirmed import View
from backend.provenance.answers import ScanRecord
from backend.provenance.scan_clients import client_id, client_key
from backend.provenance.scans import CoarseLocation
from backend.settings import get_settings

router = APIRouter(tags=["verification"], responses=ERROR_RESPONSES)


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


@router.get(
    "/01/{gtin}/21/{serial}",
    response_model=VerificationOut,
    summary="Verify a product item (GS1 Digital Link)",
    responses={200: {"content": {"text/html": {}}}, 304: {"description": "Not modified (If-None-Match)"}},
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
) -> Any:
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
    if html:
        return Response(answer.html(), media_type="text/html; charset=utf-8", headers=plain)
    return Response(answer.json(), media_type="application/json", headers=plain)
