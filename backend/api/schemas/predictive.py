"""Request and response bodies of the predictive routes."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from pydantic import Field, StrictBool

from backend.api.schemas.common import Identifier, StrictModel

DAY = r"^\d{4}-\d{2}-\d{2}$"
MAX_HISTORY_ROWS = 100_000


class PredictionRunIn(StrictModel):
    as_of: str | None = Field(default=None, pattern=DAY, description="Transactions through this day (default: today).")
    backtest: StrictBool = Field(default=True, description="Backtest on the horizon before the day.")


class PredictionRunOut(StrictModel):
    id: int
    as_of: str
    status: str = Field(description="published, or refused (below the rules' minimum of data)")
    trigger: str
    rule_version: int | None
    horizon_days: int
    reason: str
    started_at: datetime
    finished_at: datetime | None
    summary: dict[str, Any] = Field(description="The run's machine-readable summary (as `predict run --json`).")


class HistoryRowIn(StrictModel):
    order_id: str = Field(min_length=1, max_length=128)
    customer_id: str = Field(min_length=1, max_length=128)
    date: str = Field(min_length=10, max_length=40, description="YYYY-MM-DD, or ISO 8601 with a time zone")
    total: str = Field(min_length=1, max_length=32, description="Decimal, at least 0")
    sku: str | None = Field(default=None, min_length=1, max_length=64)
    category: str | None = Field(default=None, min_length=1, max_length=64)
    quantity: int | None = Field(default=None, ge=1, le=1_000_000)


class HistoryImportIn(StrictModel):
    store_id: Identifier
    rows: list[HistoryRowIn] = Field(min_length=1, max_length=MAX_HISTORY_ROWS)


class HistoryImportOut(StrictModel):
    import_id: str
    orders: int
    lines: int
    customers_enrolled: int
