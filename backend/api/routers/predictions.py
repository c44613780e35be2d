"""Predictive loyalty: prediction runs, a member's predictions and recommendations, the report of
segments and uplift, and the bulk import of past orders.

Predictions of a member are read by admins, the program's keys and the member's own token (scope
``read``); runs are started by admins (and by the upkeep); past orders are imported by admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.exceptions import RequestValidationError
from pydantic import ValidationError

from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import PREDICTION_RUNS_READ, PREDICTIONS_READ, Access, AdminDep
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES, ErrorResponse
from backend.api.schemas.predictive import (
    HistoryImportIn,
    HistoryImportOut,
    PredictionRunIn,
    PredictionRunOut,
)
from backend.db.types import utcnow
from backend.errors import Unprocessable, UnsupportedMediaType
from backend.predictive import runs, views
from backend.predictive.history import import_history, parse_rows, read_text

router = APIRouter(tags=["predictions"], responses=ERROR_RESPONSES)
MAX_ID = 2**62  # ids are 64-bit: a larger number names no run
ReadAccess = Annotated[Access, Depends(PREDICTIONS_READ)]
RunsAccess = Annotated[Access, Depends(PREDICTION_RUNS_READ)]


@router.post(
    "/v1/predictions/runs",
    response_model=PredictionRunOut,
    status_code=201,
    summary="Run the prediction models (admin)",
)
def post_run(body: PredictionRunIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Fits the models on every member's purchase history through ``as_of``, scores them and
    publishes the rules' ``predicted:`` segments; ``status`` is ``refused`` (nothing published)
    below the rules' minimum of data."""
    day = run_day(body.as_of)
    with state.write() as session:
        outcome = runs.run(session, day, "api", evaluate=body.backtest)
        return runs.run_view(outcome.run)


def run_day(as_of: str | None) -> date:
    """The day a run reads history through: today by default, never in the future (the console's
    form calls this too)."""
    today = utcnow().date()
    try:
        day = date.fromisoformat(as_of) if as_of else today
    except ValueError:
        raise Unprocessable(f"as_of {as_of!r} is not a calendar date", field="as_of") from None
    if day > today:
        raise Unprocessable(f"as_of {day.isoformat()} is in the future", field="as_of")
    return day


@router.get("/v1/predictions/runs", response_model=list[PredictionRunOut], summary="Prediction runs, newest first")
def get_runs(access: RunsAccess, session: SessionDep, limit: int = Query(20, ge=1, le=200)) -> list[dict[str, Any]]:
    return [runs.run_view(found) for found in runs.list_runs(session, limit)]


@router.get("/v1/predictions/runs/{run_id}", response_model=PredictionRunOut, summary="A prediction run")
def get_run(run_id: Annotated[int, Path(ge=1, le=MAX_ID)], access: RunsAccess, session: SessionDep) -> dict[str, Any]:
    return runs.run_view(runs.get_run(session, run_id))


@router.get("/v1/reports/predictions", summary="Predicted segments, backtest, treated against control")
def get_report(
    access: RunsAccess, session: SessionDep, run_id: int | None = Query(None, ge=1, le=MAX_ID)
) -> dict[str, Any]:
    return views.report(session, run_id)


def _inlined(schema: dict[str, Any]) -> dict[str, Any]:
    """A model's JSON schema with its ``$defs`` written in place (an OpenAPI request body declared
    by hand cannot point at them)."""
    definitions = schema.pop("$defs", {})

    def inline(node: Any) -> Any:
        if isinstance(node, dict):
            reference = node.get("$ref", "")
            if reference.startswith("#/$defs/"):
                return inline(definitions[reference.removeprefix("#/$defs/")])
            return {key: inline(value) for key, value in node.items()}
        if isinstance(node, list):
            return [inline(item) for item in node]
        return node

    return dict(inline(schema))


HISTORY_BODY = {
    "required": True,
    "content": {
        "application/json": {"schema": _inlined(HistoryImportIn.model_json_schema())},
        "text/csv": {
            "schema": {
                "type": "string",
                "description": "order_id,customer_id,date,total[,sku,category,quantity] with a header line; "
                "the store is the store_id query parameter",
            }
        },
    },
}


async def _raw_body(request: Request) -> tuple[str, bytes]:
    """The body's media type and bytes, read here so that the route (run in a worker thread)
    checks the caller before it parses anything."""
    media_type = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    return media_type, await request.body()


RawBody = Annotated[tuple[str, bytes], Depends(_raw_body)]


@router.post(
    "/v1/history/imports",
    openapi_extra={**declare(RouteClass.BULK), "requestBody": HISTORY_BODY},  # hundreds of thousands of past orders
    response_model=HistoryImportOut,
    status_code=201,
    responses={415: {"model": ErrorResponse, "description": "Neither JSON nor CSV"}},
    summary="Import past orders of a store (admin)",
)
def post_history(
    admin: AdminDep,
    state: StateDep,
    raw: RawBody,
    store_id: Annotated[
        str | None,
        Query(description="The store, for a text/csv body.", min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$"),
    ] = None,
) -> dict[str, Any]:
    """Past orders count as purchase history for the models; they earn nothing and never reach
    the chain. The body is JSON (``store_id`` and ``rows``) or a CSV file as the CLI reads it
    (``text/csv``, with ``?store_id=``). Every row is checked before anything is written (422
    lists the bad rows, naming ``rows`` or ``body``)."""
    media_type, body = raw
    today = utcnow().date()
    if media_type == "text/csv":
        if store_id is None:
            raise Unprocessable("a text/csv body needs the store_id query parameter", field="store_id")
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise Unprocessable(f"the body is not UTF-8 ({exc.reason} at byte {exc.start})", field="body") from None
        orders = read_text(text, today, field="body")
        store = store_id
    elif media_type == "application/json":
        if store_id is not None:
            raise Unprocessable("a JSON body names its store in store_id, not in the query", field="store_id")
        try:
            document = HistoryImportIn.model_validate_json(body)
        except ValidationError as exc:
            raise RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in exc.errors()]) from None
        orders = parse_rows(
            ((r.order_id, r.customer_id, r.date, r.total, r.sku, r.category, r.quantity) for r in document.rows),
            today,
            first_line=0,
            where="rows",
        )
        store = document.store_id
    else:
        raise UnsupportedMediaType(f"the body must be application/json or text/csv, not {media_type}", field="body")
    with state.write() as session:
        report = import_history(session, store, orders)
    return {
        "import_id": report.import_id,
        "orders": report.orders,
        "lines": report.lines,
        "customers_enrolled": report.customers_enrolled,
    }
