"""The console's program pages (admin): campaigns (they live in the rule set: listed here, edited
in the rule-set editor), partner programs, the transfer policy, stores and retailers, and API
keys (created, shown once, revoked). Each form is checked by the API route's own request model
and does what its route does, through the same function (``keys.issue_key``/``keys.revoke``,
``stores.add_store``, ``partners``' and ``transfers``' domain functions): no second copy of a rule.
Every form carries the session's CSRF token; every action is decided by the route's policy."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session, col, select

from backend import lists
from backend.api.deps import AppState, StateDep
from backend.api.policy import ADMIN
from backend.api.routers.console_pages import User, _allowed, _context, _form, _validated, router_for
from backend.api.routers.keys import ApiKeyIn, issue_key, revoke
from backend.api.routers.stores import add_store
from backend.api.schemas.loyalty import StoreIn
from backend.api.schemas.program import PartnerIn, PartnerPatch, TransferPolicyIn
from backend.db.models import Retailer, Store
from backend.errors import DomainError
from backend.loyalty.partners import create_partner, list_partners, update_partner
from backend.loyalty.program import rules_in_force
from backend.loyalty.transfers import pending_policy, policy_in_force, set_policy
from backend.web.console import ConsoleUser
from backend.web.pages import page, refusal
from backend.web.sessions import CSRF_FIELD

router = router_for()


def _fields(form: dict[str, str], numbers: tuple[str, ...] = ()) -> dict[str, Any]:
    """A form's filled fields, numbers as numbers (the API's models take JSON numbers)."""
    fields: dict[str, Any] = {k: v.strip() for k, v in form.items() if k != CSRF_FIELD and v.strip() != ""}
    for name in numbers:
        if fields.get(name, "").isdigit():
            fields[name] = int(fields[name])
    return fields


# -- campaigns ----------------------------------------------------------------------------------


@router.get("/campaigns")
def campaigns(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    with Session(state.engine) as session:
        record, _ = rules_in_force(session)
    content = json.loads(record.content)
    shown = _context(user, "campaigns", campaigns=content.get("campaigns", []), version=record.version)
    return page(request, "console/campaigns.html", shown)


# -- partners -----------------------------------------------------------------------------------


def _partners_page(
    request: Request, user: ConsoleUser, state: AppState, error: DomainError | None = None, **extra: Any
) -> Response:
    with Session(state.engine) as session:
        shown = _context(user, "partners", partners=list_partners(session), **extra)
    if error is not None:
        return refusal(request, error, "console/partners.html", shown)
    return page(request, "console/partners.html", shown)


@router.get("/partners")
def partners(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    return _partners_page(request, user, state)


@router.post("/partners")
async def add_partner(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/partners`` does."""
    form = await _form(request, user, "id", "name", "rate", "max_points_per_conversion", "daily_cap_per_customer")
    try:
        _allowed(ADMIN, user)
        body = _validated(PartnerIn, _fields(form, ("max_points_per_conversion", "daily_cap_per_customer")))
        with state.write() as session:
            create_partner(
                session, body.id, body.name, body.rate, body.max_points_per_conversion, body.daily_cap_per_customer
            )
    except DomainError as error:
        return _partners_page(request, user, state, error, form=form)
    return _partners_page(request, user, state, done=f"Partner {form['id']} added.")


@router.post("/partners/{partner_id}")
async def change_partner(request: Request, partner_id: str, user: User, state: StateDep) -> Response:
    """What ``PATCH /v1/partners/{id}`` does: rate, caps, on or off."""
    form = await _form(request, user, "rate", "max_points_per_conversion", "daily_cap_per_customer", "active")
    try:
        _allowed(ADMIN, user)
        fields = _fields(form, ("max_points_per_conversion", "daily_cap_per_customer"))
        fields["active"] = fields.get("active") == "on"
        body = _validated(PartnerPatch, fields)
        with state.write() as session:
            update_partner(session, partner_id[:64], body.model_dump(exclude_unset=True, exclude_none=True))
    except DomainError as error:
        return _partners_page(request, user, state, error)
    return _partners_page(request, user, state, done=f"Partner {partner_id} changed.")


