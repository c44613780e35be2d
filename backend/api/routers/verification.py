"""GS1 Digital Link resolver: ``/01/{gtin}/21/{serial}`` answers people with a page and programs
with JSON (content negotiation, or ``?format=json``). Public: a shopper scanning a QR code has no
API key."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Header, Query, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates

from backend.api.deps import SessionDep, StateDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.provenance import VerificationOut
from backend.chain.manifest import ManifestMissing, load_manifest
from backend.db.models import ChainCursor
from backend.loyalty.accounts import mirrored_block
from backend.provenance.verification import VerificationContext, verify_item

router = APIRouter(tags=["verification"], responses=ERROR_RESPONSES)
templates = Jinja2Templates(directory=Path(__file__).resolve().parent.parent / "templates")


def _wants_html(accept: str | None, format_: str | None) -> bool:
    if format_ is not None:
        return format_ == "html"
    if not accept:
        return False
    html = "text/html" in accept
    json_first = accept.find("application/json")
    return html and (json_first == -1 or accept.find("text/html") < json_first)


def _context(state: Any, session: Any) -> VerificationContext:
    cursor = session.get(ChainCursor, "indexer")
    chain_id = state.settings.chain_id or (cursor.chain_id if cursor else 31337)
    try:
        registry = load_manifest(state.settings.deployments_dir, chain_id).address_of("ProvenanceRegistry")
    except ManifestMissing:
        registry = ""
    return VerificationContext(chain_id, registry, mirrored_block(session), state.settings.resolved_public_url)


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
    session: SessionDep,
    accept: Annotated[str | None, Header()] = None,
    format: Annotated[str | None, Query(pattern="^(json|html)$")] = None,
) -> Any:
    result = verify_item(session, gtin, serial, _context(state, session))
    if _wants_html(accept, format):
        return templates.TemplateResponse(
            request, "verify.html", {"r": result, "when": _when}, headers={"Vary": "Accept"}
        )
    return JSONResponse(result, headers={"Vary": "Accept"})
