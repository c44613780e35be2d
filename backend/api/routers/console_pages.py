"""The program console at ``/console/``: a dashboard with charts, the program (rule sets with a
preview and their on-chain hash, rewards and stock, members), provenance (products, recalls) and
API keys, each list searchable, paged (the API's lists, ``lists.py``) and exported as CSV.

Signed in with an API key exchanged for a session (``backend/web/console.py``). Every page and
action is decided by the API route's own policy for the key's principal (``_allowed``) and calls
the same domain function as that route: the console can do nothing its key could not do through
the API. An organisation sees its own products and recalls; an admin everything. docs/web.md
describes the pages.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError
from sqlmodel import Session, col, select

from backend import lists
from backend.api.deps import AppState, StateDep, app_state
from backend.api.policy import (
    ADMIN,
    BRAND_LIST,
    CONSOLE_SESSION,
    MEMBER_READ,
    PUBLIC,
    Access,
    Context,
    Facts,
    Policy,
    decide,
)
from backend.api.routers.customers.profile import erase, member_view
from backend.api.schemas.program import RewardIn, SegmentsIn
from backend.db.models import RuleSetRecord
from backend.db.pages import MAX_LIMIT, Page
from backend.db.types import utcnow
from backend.errors import DomainError, Unprocessable
from backend.loyalty.customers import get_customer
from backend.loyalty.members import set_segments
from backend.loyalty.program import publish_document, rule_set_view, rules_in_force
from backend.loyalty.rewards import create_reward, update_reward
from backend.loyalty.rule_document import RuleDocument
from backend.loyalty.rules import OrderLine, QuoteContext, quote
from backend.predictive.policy import is_predicted
from backend.web import console, csv_export, dashboard
from backend.web import member as member_view_parts
from backend.web.console import CONSOLE_COOKIE, ConsoleSignInNeeded, ConsoleUser
from backend.web.forms import read_form
from backend.web.pages import NO_STORE, page, refusal
from backend.web.sessions import CSRF_FIELD, check_csrf, check_sign_in_csrf, set_sign_in_cookie


class ConsoleRoute(APIRoute):
    """A console page's refusal (a policy's 403, a 404, a 422) is a page for people and the API's
    JSON for programs (``pages.refusal``), wherever in the page it was raised."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def handle(request: Request) -> Response:
            try:
                return await handler(request)
            except ConsoleSignInNeeded:
                raise  # the sign-in form (``install``)
            except DomainError as error:
                return refusal(request, error)

        return handle


def router_for() -> APIRouter:
    """A router of console pages (this module's, and the other ``console_*`` modules')."""
    return APIRouter(prefix="/console", include_in_schema=False, route_class=ConsoleRoute)


router = router_for()
User = Annotated[ConsoleUser, Depends(CONSOLE_SESSION)]
Public = [Depends(PUBLIC)]
LONGEST_DOCUMENT = 20_000


def install(app: FastAPI) -> None:
    """Without a session the console answers its sign-in form (401), or the API's JSON error."""

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, ConsoleSignInNeeded)
        return _sign_in_form(request, app_state(request), error=error)

    app.add_exception_handler(ConsoleSignInNeeded, refused)


def _allowed(policy: Policy, user: ConsoleUser, org_id: str | None = None) -> Access:
    """The decision the API route would take for the session's key (403 naming the field)."""
    return decide(policy, user.principal, Facts(org_id=org_id), Context(lambda _: None))


def _context(user: ConsoleUser, section: str, **extra: Any) -> dict[str, Any]:
    return {"user": user, "csrf": user.csrf, "section": section, **extra}


async def _form(request: Request, user: ConsoleUser, *fields: str) -> dict[str, str]:
    form = await read_form(request, frozenset({CSRF_FIELD, *fields}))
    check_csrf(user, form.get(CSRF_FIELD))
    return form


