"""What ``credance reconcile`` found, kept for the console's dashboard: one row per run (the
command writes it, in one place, after the check or the repair); the dashboard shows the latest.
The upkeep (``credance loyalty maintain``) does not run reconcile: it re-reads every log of the
deployment, so an operator runs it (or schedules it) with ``credance reconcile``."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session, col, select

from backend.db.engine import session_scope
from backend.db.models import ReconcileRun
from backend.indexer.reconcile import ReconcileReport


def record_run(engine: Engine, report: ReconcileReport) -> None:
    run = ReconcileRun(
        chain_id=report.chain_id,
        block=report.block,
        ok=report.ok,
        differences=len(report.differences),
        repaired=report.repaired,
        summary=report.summary()[:2000],
    )
    with session_scope(engine, write=True) as session:
        session.add(run)


def latest_run(session: Session) -> dict[str, Any] | None:
    run = session.exec(select(ReconcileRun).order_by(col(ReconcileRun.id).desc()).limit(1)).first()
    if run is None:
        return None
    return {
        "at": run.at,
        "chain_id": run.chain_id,
        "block": run.block,
        "ok": run.ok,
        "differences": run.differences,
        "repaired": run.repaired,
        "summary": run.summary,
    }
