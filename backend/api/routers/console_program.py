"""The console's program pages (admin): campaigns (they live in the rule set: listed here, edited
in the rule-set editor), partner programs and their members' conversions, the transfer policy,
stores and retailers, API keys (created, shown once, revoked) and prediction runs. Each form is
checked by the API route's own request model and does what its route does, through the same
function (``keys.issue_key``/``keys.revoke``, ``stores.add_store``, ``retailers.add_retailer``,
``predictions.run_day`` and ``runs.run``, ``partners``' and ``transfers``' domain functions): no
second copy of a rule. Every page is a ``FormPage``: the route's policy first, the session's CSRF
token on every form, one unit of work per action."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from backend import lists
from backend.api.deps import StateDep
from backend.api.policy import ADMIN
from backend.api.routers.console_pages import FormPage, User, _allowed, _context, _validated, form_fields, router_for
from backend.api.routers.keys import ApiKeyIn, issue_key, revoke
from backend.api.routers.predictions import run_day
from backend.api.routers.retailers import add_retailer
from backend.api.routers.stores import add_store
from backend.api.schemas.consent import RetailerIn
from backend.api.schemas.loyalty import StoreIn
from backend.api.schemas.predictive import PredictionRunIn
from backend.api.schemas.program import PartnerIn, PartnerPatch, TransferPolicyIn
from backend.db.models import Customer, Operation, PartnerConversion, Retailer, Store
from backend.loyalty.partners import create_partner, list_partners, update_partner
from backend.loyalty.program import rules_in_force
from backend.loyalty.transfers import pending_policy, policy_in_force, set_policy
from backend.predictive import runs
from backend.web import dashboard
from backend.web.console import ConsoleUser
from backend.web.pages import page

router = router_for()
CONVERSIONS_SHOWN = 50


# -- campaigns ----------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    with Session(state.engine) as session:
        record, _ = rules_in_force(session)
    content = json.loads(record.content)
    shown = _context(user, "campaigns", campaigns=content.get("campaigns", []), version=record.version)
    return page(request, "console/campaigns.html", shown)


# -- partners and conversions ------------------------------------------------------------------


def _partners(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    """The partner programs, and their latest conversions (members convert with their own token,
    ``POST /v1/partners/{id}/conversions``: the console shows them, never makes one)."""
    conversions = session.exec(
        select(PartnerConversion, Customer.external_id, Operation.status)
        .join(Customer, col(Customer.id) == col(PartnerConversion.customer_id))
        .join(Operation, col(Operation.id) == col(PartnerConversion.operation_id), isouter=True)
        .order_by(col(PartnerConversion.id).desc())
        .limit(CONVERSIONS_SHOWN)
    ).all()
    return {
        "partners": list_partners(session),
        "conversions": [
            {"conversion": c, "member": member, "status": status or "unknown"} for c, member, status in conversions
        ],
    }


PARTNERS = FormPage("console/partners.html", "partners", ADMIN, _partners)
NUMBERS = ("max_points_per_conversion", "daily_cap_per_customer")


@router.get("/partners")
def partners(request: Request, user: User, state: StateDep) -> Response:
    return PARTNERS.show(request, user, state)


@router.post("/partners")
async def add_partner(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/partners`` does."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(PartnerIn, form_fields(form, NUMBERS))
        with state.write() as session:
            create_partner(
                session, body.id, body.name, body.rate, body.max_points_per_conversion, body.daily_cap_per_customer
            )
        return {"done": f"Partner {body.id} added."}

    return await PARTNERS.submit(request, user, state, ("id", "name", "rate", *NUMBERS), act)


@router.post("/partners/{partner_id}")
async def change_partner(request: Request, partner_id: str, user: User, state: StateDep) -> Response:
    """What ``PATCH /v1/partners/{id}`` does: rate, caps, on or off."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        fields = form_fields(form, NUMBERS)
        fields["active"] = fields.get("active") == "on"
        body = _validated(PartnerPatch, fields)
        with state.write() as session:
            update_partner(session, partner_id[:64], body.model_dump(exclude_unset=True, exclude_none=True))
        return {"done": f"Partner {partner_id} changed."}

    return await PARTNERS.submit(request, user, state, ("rate", *NUMBERS, "active"), act)


# -- the transfer policy ------------------------------------------------------------------------