# -- the transfer policy ------------------------------------------------------------------------


def _transfer_page(
    request: Request, user: ConsoleUser, state: AppState, error: DomainError | None = None, **extra: Any
) -> Response:
    with Session(state.engine) as session:
        policy = policy_in_force(session)
        pending = pending_policy(session)
        shown = _context(
            user,
            "transfers",
            policy=policy,
            pending=json.loads(pending.payload) if pending is not None else None,
            **extra,
        )
    if error is not None:
        return refusal(request, error, "console/transfer_policy.html", shown)
    return page(request, "console/transfer_policy.html", shown)


@router.get("/transfer-policy")
def transfer_policy(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    return _transfer_page(request, user, state)


@router.post("/transfer-policy")
async def change_transfer_policy(request: Request, user: User, state: StateDep) -> Response:
    """What ``PUT /v1/transfer-policy`` does: queues ``setTransferPolicy``, in force once mirrored."""
    form = await _form(request, user, "enabled", "daily_cap")
    try:
        _allowed(ADMIN, user)
        fields = _fields(form, ("daily_cap",))
        fields["enabled"] = fields.get("enabled") == "on"
        body = _validated(TransferPolicyIn, fields)
        with state.write() as session:
            set_policy(session, body.enabled, body.daily_cap)
    except DomainError as error:
        return _transfer_page(request, user, state, error)
    return _transfer_page(request, user, state, done="The new policy is on its way to the chain.")


# -- stores -------------------------------------------------------------------------------------


def _stores_page(
    request: Request, user: ConsoleUser, state: AppState, error: DomainError | None = None, **extra: Any
) -> Response:
    with Session(state.engine) as session:
        stores = session.exec(select(Store).order_by(col(Store.id))).all()
        retailers = session.exec(select(Retailer).order_by(col(Retailer.id))).all()
        shown = _context(user, "stores", stores=stores, retailers=retailers, **extra)
    if error is not None:
        return refusal(request, error, "console/stores.html", shown)
    return page(request, "console/stores.html", shown)


@router.get("/stores")
def stores(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    return _stores_page(request, user, state)


@router.post("/stores")
async def create_store(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/stores`` does."""
    form = await _form(request, user, "id", "name", "currency", "retailer_id")
    try:
        _allowed(ADMIN, user)
        body = _validated(StoreIn, _fields(form))
        with state.write() as session:
            add_store(session, body)
    except DomainError as error:
        return _stores_page(request, user, state, error, form=form)
    return _stores_page(request, user, state, done=f"Store {form['id']} added.")


# -- keys ---------------------------------------------------------------------------------------


def _keys_page(
    request: Request, user: ConsoleUser, state: AppState, error: DomainError | None = None, **extra: Any
) -> Response:
    q = request.query_params.get("q", "")[:100]
    with Session(state.engine) as session:
        found = lists.list_api_keys(session, q=q or None, limit=50, cursor=request.query_params.get("cursor"))
        shown = _context(user, "keys", page=found, q=q, **extra)
    if error is not None:
        return refusal(request, error, "console/keys.html", shown)
    return page(request, "console/keys.html", shown)


@router.get("/keys")
def keys(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    return _keys_page(request, user, state)


@router.post("/keys")
async def create_key(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/api-keys`` does; the new key is shown once, on this answer only."""
    form = await _form(request, user, "role", "store_id", "org_id", "retailer_id", "label")
    try:
        _allowed(ADMIN, user)
        body = _validated(ApiKeyIn, _fields(form))
        with state.write() as session:
            issued = issue_key(session, body)
    except DomainError as error:
        return _keys_page(request, user, state, error, form=form)
    return _keys_page(request, user, state, issued=issued)


@router.post("/keys/{key_id}/revoke")
async def revoke_key(request: Request, key_id: str, user: User, state: StateDep) -> Response:
    """What ``DELETE /v1/api-keys/{key_id}`` does (this session's own key too: it then ends)."""
    await _form(request, user)
    try:
        _allowed(ADMIN, user)
        revoke(state, key_id[:32])
    except DomainError as error:
        return _keys_page(request, user, state, error)
    return _keys_page(request, user, state, done=f"Key {key_id} revoked.")
