"""The EPCIS 2.0 REST binding (GS1's OpenAPI for EPCIS 2.0), under ``/epcis``: a client written
against the binding is pointed at ``https://<host>/epcis`` and works unchanged.

``POST /capture`` answers ``202`` with the capture job (``Location: /epcis/capture/{captureID}``);
the document is captured at once, all or nothing, by the same code as ``POST /v1/epcis/capture``,
so the job is finished when the client asks for it (a rejected document's job says why, as
RFC 7807 problems). ``GET /events`` takes the standard query parameters (query_params.py reads
them into the filter ``/v1/epcis/events`` uses; the next page in the ``Link`` header), and the
resources ``/events/{eventID}``, ``/eventTypes``, ``/epcs/{epc}/events``, ``/bizSteps``,
``/bizLocations``, ``/readPoints`` and ``/dispositions`` list what the caller may see: the same
organisation scoping as ``/v1/epcis/events``. Every answer carries ``GS1-EPCIS-Version`` and
``GS1-CBV-Version``; every refusal by these routes is ``application/problem+json`` (RFC 7807).
Named queries (``/queries``) belong to the organisation that made them (named_queries.py).
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable
from typing import Annotated, Any
from urllib.parse import quote

import anyio.to_thread
import orjson
from fastapi import APIRouter, Depends, Path, Request
from fastapi.responses import JSONResponse, Response

from backend.api.auth import Role
from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import ADMIN_OR_ORGANISATION, Access, OrganisationDep
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.db.models import EpcisCapture
from backend.errors import DomainError, InvalidQuery, NotFound
from backend.provenance.epcis import named_queries
from backend.provenance.epcis.capture import CaptureRejected, capture_in
from backend.provenance.epcis.captures import capture_job
from backend.provenance.epcis.events import EVENT_TYPES
from backend.provenance.epcis.query import MAX_EVENTS, EventFilter, epcis_document, find_page, vocabulary
from backend.provenance.epcis.query_params import standard_filter
from backend.provenance.epcis.xml import document_from_xml, document_to_xml
from backend.settings import get_settings

PROBLEM_SCHEMA = {
    "type": "object",
    "properties": {
        "type": {"type": "string"},
        "title": {"type": "string"},
        "status": {"type": "integer"},
        "detail": {"type": "string"},
        "instance": {"type": "string"},
    },
}
# Refusals of the key (before the route) keep the API's JSON error; the binding's own are RFC 7807.
RESPONSES: dict[int | str, dict[str, Any]] = {
    status: {**spec, "content": {"application/problem+json": {"schema": PROBLEM_SCHEMA}}}
    for status, spec in ERROR_RESPONSES.items()
}
DOCUMENT: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "An EPCIS 2.0 document (JSON-LD, or XML with Accept: application/xml)",
        "content": {"application/ld+json": {"schema": {}}, "application/xml": {"schema": {"type": "string"}}},
    }
}
router = APIRouter(prefix="/epcis", tags=["epcis 2.0 rest binding"], responses=RESPONSES)

VERSIONS = {"GS1-EPCIS-Version": "2.0.0", "GS1-CBV-Version": "2.0.0"}
LD_JSON = "application/ld+json"
PROBLEM = {
    400: "epcisException:QueryParameterException",
    403: "epcisException:SecurityException",
    404: "epcisException:NoSuchResourceException",
    409: "epcisException:ValidationException",
    413: "epcisException:CaptureLimitExceededException",
    422: "epcisException:ValidationException",
}
Viewer = Annotated[Access, Depends(ADMIN_OR_ORGANISATION)]


def _json(
    body: Any, status: int = 200, media_type: str = "application/json", headers: dict[str, str] | None = None
) -> JSONResponse:
    return JSONResponse(body, status_code=status, media_type=media_type, headers={**VERSIONS, **(headers or {})})


# Refusals whose standard exception is not the one of their status alone.
PROBLEM_OF_CODE = {"query_too_large": "epcisException:QueryTooLargeException"}


def problem(status: int, detail: str, instance: str, field: str | None = None, code: str | None = None) -> JSONResponse:
    body: dict[str, Any] = {
        "type": PROBLEM_OF_CODE.get(code or "") or PROBLEM.get(status, "epcisException:ImplementationException"),
        "title": detail.split(":", 1)[0][:120],
        "status": status,
        "detail": detail,
        "instance": instance,
    }
    if field is not None:
        body["field"] = field
    return _json(body, status, "application/problem+json")


def _answering(request: Request, work: Callable[[], Response]) -> Response:
    """``work``'s answer, or the domain refusal it raised as an RFC 7807 problem."""
    try:
        return work()
    except DomainError as error:
        return problem(error.status, error.message, request.url.path, error.field, error.code)


def _viewer(principal: Access) -> str | None:
    return None if principal.role == Role.ADMIN else principal.org_id


