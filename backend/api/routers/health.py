"""Operations endpoints: liveness, readiness and Prometheus metrics (no API key: meant for the
load balancer and the scraper on the private network)."""

from __future__ import annotations

import time
from functools import lru_cache
from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST
from sqlmodel import Session

from backend.api.deps import StateDep
from backend.api.policy import PUBLIC
from backend.db.models import ChainCursor
from backend.indexer.rpc import JsonRpc, RpcError
from backend.observability import metrics_registry, render

router = APIRouter(tags=["operations"], dependencies=[Depends(PUBLIC)])

HEAD_FRESH_SECONDS = 30.0  # the indexer's own view of the head stands in when the node does not answer


@router.get("/healthz", summary="Liveness: the API process answers")
async def healthz() -> dict[str, str]:
    """Answered by the admission layer before any limit (backend/api/admission.py); this route
    documents it and gives the same answer where that layer is not installed."""
    return {"status": "ok"}


@lru_cache(maxsize=8)
def _node(url: str) -> JsonRpc:
    return JsonRpc(url, timeout=2.0)


def _chain_head(url: str) -> int | None:
    try:
        return _node(url).block_number()
    except RpcError:
        return None


@router.get(
    "/readyz",
    summary="Readiness: the database answers and the mirror is within CREDANCE_READY_MAX_LAG blocks of the chain",
    responses={503: {"description": "Not ready: the reason is in the body"}},
)
def readyz(state: StateDep) -> JSONResponse:
    max_lag = state.settings.ready_max_lag
    try:
        with Session(state.engine) as session:
            cursor = session.get(ChainCursor, "indexer")
    except Exception:
        return _not_ready("the database does not answer")
    if cursor is None or not cursor.block_hash:
        return _not_ready("the indexer has not mirrored any block yet")
    head = _chain_head(state.settings.resolved_rpc_url)
    source = "node"
    if head is None:
        if time.time() - cursor.checked_at.timestamp() > HEAD_FRESH_SECONDS:
            return _not_ready("the chain does not answer and the indexer has not polled it recently")
        head, source = cursor.head_block, "indexer"
    lag = max(0, head - cursor.block_number)
    body: dict[str, Any] = {
        "indexer_block": cursor.block_number,
        "chain_head": head,
        "head_from": source,
        "lag": lag,
        "max_lag": max_lag,
        "confirmed_block": cursor.confirmed_block,
    }
    if lag > max_lag:
        return _not_ready(f"the mirror is {lag} blocks behind the chain (at most {max_lag})", body)
    return JSONResponse({"status": "ready", **body})


def _not_ready(reason: str, details: dict[str, Any] | None = None) -> JSONResponse:
    return JSONResponse({"status": "not_ready", "reason": reason, **(details or {})}, status_code=503)


@router.get(
    "/metrics",
    summary="Prometheus metrics (text exposition format)",
    response_class=Response,
    responses={
        200: {"description": "Prometheus text exposition", "content": {"text/plain": {"schema": {"type": "string"}}}}
    },
)
def metrics(request: Request, state: StateDep) -> Response:
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        registry = request.app.state.metrics_registry = metrics_registry(state.engine)
    return Response(render(registry), media_type=CONTENT_TYPE_LATEST)
