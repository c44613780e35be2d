"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import Depends, FastAPI
from sqlalchemy import Engine

from backend import __version__
from backend.api import error_responses
from backend.api.auth import KeyVerifier
from backend.api.checkout import CheckoutFastPath
from backend.api.deps import AppState
from backend.api.routers import (
    assets,
    consent,
    customers,
    docs,
    epcis,
    health,
    keys,
    member_pages,
    members,
    organisations,
    partners,
    predictions,
    products,
    purchases,
    refunds,
    reports,
    retailers,
    rewards,
    rule_sets,
    stores,
    transfers,
    verification,
)
from backend.api.security import SecurityMiddleware, SecurityPolicy, single_valued_query
from backend.api.writer import GroupCommitWriter
from backend.db.engine import make_engine
from backend.loyalty import refs
from backend.loyalty.purchases import record_purchases
from backend.observability import HttpMetrics
from backend.settings import Settings, get_settings


def create_app(
    settings: Settings | None = None, engine: Engine | None = None, checkout_fast_path: bool = True
) -> FastAPI:
    """The API. ``checkout_fast_path=False`` leaves every purchase to the FastAPI route (the
    reference the fast path is tested against)."""
    settings = settings or get_settings()
    refs.configure(settings)  # the secret that keys every reference leaving the platform
    owns_engine = engine is None
    engine = engine or make_engine(settings.resolved_database_url)

    purchase_writer = GroupCommitWriter(engine, record_purchases)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        purchase_writer.close()
        if owns_engine:
            engine.dispose()

    app = FastAPI(
        title="Credance",
        version=__version__,
        description="Blockchain-backed loyalty points and product provenance. "
        "Authenticate with `Authorization: Bearer <API key or customer token>`; verification pages are public. "
        "Who may call what: docs/security/policy.md.",
        lifespan=lifespan,
        dependencies=[Depends(single_valued_query)],
        docs_url=None,  # our own /docs (routers/docs.py): nothing loaded from another origin
        redoc_url=None,
        swagger_ui_oauth2_redirect_url=None,
    )
    verifier = KeyVerifier(engine)
    app.state.credance = AppState(settings=settings, engine=engine, verifier=verifier, purchases=purchase_writer)
    if checkout_fast_path:  # inside the security middleware: its limits and checks apply first
        app.add_middleware(CheckoutFastPath, verifier=verifier, purchases=purchase_writer)
    app.add_middleware(SecurityMiddleware, policy=SecurityPolicy.from_settings(settings), verifier=verifier)
    error_responses.install(app)
    app.add_middleware(HttpMetrics)
    for module in (health, docs, purchases, customers, retailers, stores, keys, organisations, products, epcis,
                   verification):  # fmt: skip
        app.include_router(module.router)
    app.include_router(consent.router)  # customer tokens, till codes, Sign-In with Ethereum
    for module in (refunds, members, rewards, transfers, partners, rule_sets, reports, predictions):  # the program
        app.include_router(module.router)
    for module in (assets, member_pages):  # the pages people use (docs/web.md)
        app.include_router(module.router)
    member_pages.install(app)
    return app
