"""EPCIS 2.0 capture and query. Capture is all or nothing: a rejected document gets one 4xx
answer that lists every problem (``problems``: field, rule, message) and nothing is stored."""

from __future__ import annotations

import re
import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends, Path, Query, Request
from fastapi.responses import JSONResponse
from pydantic import BeforeValidator

from backend.api.auth import Role
from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.error_responses import error_body
from backend.api.policy import ADMIN_OR_ORGANISATION, Access, OrganisationDep
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.epcis import CaptureJobOut, CaptureOut, EventAnchorOut
from backend.provenance.epcis.capture import CaptureRejected, capture_in
from backend.provenance.epcis.captures import capture_job, job_view
from backend.provenance.epcis.event_anchor import event_anchor
from backend.provenance.epcis.query import MAX_EVENTS, EventFilter, epcis_document, find_page, read_page_token
from backend.settings import get_settings


def _iso_only(value: Any) -> Any:
    """Only ISO 8601 date-times (as documented), not numbers read as Unix timestamps."""
    if isinstance(value, str) and not ISO_DATETIME.match(value):
        raise ValueError("expected an ISO 8601 date-time, e.g. 2026-01-01T00:00:00Z")
    return value


ISO_DATETIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")
IsoDateTime = Annotated[datetime, BeforeValidator(_iso_only)]

router = APIRouter(prefix="/v1/epcis", tags=["epcis"], responses=ERROR_RESPONSES)

EXAMPLE = {
    "@context": ["https://ref.gs1.org/standards/epcis/2.0.0/epcis-context.jsonld"],
    "type": "EPCISDocument",
    "schemaVersion": "2.0",
    "creationDate": "2026-01-01T00:00:00Z",
    "epcisBody": {
        "eventList": [
            {
                "type": "ObjectEvent",
                "action": "ADD",
                "bizStep": "commissioning",
                "disposition": "active",
                "epcList": ["https://id.gs1.org/01/09506000134352/21/SN0001"],
                "eventTime": "2026-01-01T00:00:00Z",
                "eventTimeZoneOffset": "+00:00",
            }
        ]
    },
}


@router.post(
    "/capture",
    openapi_extra=declare(RouteClass.BULK),
    response_model=CaptureOut,
    status_code=201,
    summary="Capture an EPCIS 2.0 document (organisation key)",
    responses={403: {"description": "Writer not authorised"}, 409: {"description": "Duplicate event"}},
)
def capture(
    principal: OrganisationDep,
    state: StateDep,
    document: Annotated[dict[str, Any], Body(openapi_examples={"commissioning": {"value": EXAMPLE}})],
) -> Any:
    """Validates the document against the official EPCIS 2.0 JSON Schema, then every event against
    the business rules on each item's history; stores all events or none. Each accepted event gets
    its canonical CBV 2.0 event hash and is anchored on chain in the next Merkle batch."""
    assert principal.org_id is not None  # an organisation key (the policy): events are written by one
    settings = get_settings()
    capture_id = str(uuid.uuid4())
    try:
        captured = capture_in(state.engine, principal.org_id, document, settings, capture_id)
    except CaptureRejected as rejected:
        problems = [{"field": p.field, "rule": p.rule, "message": p.message} for p in rejected.problems]
        body = error_body(rejected.code, rejected.message, field=rejected.field, problems=problems)
        return JSONResponse(body, status_code=rejected.status)
    return {
        "captured": len(captured),
        "status": "pending_anchor",
        "capture_id": capture_id,
        "events": [
            {"event_id": c.event_id, "event_hash": c.event_hash, "type": c.event_type, "erroneous": c.erroneous}
            for c in captured
        ],
    }


