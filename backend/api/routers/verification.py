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

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from backend.api.auth import Principal, Role
from backend.api.deps import AppState, StateDep
from backend.api.policy import PUBLIC_SCANNER
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import VerificationOut
from backend.chain.manifest import ManifestMissing, load_manifest
from backend.db.models import ChainCursor, Organisation
from backend.indexer.confirmed import View, mirror_point
from backend.provenance.scan_clients import client_id, client_key
from backend.provenance.scans import CoarseLocation, ScanContext
from backend.provenance.settings import get_provenance_settings
from backend.provenance.verification import VerificationContext, verify_item

router = APIRouter(tags=["verification"], responses=ERROR_RESPONSES)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


LABELS = {
    "registered": "Registered on chain", "commissioning": "Made", "packing": "Packed", "unpacking": "Unpacked",
    "shipping": "Shipped", "receiving": "Received", "retail_selling": "Sold", "decommissioning": "Decommissioned",
    "destroying": "Destroyed", "recalled": "Recalled", "storing": "Stored", "inspecting": "Inspected",
    "accepting": "Accepted", "loading": "Loaded", "departing": "Departed", "arriving": "Arrived",
}  # fmt: skip


def _wants_html(accept: str | None, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "html"
    if not accept:
        return False
    html = "text/html" in accept
    json_first = accept.find("application/json")
    return html and (json_first == -1 or accept.find("text/html") < json_first)


def _context(state: Any, session: Any, view: View) -> VerificationContext:
    cursor = session.get(ChainCursor, "indexer")
    chain_id = state.settings.chain_id or (cursor.chain_id if cursor else 31337)
    try:
        registry = load_manifest(state.settings.deployments_dir, chain_id).address_of("ProvenanceRegistry")
    except ManifestMissing:
        registry = ""
    point = mirror_point(session, view)
    return VerificationContext(
        chain_id, registry, point.as_of_block, state.settings.resolved_public_url, point.confirmed_block, point.view
    )


def _scanning_organisation(scanner: Principal | None, session: Any) -> Organisation | None:
    """The organisation whose key signed this request (None: anonymous, or not an organisation key:
    admin and checkout keys scan like anyone else)."""
    if scanner is None or scanner.role != Role.ORGANISATION or scanner.org_id is None:
        return None
    org: Organisation | None = session.get(Organisation, scanner.org_id)
    return org


def _scan_context(
    request: Request, state: AppState, session: Any, where: CoarseLocation, scanner: Principal | None
) -> ScanContext:
    provenance = get_provenance_settings()
    secret = provenance.scan_client_secret.get_secret_value() if provenance.scan_client_secret else None
    key = client_key(state.settings.resolved_home, secret)
    host = request.client.host if request.client else None
    return ScanContext(where, client_id(key, host), _scanning_organisation(scanner, session))


def _when(timestamp: int | None) -> str:
    if not timestamp:
        return "pending"
    return datetime.fromtimestamp(timestamp, tz=UTC).strftime("%d %b %Y %H:%M UTC")


@router.get(
    "/01/{gtin}/21/{serial}",
    response_model=VerificationOut,
    summary="Verify a product item (GS1 Digital Link)",
    responses={200: {"content": {"text/html": {}}}},
)
def verify(
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
    view: Annotated[View, Query(description="`latest` (default) or `confirmed`.")] = View.LATEST,
) -> Any:
    where = (
        CoarseLocation.of(lat, lon, country)
        if lat is not None or lon is not None or country
        else (CoarseLocation.parse_header(x_scan_location))
    )
    with state.write() as session:
        scanned = _scan_context(request, state, session, where, scanner) if scan else None
        result = verify_item(session, gtin, serial, _context(state, session, view), get_provenance_settings(),
                             scan=scanned)  # fmt: skip
    if _wants_html(accept, format):
        return templates.TemplateResponse(
            request, "verify.html", {"r": result, "when": _when, "labels": LABELS}, headers={"Vary": "Accept"}
        )
    return JSONResponse(result, headers={"Vary": "Accept"})
