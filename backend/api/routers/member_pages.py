"""The member's pages at ``/me/`` (phone first): balance, tier, history with each purchase's
explanation, rewards with redeem, transfer to a friend, a one-time till code, and how to check it
all on chain. Signed in by a session cookie (``backend/web/sessions.py``); every form carries the
session's CSRF token. Each action calls the same domain function as its API route, under the same
policy decision (``policy.decide``: the token's scopes), so a page can do nothing the member's
token could not. docs/web.md describes the pages."""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from eth_utils import is_address, to_checksum_address
from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from sqlmodel import Session

from backend.api.deps import AppState, StateDep, app_state
from backend.api.policy import (
    COLLECTIBLE,
    MEMBER_SESSION,
    PASSPORT,
    PUBLIC,
    REDEEM,
    TILL_CODE,
    TRANSFER,
    Context,
    Facts,
    Policy,
    decide,
)
from backend.api.routers.customers.consent import expectations
from backend.api.token_domain import chain_id_of
from backend.consent import siwe
from backend.consent.till_codes import issue_code
from backend.consent.tokens import ALL_SCOPES
from backend.db.models import Customer
from backend.db.types import utcnow
from backend.errors import DomainError, NotFound, Unprocessable
from backend.loyalty import collectible_transfers, polls, tickets
from backend.loyalty.accounts import balance_of
from backend.loyalty.collectibles import addresses_of, holdings
from backend.loyalty.customers import get_customer
from backend.loyalty.rewards import RedemptionInput, list_rewards, redeem, redemptions_of
from backend.loyalty.transfers import TransferInput, policy_in_force, transfer
from backend.provenance import passports as passport_rules
from backend.web import member as view
from backend.web import qr, sessions
from backend.web.forms import read_form, required, whole_number
from backend.web.pages import NO_STORE, page, refusal
from backend.web.sessions import CSRF_FIELD, CsrfRefused, MemberSession, SignInNeeded

router = APIRouter(prefix="/me", include_in_schema=False)
Member = Annotated[MemberSession, Depends(MEMBER_SESSION)]
Public = [Depends(PUBLIC)]
MOST_POINTS = 10**12


def install(app: FastAPI) -> None:
    """The pages' refusals: a page for people, the API's JSON for programs."""

    async def refused(request: Request, error: Exception) -> Response:
        assert isinstance(error, DomainError)
        if isinstance(error, SignInNeeded):
            return _sign_in_form(request, app_state(request), error=error)
        return refusal(request, error)

    app.add_exception_handler(SignInNeeded, refused)
    app.add_exception_handler(CsrfRefused, refused)


def _context(member: MemberSession, section: str, **extra: Any) -> dict[str, Any]:
    return {"member": member, "csrf": member.csrf, "section": section, **extra}


def _allowed(policy: Policy, member: MemberSession) -> None:
    """The decision the API route would take for this member's token (its scopes)."""
    decide(policy, member.principal, Facts(customer_id=member.customer_id), Context(lambda _: None))


def _customer(session: Session, member: MemberSession) -> Customer:
    return get_customer(session, member.customer_id)


async def _form(request: Request, member: MemberSession, *fields: str) -> dict[str, str]:
    """The posted form, once its CSRF token is the session's (every form of a session goes through here)."""
    form = await read_form(request, frozenset({CSRF_FIELD, *fields}))
    sessions.check_csrf(member, form.get(CSRF_FIELD))
    return form


# -- signing in and out ---------------------------------------------------------------------


@router.get("", dependencies=Public)
def home_slash() -> RedirectResponse:
    return RedirectResponse("/me/", status_code=308)


def _sign_in_form(
    request: Request, state: AppState, token: str = "", error: DomainError | None = None, signed_out: bool = False
) -> Response:
    """The sign-in form, with a fresh double-submit CSRF value (cookie and hidden field)."""
    csrf = secrets.token_urlsafe(24)
    context = {"token": token[:200], "csrf": csrf, "section": "sign-in", "signed_out": signed_out}
    response = (
        refusal(request, error, "me/sign_in.html", context) if error else page(request, "me/sign_in.html", context)
    )
    sessions.set_sign_in_cookie(response, state.settings, csrf)
    return response


@router.get("/sign-in", dependencies=Public)
def sign_in_page(request: Request, state: StateDep, token: str = "", signed_out: bool = False) -> Response:
    """The sign-in form (a one-time link fills in its token; nothing is used until the member
    presses the button, so a link previewer opening the link does not spend it)."""
    return _sign_in_form(request, state, token, signed_out=signed_out)


