"""The audit log of admin actions, and the results of ``credance reconcile``.

``AuditEntry``: one row per write (POST, PUT, PATCH, DELETE) that an admin, organisation or
program key (or a console session opened with one) sent, whether it was done or refused
(``backend/api/audit.py`` writes them, in one place for the API and the console). Who (the key
id, never the secret; the console session's public id), what (the method, the route template
and the ids in the path), when and how it ended (the status). Never a body, a query string, a
name or an e-mail: customer ids appear only as path references.

``ReconcileRun``: what the last ``credance reconcile`` found (the console's dashboard shows it).
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, Index, Text
from sqlmodel import Field, SQLModel

from backend.db.types import BigIntId, UTCDateTime, utcnow


class AuditEntry(SQLModel, table=True):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_org_id_id", "org_id", "id"),)

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False, index=True))
    key_id: str = Field(max_length=32, index=True, description="The API key's public id.")
    role: str = Field(max_length=16)
    org_id: str | None = Field(default=None, max_length=64, description="The organisation of an organisation key.")
    console_session: str | None = Field(default=None, max_length=32, description="The console session's public id.")
    method: str = Field(max_length=8)
    route: str = Field(max_length=200, description="The route template, e.g. /v1/rewards/{reward_id}.")
    path_ids: str = Field(default="{}", sa_column=Column(Text, nullable=False))
    status: int
    outcome: str = Field(max_length=8, description="done, refused (4xx) or failed (5xx).")


class ReconcileRun(SQLModel, table=True):
    __tablename__ = "reconcile_runs"

    id: int | None = Field(default=None, sa_type=BigIntId, primary_key=True)
    at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))
    chain_id: int = Field(sa_type=BigInteger)
    block: int = Field(sa_type=BigInteger)
    ok: bool
    differences: int
    repaired: bool = False
    summary: str = Field(sa_column=Column(Text, nullable=False))
