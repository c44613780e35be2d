"""The naive baseline of the read benchmark: the API with the balance and history routes as they
were before issue 13 — sync FastAPI routes with a session dependency, the ORM functions
``accounts.balance_of`` / ``history_of`` (about ten queries a balance), no fast path, no cache.
Everything else (the per-process budget, admission, key look-ups off the event loop) is today's,
so the baseline no longer stalls: it measures the read path itself.

``uvicorn bench._naive_reads:app`` (bench/stack.py starts it beside the real API).
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, FastAPI, Query

from backend.api.app import create_app
from backend.api.deps import SessionDep
from backend.api.policy import BALANCE, MEMBER_READ, Access
from backend.api.schemas.loyalty import BalanceOut, HistoryOut
from backend.indexer.confirmed import View, mirror_point
from backend.loyalty.accounts import balance_of, history_of
from backend.loyalty.customers import get_customer
from backend.loyalty.in_flight import active_address
from backend.loyalty.members import tier_events

NAIVE_PATHS = {"/v1/customers/{customer_id}/balance", "/v1/customers/{customer_id}/history"}


def get_balance(
    customer_id: str, access: Annotated[Access, Depends(BALANCE)], session: SessionDep, view: View = View.LATEST
) -> dict:
    customer = get_customer(session, customer_id)
    balance = balance_of(session, customer, view=view)
    return {"customer_id": customer_id, **balance.__dict__}


def get_history(
    customer_id: str,
    access: Annotated[Access, Depends(MEMBER_READ)],
    session: SessionDep,
    limit: int = Query(50, ge=1, le=500),
    offset: int = Query(0, ge=0, le=1_000_000),
    view: View = View.LATEST,
) -> dict:
    customer = get_customer(session, customer_id)
    assert customer.id is not None
    point = mirror_point(session, view)
    return {
        "customer_id": customer_id,
        "address": active_address(customer),
        "as_of_block": point.as_of_block,
        "confirmed_block": point.confirmed_block,
        "view": point.view,
        "entries": history_of(session, customer, limit=limit, offset=offset, view=view),
        "tier_events": tier_events(session, customer.id) if offset == 0 else [],
    }


def create_naive_app() -> FastAPI:
    app = create_app(read_fast_path=False)
    app.router.routes = [r for r in app.router.routes if getattr(r, "path", None) not in NAIVE_PATHS]
    app.add_api_route("/v1/customers/{customer_id}/balance", get_balance, response_model=BalanceOut)
    app.add_api_route("/v1/customers/{customer_id}/history", get_history, response_model=HistoryOut)
    return app


app = create_naive_app()