def form_fields(form: dict[str, str], numbers: tuple[str, ...] = ()) -> dict[str, Any]:
    """A form's filled fields, numbers as numbers (the API's models take JSON numbers)."""
    fields: dict[str, Any] = {k: v.strip() for k, v in form.items() if k != CSRF_FIELD and v.strip() != ""}
    for name in numbers:
        if fields.get(name, "").isdigit():
            fields[name] = int(fields[name])
    return fields


def _org_in_path(request: Request) -> str | None:
    """The organisation a page's path names (``/console/organisations/{org_id}``), for its policy."""
    org_id = request.path_params.get("org_id")
    return str(org_id) if org_id is not None else None


@dataclass(frozen=True)
class FormPage:
    """A console page with forms: what it shows (``load``, for the session's user), and how each of
    its forms is answered (``submit``): the route's policy first (a refusal is the bare error,
    never the page: an organisation's session must not read an admin's page through a refused
    post), the fields and the CSRF token, then the action in its one unit of work; a refusal of
    the action shows the page again with the message and what was typed."""

    template: str
    section: str
    policy: Policy
    load: Callable[[Session, ConsoleUser, Request], dict[str, Any]]

    def show(
        self, request: Request, user: ConsoleUser, state: AppState, error: DomainError | None = None, **extra: Any
    ) -> Response:
        _allowed(self.policy, user, _org_in_path(request))
        with Session(state.engine) as session:
            shown = _context(user, self.section, **self.load(session, user, request), **extra)
        if error is not None:
            return refusal(request, error, self.template, shown)
        return page(request, self.template, shown)

    async def submit(
        self,
        request: Request,
        user: ConsoleUser,
        state: AppState,
        fields: tuple[str, ...],
        act: Callable[[dict[str, str]], dict[str, Any]],
        policy: Policy | None = None,
    ) -> Response:
        """``act`` gets the form and answers what the page shows on success (``done=…``)."""
        _allowed(policy or self.policy, user, _org_in_path(request))
        form = await _form(request, user, *fields)
        try:
            shown = act(form)
        except DomainError as error:
            return self.show(request, user, state, error, form=form)
        return self.show(request, user, state, **shown)


M = TypeVar("M", bound=BaseModel)


def _validated(model: type[M], data: dict[str, Any]) -> M:
    """A form checked by the API's own request model (422 naming the first field at fault)."""
    try:
        return model.model_validate(data)
    except ValidationError as error:
        first = error.errors()[0]
        field = ".".join(str(p) for p in first["loc"]) or "body"
        raise Unprocessable(f"{field}: {first['msg']}", field=field) from None


# -- signing in and out ---------------------------------------------------------------------


def _sign_in_form(request: Request, state: AppState, error: DomainError | None = None, out: bool = False) -> Response:
    csrf = secrets.token_urlsafe(24)
    context = {"csrf": csrf, "section": "sign-in", "signed_out": out}
    name = "console/sign_in.html"
    response = refusal(request, error, name, context) if error else page(request, name, context)
    set_sign_in_cookie(response, state.settings, csrf, path=console.PATH)
    return response


@router.get("", dependencies=Public)
def console_slash() -> RedirectResponse:
    return RedirectResponse("/console/", status_code=308)


@router.get("/sign-in", dependencies=Public)
def sign_in_page(request: Request, state: StateDep, signed_out: bool = False) -> Response:
    return _sign_in_form(request, state, out=signed_out)


@router.post("/sign-in", dependencies=Public)
async def sign_in(request: Request, state: StateDep) -> Response:
    form = await read_form(request, frozenset({CSRF_FIELD, console.KEY_FIELD}))
    try:
        check_sign_in_csrf(request, form.get(CSRF_FIELD))
        with state.write() as session:
            token = console.open_session(
                session, state.settings, state.verifier, form.get(console.KEY_FIELD, ""), request.scope
            )
    except DomainError as error:
        return _sign_in_form(request, state, error=error)
    response = RedirectResponse("/console/", status_code=303)
    CONSOLE_COOKIE.set(response, state.settings, token, state.settings.console_session_ttl)
    response.delete_cookie("credance_sign_in", path=console.PATH)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, user: User, state: StateDep) -> Response:
    await _form(request, user)
    with state.write() as session:
        console.close_session(session, user)
    response = RedirectResponse("/console/sign-in?signed_out=true", status_code=303)
    CONSOLE_COOKIE.clear(response, state.settings)
    return response


