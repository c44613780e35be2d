"""Admin reports and the program's periodic upkeep."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from fastapi import APIRouter, Query

from backend.api.deps import SessionDep, StateDep
from backend.api.policy import AdminDep
from backend.api.schemas.common import ERROR_RESPONSES
from backend.api.schemas.program import DailyOut, LiabilityOut, MaintenanceOut
from backend.db.types import utcnow
from backend.errors import Unprocessable
from backend.loyalty.maintenance import maintain
from backend.loyalty.reports import daily, liability

router = APIRouter(tags=["reports"], responses=ERROR_RESPONSES)
DAY = r"^\d{4}-\d{2}-\d{2}$"


def _day(text: str, field: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        raise Unprocessable(f"{text!r} is not a calendar date", field=field) from None


@router.get("/v1/reports/liability", response_model=LiabilityOut, summary="Outstanding points and their value")
def get_liability(admin: AdminDep, session: SessionDep) -> dict[str, Any]:
    return liability(session)


@router.get("/v1/reports/daily", response_model=DailyOut, summary="Points issued, redeemed, expired per day")
def get_daily(
    admin: AdminDep,
    session: SessionDep,
    first_day: str | None = Query(None, alias="from", pattern=DAY, description="YYYY-MM-DD (default: 30 days back)"),
    last_day: str | None = Query(None, alias="to", pattern=DAY, description="YYYY-MM-DD (default: today, UTC)"),
) -> dict[str, Any]:
    last = _day(last_day, "to") if last_day else utcnow().date()
    first = _day(first_day, "from") if first_day else last - timedelta(days=30)
    if first > last:
        raise Unprocessable("`from` must not be after `to`", field="from")
    if (last - first).days > 3660:
        raise Unprocessable("at most ten years at a time", field="from")
    return {"first": first, "last": last, "days": daily(session, first, last)}


@router.post("/v1/maintenance", response_model=MaintenanceOut, summary="Expire lots, update tiers (admin)")
def run_maintenance(admin: AdminDep, state: StateDep) -> dict[str, Any]:
    """What ``credance loyalty maintain`` does: burn expired lots, evaluate tiers (rolling window,
    grace periods), and undo redemptions and transfers the chain refused."""
    with state.write() as session:
        report = maintain(session)
    return report.__dict__
