"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import anyio
import anyio.to_thread
from fastapi import APIRouter, Depends, FastAPI
from sqlalchemy import Engine

from backend import __version__
from backend.api import error_responses, verification_fast
from backend.api.admission import Admission, AdmissionMiddleware, Gates
from backend.api.answers import VerificationAnswers
from backend.api.audit import AuditMiddleware
from backend.api.auth import KeyVerifier
from backend.api.budget import Budget
from backend.api.checkout import CheckoutFastPath
from backend.api.deps import AppState
from backend.api.reads import MemberReads, ReadFastPath
from backend.api.route_facts import RouteTable
from backend.api.routers import (
    assets,
    audit_log,
    collectibles,
    console_audit,
    console_collectibles,
    console_organisations,
    console_pages,
    console_program,
    console_provenance,
    customers,
    docs,
    epcis,
    epcis_rest,
    health,
    keys,
    lists,
    member_pages,
    organisations,
    partners,
    passports,
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
from backend.api.verification_fast import VerificationFastPath
from backend.api.writer import GroupCommitWriter
from backend.db.engine import make_engine
from backend.loyalty import refs
from backend.loyalty.purchases import record_purchases
from backend.observability import HttpMetrics
from backend.settings import Settings, get_settings

ROUTERS: tuple[APIRouter, ...] = (
    *(m.router for m in (health, docs, purchases, retailers, stores, keys, organisations, products)),
    lists.router,  # GET lists with search and cursor pagination
    *customers.ROUTERS,  # every /v1/customers/{id}/… route, and Sign-In with Ethereum
    *(m.router for m in (epcis, epcis_rest, verification, passports, collectibles)),
    *(m.router for m in (refunds, rewards, transfers, partners, rule_sets, reports, predictions, audit_log)),
    *(
        m.router
        for m in (
            assets,
            member_pages,
            console_pages,
            console_program,
            console_provenance,
            console_organisations,
            console_audit,
            console_collectibles,
        )
    ),  # the pages people use (docs/web.md)
)


def create_app(
    settings: Settings | None = None,
    engine: Engine | None = None,
    checkout_fast_path: bool = True,
    read_fast_path: bool = True,
    verification_fast_path: bool = True,
) -> FastAPI:
    """The API. ``checkout_fast_path=False`` leaves every purchase to the FastAPI route,
    ``read_fast_path=False`` every balance and history read, and ``verification_fast_path=False``
    every verification link (the references the fast paths are
    tested against)."""
    settings = settings or get_settings()
    refs.configure(settings)  # the secret that keys every reference leaving the platform
    budget = Budget.from_settings(settings)
    owns_engine = engine is None
    engine = engine or make_engine(settings.resolved_database_url, pool_size=budget.pool_size)

    purchase_writer = GroupCommitWriter(engine, record_purchases)
    answers = VerificationAnswers(engine, settings)
    member_reads = MemberReads(str(engine.url.render_as_string(hide_password=False)), budget.read_threads)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        # Sync routes and their dependencies: one thread per session-class request in flight.
        anyio.to_thread.current_default_thread_limiter().total_tokens = budget.threads
        yield
        purchase_writer.close()
        answers.close()  # the scans queued so far are committed
        member_reads.close()
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
        # Metrics are Prometheus' (/metrics) and logs structlog's: FastAPI's OpenTelemetry bridge,
        # on by default, would look for OpenTelemetry providers on every request for nothing.
        telemetry={"tracing": False, "metrics": False, "logs": False, "operation_spans": False},
    )
    verifier = KeyVerifier(engine, anyio.CapacityLimiter(budget.lookup_threads))
    gates = Gates(budget)  # admission's, shared with the verification fast path (admission.py)
    app.state.credance = AppState(
        settings=settings, engine=engine, verifier=verifier, purchases=purchase_writer, reads=member_reads
    )
    app.state.answers = answers
    app.state.gates = gates  # admission's slots (diagnostics, tests)
    app.add_middleware(AuditMiddleware, engine=engine)  # innermost: admin writes, once routed (audit.py)
    if verification_fast_path:  # inside the security middleware, like the checkout's
        secret = settings.scan_client_secret.get_secret_value() if settings.scan_client_secret else None
        app.add_middleware(
            VerificationFastPath, answers=answers, home=settings.resolved_home, secret=secret, gates=gates
        )
    if read_fast_path:
        app.add_middleware(ReadFastPath, verifier=verifier, reads=member_reads)
    # Outside the read fast path (a purchase never pays for its path check), inside the security
    # middleware: its limits and checks apply first.
    if checkout_fast_path:
        app.add_middleware(CheckoutFastPath, verifier=verifier, purchases=purchase_writer)
    routes = RouteTable()  # filled from the routes' own declarations once they are included, below
    app.add_middleware(
        SecurityMiddleware, policy=SecurityPolicy.from_settings(settings), verifier=verifier, routes=routes
    )
    error_responses.install(app)
    admission = Admission(gates, routes, verification_fast.takes if verification_fast_path else None)
    app.state.early_answers = admission  # what the HTTP protocol answers itself (http_protocol.py)
    app.add_middleware(AdmissionMiddleware, admission=admission)  # outside the guards: a refusal costs least
    app.add_middleware(HttpMetrics)
    for router in ROUTERS:
        app.include_router(router)
    member_pages.install(app)
    console_pages.install(app)
    verification.install_compressed_links(app)  # when no route matched: compressed Digital Links
    routes.load(route for router in ROUTERS for route in router.routes)  # included without a prefix
    return app