# -- the dashboard ----------------------------------------------------------------------------


@router.get("/")
def home(request: Request, user: User, state: StateDep) -> Response:
    """An admin's dashboard; an organisation's console opens on its products."""
    if not user.is_admin:
        return RedirectResponse("/console/products", status_code=303)
    with Session(state.engine) as session:
        shown = dashboard.dashboard(session)
    return page(request, "console/dashboard.html", _context(user, "dashboard", **shown))


@router.get("/dashboard.json")
def dashboard_data(user: User, state: StateDep) -> JSONResponse:
    """The charts' series (``static/console.js`` draws them with uPlot)."""
    _allowed(ADMIN, user)
    with Session(state.engine) as session:
        per_day = dashboard.points_per_day(session, utcnow().date())
        tiers = dashboard.members_per_tier(session)
    return JSONResponse({"per_day": per_day, "tiers": tiers}, headers=NO_STORE)


@router.get("/points-per-day.csv")
def points_per_day_csv(user: User, state: StateDep) -> Response:
    """The dashboard's report as CSV: each of the last 30 days, its points issued, redeemed,
    expired and reversed, and the points outstanding at its end."""
    _allowed(ADMIN, user)
    with Session(state.engine) as session:
        series = dashboard.points_per_day(session, utcnow().date())
    names = [name for name in series if name != "days"]
    rows = [{"day": day, **{name: series[name][n] for name in names}} for n, day in enumerate(series["days"])]
    return csv_answer("points-per-day", rows)


# -- rule sets --------------------------------------------------------------------------------


def _rules_context(state: AppState, user: ConsoleUser, **extra: Any) -> dict[str, Any]:
    with Session(state.engine) as session:
        record, _ = rules_in_force(session)
        current = rule_set_view(session, record)
        records = session.exec(select(RuleSetRecord).order_by(col(RuleSetRecord.version).desc()).limit(20)).all()
        versions = [rule_set_view(session, r, content=False) for r in records]
    document = extra.pop("document", None) or json.dumps(current["content"], indent=2)
    return _context(user, "rules", current=current, versions=versions, document=document, **extra)


@router.get("/rule-sets")
def rule_sets(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN, user)
    return page(request, "console/rule_sets.html", _rules_context(state, user))


def _document(text: str) -> RuleDocument:
    if len(text) > LONGEST_DOCUMENT:
        raise Unprocessable(f"the rule document is longer than {LONGEST_DOCUMENT} characters", field="document")
    try:
        data = json.loads(text)
    except ValueError as error:
        raise Unprocessable(f"the rule document is not JSON: {error}", field="document") from None
    if not isinstance(data, dict):
        raise Unprocessable("the rule document is a JSON object", field="document")
    return _validated(RuleDocument, data)


def _example_order(form: dict[str, str]) -> list[OrderLine]:
    try:
        price = Decimal(form.get("unit_price", ""))
        quantity = int(form.get("quantity", ""))
    except (InvalidOperation, ValueError):
        raise Unprocessable("the example order needs a quantity and a unit price", field="unit_price") from None
    if not (0 < quantity <= 1000 and 0 <= price <= 1_000_000):
        raise Unprocessable("quantity 1 to 1000, unit price 0 to 1,000,000", field="quantity")
    sku = form.get("sku", "") or "SKU"
    return [OrderLine(sku[:64], quantity, price, form.get("category") or None)]


