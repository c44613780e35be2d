"""Predictive loyalty: prediction runs, a member's predictions and recommendations, the report of
segments and uplift, and the bulk import of past orders.

Predictions of a member are read by admins, the program's keys and the member's own token (scope
``read``); runs are started by admins (and by the upkeep); past orders are imported by admins."""

from __future__ import annotations

from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query

from backend.api.budget import RouteClass
from backend.api.deps import SessionDep, StateDep
from backend.api.policy import PREDICTION_RUNS_READ, PREDICTIONS_READ, Access, AdminDep
from backend.api.route_facts import declare
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.predictive import (
    HistoryImportIn,
    HistoryImportOut,
    PredictionRunIn,
    PredictionRunOut,
)
from backend.db.types import utcnow
from backend.errors import Unprocessable
from backend.predictive import runs, views
from backend.predictive.history import import_history, parse_records

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
    today = utcnow().date()
    try:
        day = date.fromisoformat(body.as_of) if body.as_of else today
    except ValueError:
        raise Unprocessable(f"as_of {body.as_of!r} is not a calendar date", field="as_of") from None
    if day > today:
        raise Unprocessable(f"as_of {day.isoformat()} is in the future", field="as_of")
    with state.write() as session:
        outcome = runs.run(session, day, "api", evaluate=body.backtest)
        return runs.run_view(outcome.run)


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


@router.post(
    "/v1/history/imports",
    openapi_extra=declare(RouteClass.BULK),  # hundreds of thousands of past orders
    response_model=HistoryImportOut,
    status_code=201,
    summary="Import past orders of a store (admin)",
)
def post_history(body: HistoryImportIn, admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """Past orders count as purchase history for the models; they earn nothing and never reach
    the chain. Every row is checked before anything is written (422 lists the bad rows)."""
    records = [row.model_dump(exclude_none=True) for row in body.rows]
    orders = parse_records(records, utcnow().date(), first_line=0, where="rows")
    with state.write() as session:
        report = import_history(session, body.store_id, orders)
    return {
        "import_id": report.import_id,
        "orders": report.orders,
        "lines": report.lines,
        "customers_enrolled": report.customers_enrolled,
    }
