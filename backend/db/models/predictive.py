"""Predictive loyalty: imported past orders, prediction runs and what each run published (per-member
predictions, item neighbours and popular items), and how often a member used a limited campaign.

Runs write these tables (and the ``predicted:`` segments of ``customer_segments``); nothing else
does. A member's predictions go with the erasure of their personal data.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal

from sqlalchemy import BigInteger, Column, Float, Index, Text, UniqueConstraint
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, DecimalText, time_column, utcnow


def _float() -> Column[float]:
    return Column(Float, nullable=False)


class HistoryOrder(SQLModel, table=True):
    """A past order imported so that a new program does not start blind: it earns nothing, never
    goes on chain, and counts only as purchase history for the models."""

    __tablename__ = "history_orders"
    __table_args__ = (
        UniqueConstraint("store_id", "order_id", name="uq_history_orders_store_order"),
        Index("ix_history_orders_customer_ordered", "customer_id", "ordered_at"),
    )

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    store_id: str = Field(foreign_key="stores.id", max_length=64)
    order_id: str = Field(max_length=128)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id")
    ordered_at: datetime = Field(sa_column=time_column())
    total: Decimal = Field(sa_column=Column(DecimalText, nullable=False))
    import_id: str = Field(max_length=64, index=True, description="The import that brought the order.")
    imported_at: datetime = Field(default_factory=utcnow, sa_column=time_column())


class HistoryLine(SQLModel, table=True):
    """A line of an imported order, when the file named its SKUs (recommendations and affinities)."""

    __tablename__ = "history_lines"

    order_pk: int = Field(sa_type=BigIntId, foreign_key="history_orders.id", primary_key=True)
    line_no: int = Field(primary_key=True)
    sku: str = Field(max_length=64)
    category: str | None = Field(default=None, max_length=64)
    quantity: int = 1
    amount: Decimal = Field(sa_column=Column(DecimalText, nullable=False))


class PredictionRun(SQLModel, table=True):
    """One run of the models: as of a day, with the rule version whose ``predictive`` section it
    applied, its backtest and what it published (``summary``, JSON), or why it refused to."""

    __tablename__ = "prediction_runs"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    as_of: str = Field(max_length=10, description="YYYY-MM-DD: transactions of that day and before.")
    status: str = Field(max_length=16, description="published, refused or failed")
    trigger: str = Field(max_length=16, description="cli, api or upkeep")
    rule_version: int | None = None
    horizon_days: int
    reason: str = Field(default="", sa_column=Column(Text, nullable=False))
    summary: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    started_at: datetime = Field(default_factory=utcnow, sa_column=time_column())
    finished_at: datetime | None = Field(default=None, sa_column=time_column(nullable=True))


class CustomerPrediction(SQLModel, table=True):
    """A member's figures in a run: the inputs (in days), both models' answers over the run's
    horizon, the expected spend and value, and the segments the rules gave them (``control``:
    held out of every offer, so the uplift is measured)."""

    __tablename__ = "customer_predictions"
    __table_args__ = (Index("ix_customer_predictions_customer_run", "customer_id", "run_id"),)

    run_id: int = Field(sa_type=BigIntId, foreign_key="prediction_runs.id", primary_key=True)
    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", primary_key=True)
    repeat_days: int = Field(description="x: days with a purchase after the first")
    recency_days: int = Field(description="t_x: first to last purchase day")
    age_days: int = Field(description="T: first purchase day to the run's day")
    mean_spend: float = Field(sa_column=_float(), description="mean net spend of the repeat days")
    bgnbd_p_alive: float = Field(sa_column=_float())
    bgnbd_expected: float = Field(sa_column=_float())
    bgnbd_p_none: float = Field(sa_column=_float())
    pnbd_p_alive: float = Field(sa_column=_float())
    pnbd_expected: float = Field(sa_column=_float())
    pnbd_p_none: float = Field(sa_column=_float())
    expected_spend: float = Field(sa_column=_float())
    clv: float = Field(sa_column=_float())
    control: bool = False
    segments: str = Field(default="[]", sa_column=Column(Text, nullable=False), description="JSON list")


class PredictedNeighbour(SQLModel, table=True):
    """Items bought by the same members (cosine of their buyer sets), top few per item and level."""

    __tablename__ = "predicted_neighbours"

    run_id: int = Field(sa_type=BigIntId, foreign_key="prediction_runs.id", primary_key=True)
    level: str = Field(max_length=16, primary_key=True, description="sku or category")
    item: str = Field(max_length=64, primary_key=True)
    neighbour: str = Field(max_length=64, primary_key=True)
    score: float = Field(sa_column=_float())


class PopularItem(SQLModel, table=True):
    """The items most members bought in the run's window, by level."""

    __tablename__ = "popular_items"

    run_id: int = Field(sa_type=BigIntId, foreign_key="prediction_runs.id", primary_key=True)
    level: str = Field(max_length=16, primary_key=True)
    rank: int = Field(primary_key=True)
    item: str = Field(max_length=64)
    buyers: int = Field(sa_type=BigInteger)


class CampaignUse(SQLModel, table=True):
    """How many orders of a member a campaign with a per-member limit has rewarded."""

    __tablename__ = "campaign_uses"

    customer_id: int = Field(sa_type=BigIntId, foreign_key="customers.id", primary_key=True)
    campaign_id: str = Field(max_length=64, primary_key=True)
    uses: int = Field(default=0, sa_type=BigInteger)