@router.post("/rule-sets")
async def rule_set_action(request: Request, user: User, state: StateDep) -> Response:
    """``action=preview``: the points an example order earns under the edited rules (nothing is
    stored); ``action=publish``: what ``POST /v1/rule-sets`` does."""
    form = await _form(request, user, "action", "document", "sku", "category", "quantity", "unit_price")
    text = form.get("document", "")
    try:
        _allowed(ADMIN, user)
        document = _document(text)
        if form.get("action") == "publish":
            with state.write() as session:
                record, created = publish_document(session, document.model_dump(mode="json"))
                session.flush()
                published = {"version": record.version, "created": created, "hash": record.content_hash}
            return page(request, "console/rule_sets.html", _rules_context(state, user, published=published))
        rules = document.to_rule_set(0)
        points = quote(_example_order(form), rules, QuoteContext(at=utcnow()))
        preview = {"points": points.points, "explanation": points.explanation(rules), "hash": rules.content_hash()}
        return page(request, "console/rule_sets.html", _rules_context(state, user, document=text, preview=preview))
    except DomainError as error:
        return refusal(request, error, "console/rule_sets.html", _rules_context(state, user, document=text))


# -- rewards ----------------------------------------------------------------------------------


def _rewards_context(state: AppState, user: ConsoleUser, q: str | None, cursor: str | None, **extra: Any) -> Any:
    with Session(state.engine) as session:
        found = lists.list_rewards_page(session, True, q, MAX_LIMIT, cursor)
    return _context(user, "rewards", rewards=found.rows, after=found.after, q=q or "", **extra)


@router.get("/rewards")
def rewards(request: Request, user: User, state: StateDep, q: str | None = None, cursor: str | None = None) -> Any:
    _allowed(ADMIN, user)
    return page(request, "console/rewards.html", _rewards_context(state, user, q, cursor))