def _transfers(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    pending = pending_policy(session)
    return {"policy": policy_in_force(session), "pending": json.loads(pending.payload) if pending else None}


TRANSFERS = FormPage("console/transfer_policy.html", "transfers", ADMIN, _transfers)


@router.get("/transfer-policy")
def transfer_policy(request: Request, user: User, state: StateDep) -> Response:
    return TRANSFERS.show(request, user, state)


@router.post("/transfer-policy")
async def change_transfer_policy(request: Request, user: User, state: StateDep) -> Response:
    """What ``PUT /v1/transfer-policy`` does: queues ``setTransferPolicy``, in force once mirrored."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        fields = form_fields(form, ("daily_cap",))
        fields["enabled"] = fields.get("enabled") == "on"
        body = _validated(TransferPolicyIn, fields)
        with state.write() as session:
            set_policy(session, body.enabled, body.daily_cap)
        return {"done": "The new policy is on its way to the chain."}

    return await TRANSFERS.submit(request, user, state, ("enabled", "daily_cap"), act)


# -- stores and retailers -----------------------------------------------------------------------


def _stores(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    return {
        "stores": session.exec(select(Store).order_by(col(Store.id))).all(),
        "retailers": session.exec(select(Retailer).order_by(col(Retailer.id))).all(),
    }


STORES = FormPage("console/stores.html", "stores", ADMIN, _stores)


@router.get("/stores")
def stores(request: Request, user: User, state: StateDep) -> Response:
    return STORES.show(request, user, state)


@router.post("/stores")
async def create_store(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/stores`` does."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(StoreIn, form_fields(form))
        with state.write() as session:
            add_store(session, body)
        return {"done": f"Store {body.id} added."}

    return await STORES.submit(request, user, state, ("id", "name", "currency", "retailer_id"), act)


@router.post("/retailers")
async def create_retailer(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/retailers`` does."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(RetailerIn, form_fields(form))
        with state.write() as session:
            add_retailer(session, body)
        return {"done": f"Retailer {body.id} added."}

    return await STORES.submit(request, user, state, ("id", "name"), act)


# -- keys ---------------------------------------------------------------------------------------


def _keys(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    q = request.query_params.get("q", "")[:100]
    found = lists.list_api_keys(session, q=q or None, limit=50, cursor=request.query_params.get("cursor"))
    return {"page": found, "q": q}


KEYS = FormPage("console/keys.html", "keys", ADMIN, _keys)


@router.get("/keys")
def keys(request: Request, user: User, state: StateDep) -> Response:
    return KEYS.show(request, user, state)


@router.post("/keys")
async def create_key(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/api-keys`` does; the new key is shown once, on this answer only."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(ApiKeyIn, form_fields(form))
        with state.write() as session:
            return {"issued": issue_key(session, body)}

    return await KEYS.submit(request, user, state, ("role", "store_id", "org_id", "retailer_id", "label"), act)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, user: User, state: StateDep) -> Response:
    """What ``DELETE /v1/api-keys/{key_id}`` does (this session's own key too: it then ends)."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        revoke(state, key_id[:32])
        return {"done": f"Key {key_id} revoked."}

    return await KEYS.submit(request, user, state, (), act)


# -- prediction runs ----------------------------------------------------------------------------


def _predictions(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    return {
        "runs": [runs.run_view(r) for r in runs.list_runs(session, 20)],
        "predictions": dashboard.predictions(session),
    }


PREDICTIONS = FormPage("console/predictions.html", "predictions", ADMIN, _predictions)


@router.get("/predictions")
def predictions(request: Request, user: User, state: StateDep) -> Response:
    return PREDICTIONS.show(request, user, state)


@router.post("/predictions")
async def start_prediction_run(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/predictions/runs`` does: fits, scores and publishes the ``predicted:``
    segments, or records a refused run below the rules' minimum of data."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        fields = form_fields(form)
        fields["backtest"] = fields.get("backtest") == "on"
        body = _validated(PredictionRunIn, fields)
        day = run_day(body.as_of)
        with state.write() as session:
            outcome = runs.run(session, day, "console", evaluate=body.backtest)
            shown = runs.run_view(outcome.run)
        return {"started": shown}

    return await PREDICTIONS.submit(request, user, state, ("as_of", "backtest"), act)