@router.post("/sign-in", dependencies=Public)
async def sign_in(request: Request, state: StateDep) -> Response:
    form = await read_form(request, frozenset({CSRF_FIELD, "token"}))
    try:
        sessions.check_sign_in_csrf(request, form.get(CSRF_FIELD))
        with state.write() as session:
            token, _ = sessions.exchange(session, state.settings, form.get("token", ""))
    except DomainError as error:
        return _sign_in_form(request, state, error=error)
    response = RedirectResponse("/me/", status_code=303)
    sessions.set_session_cookie(response, state.settings, token)
    response.delete_cookie(sessions.SIGN_IN_COOKIE, path=sessions.PATH)
    return response


@router.post("/siwe/message", dependencies=Public)
async def siwe_message(request: Request, state: StateDep) -> JSONResponse:
    """Sign-In with Ethereum from the sign-in page (``static/siwe.js``): the exact EIP-4361 text
    for the wallet to sign, with a fresh nonce (rendered here so the page needs no hashing code
    for the address's checksum). Asked with the sign-in form's CSRF value."""
    form = await read_form(request, frozenset({CSRF_FIELD, "address"}))
    sessions.check_sign_in_csrf(request, form.get(CSRF_FIELD))
    address = form.get("address", "")
    if not is_address(address):
        raise Unprocessable("address must be an Ethereum address (0x and 40 hex digits)", field="address")
    with state.write() as session:
        expect = expectations(state, chain_id_of(state, session))
        record = siwe.issue_nonce(session, timedelta(seconds=state.settings.siwe_nonce_ttl))
        nonce, expires = record.nonce, record.expires_at
    now = utcnow()
    message = siwe.SiweMessage(
        domain=expect.domain,
        address=to_checksum_address(address),
        uri=f"{expect.origin}/me",
        version="1",
        chain_id=expect.chain_id,
        nonce=nonce,
        issued_at=_stamp(now),
        statement=expect.statement,
        expiration_time=_stamp(min(expires, now + timedelta(minutes=5))),
    )
    return JSONResponse({"message": message.render()}, headers=NO_STORE)


def _stamp(at: datetime) -> str:
    return at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@router.post("/siwe", dependencies=Public)
async def siwe_sign_in(request: Request, state: StateDep) -> Response:
    """The wallet's signature of that message: a session for the member who claimed the wallet
    (all scopes, as ``POST /v1/siwe/sessions`` gives; the same checks, by the same function)."""
    form = await read_form(request, frozenset({CSRF_FIELD, "message", "signature"}))
    try:
        sessions.check_sign_in_csrf(request, form.get(CSRF_FIELD))
        with state.write() as session:
            expect = expectations(state, chain_id_of(state, session))
            # A browser posts a form's line ends as CR LF; the wallet signed the LF text we wrote.
            message = form.get("message", "").replace("\r\n", "\n")
            customer = siwe.sign_in(session, message, form.get("signature", ""), expect)
            token = sessions.start(session, state.settings, customer, f"siwe:{customer.wallet}", ALL_SCOPES)
    except DomainError as error:
        return _sign_in_form(request, state, error=error)
    response = RedirectResponse("/me/", status_code=303)
    sessions.set_session_cookie(response, state.settings, token)
    response.delete_cookie(sessions.SIGN_IN_COOKIE, path=sessions.PATH)
    return response


@router.post("/sign-out")
async def sign_out(request: Request, member: Member, state: StateDep) -> Response:
    await _form(request, member)
    with state.write() as session:
        sessions.end(session, member)
    state.verifier.forget({member.token_id})
    response = RedirectResponse("/me/sign-in?signed_out=1", status_code=303)
    sessions.clear_session_cookie(response, state.settings)
    return response


# -- reading ----------------------------------------------------------------------------------


@router.get("/")
def overview(request: Request, member: Member, state: StateDep) -> Response:
    with Session(state.engine) as session:
        shown = view.overview(session, _customer(session, member))
    return page(request, "me/overview.html", _context(member, "home", **shown))


@router.get("/balance")
def balance_fragment(request: Request, member: Member, state: StateDep) -> Response:
    """The balance card alone (the overview page refreshes it while points are on their way)."""
    with Session(state.engine) as session:
        shown = view.overview(session, _customer(session, member))
    return page(request, "me/_balance.html", _context(member, "home", **shown))


@router.get("/history")
def history(request: Request, member: Member, state: StateDep) -> Response:
    with Session(state.engine) as session:
        customer = _customer(session, member)
        shown = {"entries": view.ledger(session, customer), "purchases": view.purchases(session, customer)}
    return page(request, "me/history.html", _context(member, "history", **shown))