@router.post("/rewards")
async def add_reward(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/rewards`` does (its request model checks the form)."""
    form = await _form(request, user, "id", "name", "points_price", "stock", "description")
    try:
        _allowed(ADMIN, user)
        fields: dict[str, Any] = {k: v for k, v in form.items() if k != CSRF_FIELD and v != ""}
        for name in ("points_price", "stock"):  # the API's model takes numbers, a form sends text
            if fields.get(name, "").isdigit():
                fields[name] = int(fields[name])
        body = _validated(RewardIn, fields)
        with state.write() as session:
            create_reward(session, body.id, body.name, body.points_price, body.stock, body.description)
    except DomainError as error:
        return refusal(request, error, "console/rewards.html", _rewards_context(state, user, None, None, form=form))
    done = f"Reward {form['id']} added."
    return page(request, "console/rewards.html", _rewards_context(state, user, None, None, done=done))


@router.post("/rewards/{reward_id}")
async def change_reward(request: Request, reward_id: str, user: User, state: StateDep) -> Response:
    """Stock and availability, as ``PATCH /v1/rewards/{id}`` changes them."""
    form = await _form(request, user, "stock", "active")
    try:
        _allowed(ADMIN, user)
        stock = form.get("stock", "")
        if stock and not stock.isdigit():
            raise Unprocessable("stock is a whole number, or empty for unlimited", field="stock")
        with state.write() as session:
            update_reward(session, reward_id[:64], {"stock": int(stock) if stock else None, "active": "active" in form})
    except DomainError as error:
        return refusal(request, error, "console/rewards.html", _rewards_context(state, user, None, None))
    done = f"Reward {reward_id} changed."
    return page(request, "console/rewards.html", _rewards_context(state, user, None, None, done=done))


# -- members ----------------------------------------------------------------------------------


@router.get("/members")
def members(request: Request, user: User, state: StateDep, q: str | None = None, cursor: str | None = None) -> Any:
    _allowed(ADMIN, user)
    with Session(state.engine) as session:
        found = lists.list_customers(session, q or None, 50, cursor)
    return page(request, "console/members.html", _context(user, "members", page=found, q=q or ""))


@router.get("/members/{customer_id}")
def member(request: Request, customer_id: str, user: User, state: StateDep) -> Response:
    return _member_page(request, customer_id, user, state)


def _member_page(request: Request, customer_id: str, user: ConsoleUser, state: AppState, **extra: Any) -> Response:
    """A member's profile (personal data: the console is an admin's), balance, ledger and purchases."""
    _allowed(MEMBER_READ, user)
    with Session(state.engine) as session:
        profile = member_view(session, customer_id, personal_data=True)
        customer = get_customer(session, customer_id)
        shown = {
            "profile": profile,
            "overview": member_view_parts.overview(session, customer),
            "entries": member_view_parts.ledger(session, customer),
            "purchases": lists.list_purchases(session, customer_id=customer_id, limit=20).rows,
            "hand_set": [s for s in profile["segments"] if not is_predicted(s)],
        }
    return page(request, "console/member.html", _context(user, "members", **shown, **extra))


@router.post("/members/{customer_id}/erase")
async def erase_member(request: Request, customer_id: str, user: User, state: StateDep) -> Response:
    """``DELETE /v1/customers/{id}/personal-data``, the same function."""
    await _form(request, user)
    _allowed(ADMIN, user)
    access = decide(ADMIN, user.principal, Facts(), Context(lambda _: None))
    erase(customer_id[:128], access, state)
    return _member_page(request, customer_id, user, state, done="Personal data erased.")


@router.post("/members/{customer_id}/segments")
async def set_member_segments(request: Request, customer_id: str, user: User, state: StateDep) -> Response:
    """What ``PUT /v1/customers/{id}/segments`` does (campaigns target segments): the hand-set
    ones, separated by commas (``predicted:`` ones are the prediction runs', refused here)."""
    _allowed(ADMIN, user)
    form = await _form(request, user, "segments")
    names = [name.strip() for name in form.get("segments", "").split(",") if name.strip()]
    body = _validated(SegmentsIn, {"segments": names})
    with state.write() as session:
        set_segments(session, get_customer(session, customer_id[:128]), body.segments)
    return _member_page(request, customer_id, user, state, done="Segments saved.")


# -- provenance, keys, purchases: the API's lists -----------------------------------------------


def _brand_of(user: ConsoleUser, brand_id: str | None) -> str | None:
    """An organisation's own brand (another one is refused by the policy); an admin's choice."""
    _allowed(BRAND_LIST, user, brand_id or None)
    return user.org_id if not user.is_admin else (brand_id or None)


# -- CSV --------------------------------------------------------------------------------------

EXPORTS: dict[str, tuple[Policy, Callable[[Session, ConsoleUser, str | None, str | None], Page[Any]]]] = {
    "members": (ADMIN, lambda s, u, q, c: lists.list_customers(s, q, MAX_LIMIT, c)),
    "purchases": (ADMIN, lambda s, u, q, c: lists.list_purchases(s, q=q, limit=MAX_LIMIT, cursor=c)),
    "keys": (ADMIN, lambda s, u, q, c: lists.list_api_keys(s, q=q, limit=MAX_LIMIT, cursor=c)),
    "products": (BRAND_LIST, lambda s, u, q, c: lists.list_products(s, _brand_of(u, None), q, MAX_LIMIT, c)),
    "recalls": (BRAND_LIST, lambda s, u, q, c: lists.list_recalls(s, _brand_of(u, None), None, q, MAX_LIMIT, c)),
}


@router.get("/export/{name}.csv")
def export(name: str, user: User, state: StateDep, q: str | None = None) -> Response:
    """A list, every page of it, as CSV (spreadsheet-safe: ``csv_export``)."""
    if name not in EXPORTS:
        raise Unprocessable(f"no list {name!r} to export (one of {', '.join(EXPORTS)})", field="name")
    policy, fetch = EXPORTS[name]
    _allowed(policy, user)
    with Session(state.engine) as session:
        rows = csv_export.every_row(lambda cursor: fetch(session, user, q or None, cursor))
    return csv_answer(name, rows)


def csv_answer(name: str, rows: list[dict[str, Any]]) -> Response:
    """Rows as a CSV download (``credance-<name>-<date>.csv``)."""
    filename = f"credance-{name}-{utcnow().date().isoformat()}.csv"
    return Response(
        csv_export.to_csv(rows),
        media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": f'attachment; filename="{filename}"'},
    )