def _job(capture: EpcisCapture) -> dict[str, Any]:
    errors = json.loads(capture.problems) if capture.problems else []
    return {
        "captureID": capture.id,
        "createdAt": capture.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "finishedAt": capture.created_at.strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z",
        "running": False,
        "success": capture.status == "accepted",
        "captureErrorBehaviour": "rollback",
        "errors": errors,
    }


CAPTURE_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": {"type": "object"}},
            "application/ld+json": {"schema": {"type": "object"}},
            "application/xml": {"schema": {"type": "string"}},
        },
    }
}


@router.post(
    "/capture",
    openapi_extra={**declare(RouteClass.BULK), **CAPTURE_BODY},
    status_code=202,
    summary="Capture an EPCIS document, JSON-LD or EPCIS 1.2/2.0 XML (202 and a capture job)",
)
async def capture(request: Request, principal: OrganisationDep, state: StateDep) -> Response:
    """All or nothing, as ``POST /v1/epcis/capture``; the job records the outcome. An XML document
    (``Content-Type: application/xml`` or ``text/xml``) is captured as its JSON-LD form: the same
    events, the same hashes (backend/provenance/epcis/xml.py)."""
    raw = await request.body()
    xml = "xml" in request.headers.get("content-type", "")
    try:
        document = document_from_xml(raw) if xml else orjson.loads(raw)
    except orjson.JSONDecodeError:
        return problem(400, "the body is not JSON (send EPCIS XML as application/xml)", request.url.path, "body")
    except DomainError as error:
        return problem(error.status, error.message, request.url.path, error.field)
    if not isinstance(document, dict):
        return problem(400, "the body is not an EPCIS document (a JSON object)", request.url.path, "body")
    return await anyio.to_thread.run_sync(_capture, request, principal, state, document)


def _capture(request: Request, principal: Access, state: Any, document: dict[str, Any]) -> Response:
    assert principal.org_id is not None  # an organisation key (the policy)
    settings = get_settings()
    limit = str(settings.epcis_max_events)
    body = document.get("epcisBody")
    listed = body.get("eventList") if isinstance(body, dict) else None
    if isinstance(listed, list) and len(listed) > settings.epcis_max_events:
        return problem(413, f"at most {limit} events per capture (GS1-EPCIS-Capture-Limit)", request.url.path)
    capture_id = str(uuid.uuid4())
    try:
        capture_in(state.engine, principal.org_id, document, settings, capture_id)
    except CaptureRejected as rejected:
        errors = [
            {
                "type": PROBLEM.get(rejected.status, PROBLEM[422]),
                "title": p.rule,
                "status": rejected.status,
                "detail": p.message,
                "instance": p.field,
            }
            for p in rejected.problems
        ]
        with state.write() as session:
            session.add(
                EpcisCapture(
                    id=capture_id, org_id=principal.org_id, status="rejected", events=0, problems=json.dumps(errors)
                )
            )
    except DomainError as error:
        return problem(error.status, error.message, request.url.path, error.field)
    location = f"/epcis/capture/{capture_id}"
    return _json({"captureID": capture_id}, 202, headers={"Location": location, "GS1-EPCIS-Capture-Limit": limit})


@router.get("/capture/{capture_id}", summary="A capture job")
def capture_status(
    request: Request, principal: Viewer, session: SessionDep, capture_id: Annotated[str, Path(max_length=36)]
) -> Response:
    return _answering(request, lambda: _json(_job(capture_job(session, capture_id, _viewer(principal)))))


def _events(request: Request, session: SessionDep, principal: Access, filters: EventFilter) -> Response:
    page = find_page(session, filters, _viewer(principal))
    headers = {}
    if page.next_token is not None:
        headers["Link"] = f'<{request.url.include_query_params(nextPageToken=page.next_token)}>; rel="next"'
    return _document(request, epcis_document(page.records, f"urn:uuid:{uuid.uuid4()}"), headers)


def _document(request: Request, document: dict[str, Any], headers: dict[str, str] | None = None) -> Response:
    """JSON-LD, or EPCIS 2.0 XML for a client that asks for it (``Accept: application/xml``)."""
    accept = request.headers.get("accept", "")
    if "xml" in accept and "json" not in accept:
        return Response(
            document_to_xml(document), media_type="application/xml", headers={**VERSIONS, **(headers or {})}
        )
    return _json(document, media_type=LD_JSON, headers=headers)


@router.get(
    "/events",
    openapi_extra=declare(RouteClass.BULK),
    summary="Query events (the binding's parameters)",
    responses=DOCUMENT,
)
def events(request: Request, principal: Viewer, session: SessionDep) -> Response:
    params = dict(request.query_params)
    return _answering(request, lambda: _events(request, session, principal, standard_filter(params)))


@router.get("/events/{event_id:path}", summary="One event, by its eventID", responses=DOCUMENT)
def event(request: Request, principal: Viewer, session: SessionDep, event_id: str) -> Response:
    def one() -> Response:
        page = find_page(session, EventFilter(event_id=event_id, limit=1), _viewer(principal))
        if not page.records:
            raise NotFound(f"no event {event_id!r} that you may read", field="eventID")
        return _document(request, epcis_document(page.records, f"urn:uuid:{uuid.uuid4()}"))

    return _answering(request, one)