@router.get(
    "/captures/{capture_id}",
    response_model=CaptureJobOut,
    summary="A capture: its status, its event count and the header it was sent with",
)
def capture_of(
    principal: Annotated[Access, Depends(ADMIN_OR_ORGANISATION)],
    session: SessionDep,
    capture_id: Annotated[str, Path(max_length=36)],
) -> Any:
    """The organisation that sent the document (or an admin) reads it; another organisation's is a 404."""
    viewer = None if principal.role == Role.ADMIN else principal.org_id
    return job_view(capture_job(session, capture_id, viewer))


@router.get(
    "/events",
    openapi_extra=declare(RouteClass.BULK),
    summary="Query events; answers an EPCIS 2.0 document",
    responses={200: {"description": "An EPCIS 2.0 document", "content": {"application/ld+json": {"schema": {}}}}},
)
def events(
    request: Request,
    principal: Annotated[Access, Depends(ADMIN_OR_ORGANISATION)],
    session: SessionDep,
    epc: Annotated[str | None, Query(description="Item or container: EPC URI or Digital Link.")] = None,
    gtin: Annotated[str | None, Query(pattern=r"^\d{8}$|^\d{12,14}$")] = None,
    since: Annotated[IsoDateTime | None, Query(description="eventTime ≥ this (ISO 8601).")] = None,
    until: Annotated[IsoDateTime | None, Query(description="eventTime < this (ISO 8601).")] = None,
    biz_step: Annotated[str | None, Query(max_length=200, description="e.g. shipping")] = None,
    location: Annotated[str | None, Query(max_length=300, description="readPoint or bizLocation.")] = None,
    event_type: Annotated[
        Literal["ObjectEvent", "AggregationEvent", "TransformationEvent", "AssociationEvent", "TransactionEvent"]
        | None,
        Query(),
    ] = None,
    trace: Annotated[
        Literal["backward", "forward", "both"] | None,
        Query(description="With epc: follow aggregation and transformation upstream, downstream or both."),
    ] = None,
    limit: Annotated[int, Query(ge=1, le=MAX_EVENTS)] = 1000,
    page_token: Annotated[
        str | None, Query(max_length=200, description="The next page: from the Link header (rel=next).")
    ] = None,
) -> Any:
    """Admins see every event; an organisation sees the events it wrote and those about the
    products of its brand or of brands it works for. When more events match than ``limit``, the
    ``Link`` header (``rel="next"``) gives the next page."""
    viewer = None if principal.role == Role.ADMIN else principal.org_id
    after = read_page_token(page_token, "page_token") if page_token else None
    filters = EventFilter(epc, gtin, since, until, biz_step, location, event_type, trace, limit, after)
    page = find_page(session, filters, viewer)
    answer = JSONResponse(epcis_document(page.records, f"urn:uuid:{uuid.uuid4()}"), media_type="application/ld+json")
    if page.next_token is not None:
        answer.headers["Link"] = f'<{request.url.include_query_params(page_token=page.next_token)}>; rel="next"'
    return answer


@router.get(
    "/event-anchor",
    response_model=EventAnchorOut,
    summary="An event's anchor, with the salt that binds its CBV hash (who may read the event)",
)
def anchor_of_event(
    principal: Annotated[Access, Depends(ADMIN_OR_ORGANISATION)],
    session: SessionDep,
    event_hash: Annotated[
        str, Query(max_length=120, description="CBV 2.0 event hash: ni:///sha-256;<hex>?ver=CBV2.0, or the hex.")
    ],
) -> Any:
    """The public verification answer binds the full event only through a salted commitment to its
    CBV hash (so that it confirms no guess of the serials it hides). A party that may read the event
    gets the salt here and checks the full event it holds against the chain: recompute the CBV hash,
    ``keccak256(event_salt ‖ cbv_digest)`` is ``cbv_commitment``, ``keccak256(cbv_commitment ‖
    public_hash)`` is ``anchored``, and ``isEventAnchored(anchored, root, merkle_proof)`` is true."""
    viewer = None if principal.role == Role.ADMIN else principal.org_id
    return event_anchor(session, event_hash, viewer)