@router.get("/purchases/{store_id}/{order_id}")
def purchase(request: Request, store_id: str, order_id: str, member: Member, state: StateDep) -> Response:
    """One purchase and why it earned what it did (a receipt's QR code opens this page)."""
    with Session(state.engine) as session:
        found = view.own_purchase(session, _customer(session, member), store_id, order_id)
        if found is None:  # another member's purchase looks exactly like none at all
            return refusal(
                request,
                NotFound(f"you have no purchase {order_id!r} at {store_id!r}", field="order_id"),
                context=_context(member, "history"),
            )
        shown = view.purchase_view(session, found)
    return page(request, "me/purchase.html", _context(member, "history", purchase=shown))


@router.get("/purchases/{store_id}/{order_id}/qr.svg", dependencies=Public)
def receipt_qr(store_id: str, order_id: str, state: StateDep) -> Response:
    """The QR code a receipt carries: the link to this purchase on the member's page (no data of
    the member in it; the page shows the purchase only to the member it belongs to)."""
    url = qr.receipt_url(state.settings.resolved_public_url, store_id[:64], order_id[:128])
    return Response(qr.svg(url), media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"})


@router.get("/check")
def check(request: Request, member: Member, state: StateDep) -> Response:
    with Session(state.engine) as session:
        customer = _customer(session, member)
        balance = balance_of(session, customer)
        proof = view.check_it_yourself(state.settings, chain_id_of(state, session), balance)
    return page(
        request,
        "me/check.html",
        _context(member, "check", balance=balance, proof=proof, rpc=state.settings.resolved_rpc_url),
    )


# -- acting -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class MemberPage:
    """A member page with forms: what it shows (``load``, for the signed-in member), and how each
    of its forms is answered (``submit``): the CSRF token first, then the decision the API route
    takes for the member's token, then the action in its one unit of work; a refusal shows the page
    again with the message."""

    template: str
    section: str
    load: Callable[[Session, MemberSession], dict[str, Any]] = lambda _session, _member: {}

    def context(self, state: AppState, member: MemberSession, **extra: Any) -> dict[str, Any]:
        with Session(state.engine) as session:
            return _context(member, self.section, **self.load(session, member), **extra)

    def show(self, request: Request, member: MemberSession, state: AppState, **extra: Any) -> Response:
        return page(request, self.template, self.context(state, member, **extra))

    async def submit(
        self,
        request: Request,
        member: MemberSession,
        state: AppState,
        policy: Policy,
        fields: tuple[str, ...],
        act: Callable[[dict[str, str]], dict[str, Any]],
    ) -> Response:
        """``act`` gets the form and answers what the page shows on success."""
        form = await _form(request, member, *fields)
        try:
            _allowed(policy, member)
            shown = act(form)
        except DomainError as error:
            return refusal(request, error, self.template, self.context(state, member))
        return self.show(request, member, state, **shown)


def _new_id() -> str:
    """A command id for the next form (a form sent twice is one redemption or transfer)."""
    return f"web-{secrets.token_hex(8)}"


def _rewards(session: Session, member: MemberSession) -> dict[str, Any]:
    customer = _customer(session, member)
    return {
        "rewards": list_rewards(session, include_inactive=False),
        "available": balance_of(session, customer).available,
        "redemptions": redemptions_of(session, customer, 10),
        "redemption_id": _new_id(),
    }


REWARDS = MemberPage("me/rewards.html", "rewards", _rewards)


@router.get("/rewards")
def rewards(request: Request, member: Member, state: StateDep) -> Response:
    return REWARDS.show(request, member, state)


@router.post("/rewards/redeem")
async def redeem_reward(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        command = RedemptionInput(
            customer_id=member.customer_id,
            redemption_id=required(form, "redemption_id"),
            reward_id=required(form, "reward_id", 64),
            quantity=whole_number(form, "quantity", 1, 100),
            permit=None,
        )
        with state.write() as session:
            return {"done": redeem(session, command).body}

    return await REWARDS.submit(request, member, state, REDEEM, ("reward_id", "redemption_id", "quantity"), act)


def _transfer(session: Session, member: MemberSession) -> dict[str, Any]:
    return {
        "policy": policy_in_force(session),
        "available": balance_of(session, _customer(session, member)).available,
        "transfer_id": _new_id(),
    }


TRANSFER_PAGE = MemberPage("me/transfer.html", "transfer", _transfer)


@router.get("/transfer")
def transfer_page(request: Request, member: Member, state: StateDep) -> Response:
    return TRANSFER_PAGE.show(request, member, state)


@router.post("/transfer")
async def give_points(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        command = TransferInput(
            member.customer_id,
            required(form, "to_customer_id"),
            required(form, "transfer_id"),
            whole_number(form, "amount", 1, MOST_POINTS),
        )
        with state.write() as session:
            return {"done": transfer(session, command).body}

    return await TRANSFER_PAGE.submit(
        request, member, state, TRANSFER, ("to_customer_id", "amount", "transfer_id"), act
    )


def _passports(session: Session, member: MemberSession) -> dict[str, Any]:
    return {**view.passports(session, _customer(session, member)), "transfer_id": _new_id()}


PASSPORTS = MemberPage("me/passports.html", "passports", _passports)


@router.get("/passports")
def passports_page(request: Request, member: Member, state: StateDep) -> Response:
    return PASSPORTS.show(request, member, state)


@router.post("/passports/transfer")
async def give_passport(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        command = passport_rules.TransferInput(
            member.customer_id,
            required(form, "token_id"),
            required(form, "transfer_id"),
            required(form, "to_customer_id"),
        )
        with state.write() as session:
            return {"done": passport_rules.transfer_passport(session, command).body}

    return await PASSPORTS.submit(request, member, state, PASSPORT, ("token_id", "to_customer_id", "transfer_id"), act)


TILL_CODE_PAGE = MemberPage("me/till_code.html", "till")


@router.get("/till-code")
def till_code_page(request: Request, member: Member, state: StateDep) -> Response:
    return TILL_CODE_PAGE.show(request, member, state)


@router.post("/till-code")
async def new_till_code(request: Request, member: Member, state: StateDep) -> Response:
    def act(_form: dict[str, str]) -> dict[str, Any]:
        with state.write() as session:
            ttl = timedelta(seconds=state.settings.till_code_ttl)
            code, record = issue_code(session, _customer(session, member), member.token_id, ttl)
            expires = record.expires_at
        return {"code": code, "expires_at": expires, "qr": qr.data_uri(code)}

    return await TILL_CODE_PAGE.submit(request, member, state, TILL_CODE, (), act)


# -- collectibles: held, shown as a ticket, voted with (the API's functions, under COLLECTIBLE) ------


def _collectibles(session: Session, member: MemberSession) -> dict[str, Any]:
    customer = _customer(session, member)
    assert customer.id is not None
    held = holdings(session, addresses_of(customer))
    in_custody = collectible_transfers.custody_by_edition(session, customer.address)
    leaving = {h.edition for h in held if collectible_transfers.in_flight_transfer(session, customer.id, h.edition)}
    return {
        "holdings": held,
        "polls": polls.polls_of_editions(session, customer, [h.edition for h in held]),
        "custodial": customer.wallet is None,
        # what the platform may give on the member's behalf, and what is on its way already
        "in_custody": {edition: copies for edition, copies in in_custody.items() if edition not in leaving},
        "leaving": leaving,
        "transfer_id": _new_id(),
    }


COLLECTIBLES = MemberPage("me/collectibles.html", "collectibles", _collectibles)


@router.get("/collectibles")
def collectibles_page(request: Request, member: Member, state: StateDep) -> Response:
    return COLLECTIBLES.show(request, member, state)


@router.post("/collectibles/ticket")
async def show_ticket(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        edition = whole_number(form, "edition", 1, 2**63 - 1)
        with Session(state.engine) as session:
            issued = tickets.issue_ticket(session, _customer(session, member), edition)
        return {"ticket": issued, "qr": qr.data_uri(issued.code)}

    return await COLLECTIBLES.submit(request, member, state, COLLECTIBLE, ("edition",), act)


@router.post("/collectibles/vote")
async def vote(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        poll_id = whole_number(form, "poll_id", 1, 2**63 - 1)
        option = whole_number(form, "option", 0, 19)
        with state.write() as session:
            polls.relay_vote(session, _customer(session, member), poll_id, option)
        return {"voted": poll_id}

    return await COLLECTIBLES.submit(request, member, state, COLLECTIBLE, ("poll_id", "option"), act)


@router.post("/collectibles/transfer")
async def give_collectible(request: Request, member: Member, state: StateDep) -> Response:
    def act(form: dict[str, str]) -> dict[str, Any]:
        command = collectible_transfers.CollectibleTransferInput(
            member.customer_id,
            whole_number(form, "edition", 1, 2**63 - 1),
            required(form, "transfer_id"),
            required(form, "to_customer_id"),
            whole_number(form, "amount", 1, 2**63 - 1),
        )
        with state.write() as session:
            return {"given": collectible_transfers.transfer_collectible(session, command).body}

    fields = ("edition", "to_customer_id", "amount", "transfer_id")
    return await COLLECTIBLES.submit(request, member, state, COLLECTIBLE, fields, act)