@router.get(
    "/epcs/{epc:path}/events",
    openapi_extra=declare(RouteClass.BULK),
    summary="The events of one EPC",
    responses=DOCUMENT,
)
def epc_events(request: Request, principal: Viewer, session: SessionDep, epc: str) -> Response:
    params = dict(request.query_params)
    return _answering(request, lambda: _events(request, session, principal, standard_filter(params, epc)))


def _listing(request: Request, session: SessionDep, principal: Access, name: str) -> Response:
    def listed() -> Response:
        if name == "eventTypes":
            values = list(EVENT_TYPES)
        else:
            values = vocabulary(session, name, _viewer(principal), MAX_EVENTS)
        return _json({"@set": values, "members": [{"name": v, "href": quote(v, safe="")} for v in values]})

    return _answering(request, listed)


VOCABULARIES = {
    "eventTypes": "The event types",
    "bizSteps": "The business steps of the events you may read",
    "bizLocations": "The business locations of the events you may read",
    "readPoints": "The read points of the events you may read",
    "dispositions": "The dispositions of the events you may read",
}


def _vocabulary_route(name: str) -> Callable[..., Response]:
    def listing(request: Request, principal: Viewer, session: SessionDep) -> Response:
        return _listing(request, session, principal, name)

    return listing


for _name, _summary in VOCABULARIES.items():  # one route per vocabulary, each answered by _listing
    router.add_api_route(
        f"/{_name}", _vocabulary_route(_name), methods=["GET"], summary=_summary, name=f"vocabulary_{_name}"
    )


QUERY_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["name", "query"],
                    "properties": {"name": {"type": "string"}, "query": {"type": "object"}},
                },
                "example": {"name": "shipped", "query": {"eventType": ["ObjectEvent"], "EQ_bizStep": ["shipping"]}},
            }
        },
    }
}
QueryName = Annotated[str, Path(max_length=100)]


@router.post(
    "/queries",
    openapi_extra={**declare(RouteClass.OTHER), **QUERY_BODY},
    status_code=201,
    summary="Create a named query (your organisation's own)",
)
async def create_query(request: Request, principal: OrganisationDep, state: StateDep) -> Response:
    """The query's parameters are checked as ``GET /events`` checks them; ``Location`` names it."""
    try:
        body = orjson.loads(await request.body())
    except orjson.JSONDecodeError:
        return problem(400, "the body is not JSON: {name, query}", request.url.path, "body")
    if not isinstance(body, dict) or set(body) - {"name", "query"}:
        return problem(400, "the body is {name, query}, nothing else", request.url.path, "body")
    assert principal.org_id is not None  # an organisation key (the policy)

    def made() -> Response:
        with state.write() as session:
            query = named_queries.create(session, principal.org_id or "", body.get("name"), body.get("query"))
            shown = named_queries.definition(query)
        location = f"/epcis/queries/{quote(query.name, safe='')}"
        return _json(shown, 201, headers={"Location": location})

    return await anyio.to_thread.run_sync(_answering, request, made)


@router.get("/queries", summary="Your organisation's named queries")
def list_queries(request: Request, principal: OrganisationDep, session: SessionDep) -> Response:
    assert principal.org_id is not None
    return _json([named_queries.definition(q) for q in named_queries.listed(session, principal.org_id)])


@router.get("/queries/{query_name}", summary="One of your named queries")
def get_query(request: Request, principal: OrganisationDep, session: SessionDep, query_name: QueryName) -> Response:
    assert principal.org_id is not None
    org_id = principal.org_id
    return _answering(request, lambda: _json(named_queries.definition(named_queries.get(session, org_id, query_name))))


@router.delete("/queries/{query_name}", status_code=204, summary="Delete one of your named queries")
def delete_query(request: Request, principal: OrganisationDep, state: StateDep, query_name: QueryName) -> Response:
    assert principal.org_id is not None
    org_id = principal.org_id

    def deleted() -> Response:
        with state.write() as session:
            named_queries.delete(session, org_id, query_name)
        return Response(status_code=204, headers=VERSIONS)

    return _answering(request, deleted)


@router.get(
    "/queries/{query_name}/events",
    openapi_extra=declare(RouteClass.BULK),
    summary="Run one of your named queries (perPage, nextPageToken)",
    responses=DOCUMENT,
)
def query_events(request: Request, principal: OrganisationDep, session: SessionDep, query_name: QueryName) -> Response:
    assert principal.org_id is not None
    org_id = principal.org_id

    def run() -> Response:
        query = named_queries.get(session, org_id, query_name)
        params = dict(request.query_params)
        if extra := sorted(set(params) - {"perPage", "nextPageToken"}):
            raise InvalidQuery(f"{extra[0]}: a named query takes only perPage and nextPageToken", field=extra[0])
        saved = json.loads(query.parameters)
        return _events(request, session, principal, standard_filter({**saved, **params}))

    return _answering(request, run)
