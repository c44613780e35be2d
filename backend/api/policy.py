"""Who may call what: typed principals and the policy every route declares.

A route declares one policy as a dependency (``Annotated[Access, Depends(POLICY)]``, or ``PUBLIC``).
A policy lists the kinds of principal it admits (``Grant``) and what each is bound to:

* ``store``: the store the request names (path, query or body). A checkout key acts only for its
  own store (named or not: unnamed means its own); a program key for the stores of its retailer;
  an admin for any.
* ``customer``: the customer the request names. A customer token acts only for its own customer,
  and only with the ``scope`` the grant asks for.
* ``organisation``: an organisation key acts only for its own organisation.
* consent (``till_code``, ``customer_token``): spending a customer's points needs the customer's
  consent on top of the caller's key: at a till, the one-time code the customer shows (its
  presence is checked here, its value in the unit of work that spends); for a partner conversion
  the admin forwards the customer's token in ``X-Customer-Token``.

``decide`` is the one decision function: the routes (through the dependency) and the checkout
fast path (``checkout.py``) both call it, so they cannot disagree. What is named in the body is
read from the JSON FastAPI has already parsed, before validation: a value that is not a string
binds nothing, and validation then refuses the request, so the value the policy checked is the
value the route gets. Ownership of goods (does this brand own this GTIN) stays a domain rule in
``backend/provenance``; the policy decides who may call a route for which store, customer or
organisation.

``policy_table.py`` lists every route with its policy (docs/security/policy.md is generated from
it, and a test fails on a route without one).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, Literal

import anyio.to_thread
from fastapi import Depends, Header, Request
from sqlalchemy import Engine
from sqlmodel import Session

from backend.api.auth import Principal, Role
from backend.api.deps import Unauthorized, app_state, get_principal
from backend.consent.tokens import Scope
from backend.db.models import Store
from backend.errors import Forbidden, Unprocessable
from backend.web.console import ConsoleUser, console_user
from backend.web.sessions import MemberSession, member_of

Location = Literal["path", "query", "body", "header"]
CUSTOMER_TOKEN_HEADER = "X-Customer-Token"  # noqa: S105 (a header name)


@dataclass(frozen=True)
class Named:
    """Where a request names something (a store, a customer, a code)."""

    where: Location
    name: str

    def describe(self) -> str:
        return f"{self.where} `{self.name}`"


def path(name: str) -> Named:
    return Named("path", name)


def query(name: str) -> Named:
    return Named("query", name)


def body(name: str) -> Named:
    return Named("body", name)


@dataclass(frozen=True)
class Grant:
    """One kind of principal a policy admits, and what it is bound to."""

    role: Role
    store: Named | None = None
    customer: Named | None = None
    organisation: Named | None = None
    scope: Scope | None = None  # customer tokens (the caller's, or the forwarded consent token)
    till_code: Named | None = None  # consent at a till: the customer's one-time code
    till_code_when: Named | None = None  # … needed only when this body number is positive
    customer_token: bool = False  # consent forwarded in X-Customer-Token, for `customer`
    note: str = ""

    def describe(self) -> str:
        """One cell of the policy table."""
        parts = []
        if self.store is not None:
            parts.append(
                {
                    Role.CHECKOUT: f"its own store ({self.store.describe()}, default its store)",
                    Role.PROGRAM: f"a store of its retailer ({self.store.describe()})",
                    Role.ADMIN: f"any store ({self.store.describe()})",
                }.get(self.role, self.store.describe())
            )
        if self.customer is not None and self.role == Role.CUSTOMER:
            parts.append(f"its own customer ({self.customer.describe()})")
        if self.organisation is not None and self.role == Role.ORGANISATION:
            default = ", default its own" if self.organisation.where == "query" else ""
            parts.append(f"its own organisation ({self.organisation.describe()}{default})")
        if self.scope is not None and self.role == Role.CUSTOMER:
            parts.append(f"scope `{self.scope}`")
        if self.till_code is not None:
            when = f" when {self.till_code_when.describe()} > 0" if self.till_code_when else ""
            parts.append(f"+ the customer's one-time code ({self.till_code.describe()}){when}")
        if self.customer_token:
            assert self.customer is not None
            parts.append(
                f"+ the customer's token in `{CUSTOMER_TOKEN_HEADER}` for {self.customer.describe()}"
                + (f", scope `{self.scope}`" if self.scope else "")
            )
        if self.note:
            parts.append(self.note)
        return self.role.value + (": " + "; ".join(parts) if parts else "")


@dataclass(frozen=True)
class Access:
    """What the policy decided: the principal and what this call acts for."""

    principal: Principal
    store_id: str | None = None  # the store the call acts for (a checkout key's own when unnamed)
    customer_id: str | None = None  # the customer the request names
    till_code: str | None = None  # the customer's one-time code, to be used by the unit of work
    personal_data: bool = False  # may read the customer's name, e-mail and phone

    @property
    def role(self) -> Role:
        return self.principal.role

    @property
    def key_id(self) -> str:
        return self.principal.key_id

    @property
    def org_id(self) -> str | None:
        return self.principal.org_id

    @property
    def retailer_id(self) -> str | None:
        return self.principal.retailer_id


@dataclass(frozen=True)
class Facts:
    """What the request names, as sent (None: not named, or not a string)."""

    store_id: str | None = None
    customer_id: str | None = None
    org_id: str | None = None
    till_code: str | None = None
    till_code_needed: bool = True
    consent: Principal | None = None  # the verified X-Customer-Token, if any
    consent_sent: bool = False


@dataclass(frozen=True)
class Context:
    """What a decision may need beyond the request: the store's retailer, who may read PII."""

    retailer_of: Callable[[str], str | None]
    pii_readers: frozenset[str] = frozenset()


ROLE_NAMES = {
    Role.ADMIN: "an admin key",
    Role.PROGRAM: "a program key",
    Role.CHECKOUT: "a checkout key",
    Role.ORGANISATION: "an organisation key",
    Role.CUSTOMER: "a customer token",
}


class Policy:
    """A route's policy: the principals it admits (FastAPI dependency answering an ``Access``)."""

    def __init__(self, name: str, *grants: Grant) -> None:
        self.name = name
        self.grants: dict[Role, Grant] = {}
        for grant in grants:
            assert grant.role not in self.grants, f"{name}: one grant per role"
            self.grants[grant.role] = grant

    def who(self) -> str:
        names = [ROLE_NAMES[role] for role in self.grants]
        return names[0] if len(names) == 1 else ", ".join(names[:-1]) + " or " + names[-1]

    def describe(self) -> list[str]:
        return [grant.describe() for grant in self.grants.values()]

    async def __call__(self, request: Request, principal: Principal = Depends(get_principal)) -> Access:
        return await self.check(request, principal, None)

    async def check(self, request: Request, principal: Principal, consent_token: str | None) -> Access:
        grant = self.grants.get(principal.role)
        facts = await facts_of(grant, request, consent_token) if grant is not None else Facts()
        state = app_state(request)
        owners: dict[str, str | None] = {}
        if grant is not None and grant.store is not None and principal.role == Role.PROGRAM and facts.store_id:
            # The one decision that reads the database: which retailer the named store belongs to.
            lookup = _store_retailers(state.engine).retailer_of
            limiter = state.verifier.limiter
            owners[facts.store_id] = await anyio.to_thread.run_sync(lookup, facts.store_id, limiter=limiter)
        return decide(self, principal, facts, Context(owners.get, state.settings.pii_reader_retailers))


class ConsentPolicy(Policy):
    """A policy whose callers forward the customer's consent as their token in X-Customer-Token."""

    async def __call__(
        self,
        request: Request,
        principal: Principal = Depends(get_principal),
        x_customer_token: Annotated[
            str | None, Header(description="The customer's token: their consent to this operation.")
        ] = None,
    ) -> Access:
        return await self.check(request, principal, x_customer_token)


class PublicPolicy:
    """No key: public pages, liveness, and the first steps of Sign-In with Ethereum."""

    name = "public"

    def describe(self) -> list[str]:
        return ["anyone (no key)"]

    async def __call__(self) -> None:
        return None


PUBLIC = PublicPolicy()


class PublicScannerPolicy(PublicPolicy):
    """Public, with an optional key: anyone may call; an organisation that sends its key is known
    (its scans vouch for it). A key that is sent but not valid is refused rather than ignored, so a
    caller never believes it was recognised when it was not."""

    name = "public, optional organisation key"

    def describe(self) -> list[str]:
        return ["anyone (no key)", "organisation: optional; its scans count as its own"]

    async def __call__(self, request: Request) -> Principal | None:  # type: ignore[override]
        scheme, _, key = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not key.strip():
            return None
        principal = await app_state(request).verifier.verify_async(key.strip())
        if principal is None:
            raise Unauthorized("invalid or revoked API key", field="Authorization")
        return principal


PUBLIC_SCANNER = PublicScannerPolicy()


class PublicHolderPolicy(PublicScannerPolicy):
    """Public, with an optional customer token: anyone reads a passport; a member who sends their
    token learns whether they hold it. A token sent but not valid is refused, not ignored (the
    scanner policy's check: only what the policy says of itself differs)."""

    name = "public, optional customer token"

    def describe(self) -> list[str]:
        return ["anyone (no key)", "customer token: optional; the answer says whether its member holds the passport"]


PUBLIC_HOLDER = PublicHolderPolicy()


class MemberSessionPolicy(PublicPolicy):
    """The member's pages (``/me/``): no API key; the member's session cookie, a customer token
    of their own (``backend/web/sessions.py``). Its actions are then decided by ``decide`` with
    the API route's policy (the token's scopes), and every form needs the session's CSRF token."""

    name = "member session"

    def describe(self) -> list[str]:
        return ["a signed-in member (session cookie; forms also need its CSRF token): their own account only"]

    async def __call__(self, request: Request) -> MemberSession:  # type: ignore[override]
        return await member_of(request)


MEMBER_SESSION = MemberSessionPolicy()


class ConsoleSessionPolicy(PublicPolicy):
    """The program console (``/console/``): no API key in the request; the console session
    cookie, opened with an admin or organisation key (``backend/web/console.py``). Each page and
    action is then decided by ``decide`` with the API route's policy for that key's principal,
    and every form needs the session's CSRF token."""

    name = "console session"

    def describe(self) -> list[str]:
        return [
            "a console session (cookie opened with an admin or organisation key; forms also need its CSRF "
            "token): what the key may do in the API"
        ]

    async def __call__(self, request: Request) -> ConsoleUser:  # type: ignore[override]
        return await console_user(request)


CONSOLE_SESSION = ConsoleSessionPolicy()


def decide(policy: Policy, principal: Principal, facts: Facts, context: Context) -> Access:
    """Admit the principal for what the request names, or refuse (403 naming the field)."""
    grant = policy.grants.get(principal.role)
    if grant is None:
        raise Forbidden(f"this call needs {policy.who()}, not {ROLE_NAMES[principal.role]}", field="Authorization")
    store = _store(grant, principal, facts, context)
    if principal.role == Role.CUSTOMER:
        if grant.customer is not None and facts.customer_id != principal.customer_id:
            raise Forbidden("a customer token acts only for its own customer", field=grant.customer.name)
        if grant.scope is not None and grant.scope not in principal.scopes:
            raise Forbidden(f"this customer token does not allow {grant.scope!s}", field="Authorization")
    if principal.role == Role.ORGANISATION and grant.organisation is not None:
        # Named in the query, it may be left out: then the key's own organisation (lists).
        unnamed = facts.org_id is None and grant.organisation.where == "query"
        if facts.org_id != principal.org_id and not unnamed:
            raise Forbidden(f"this key may not act for organisation {facts.org_id!r}", field=grant.organisation.name)
    till_code = None
    if grant.till_code is not None:
        till_code = facts.till_code
        if till_code is None and facts.till_code_needed:
            raise Forbidden(
                f"{ROLE_NAMES[principal.role]} spends a customer's points only with their consent: send the one-time "
                f"code the customer shows ({grant.till_code.name}), or let the customer act with their own token",
                field=grant.till_code.name,
            )
    if grant.customer_token:
        _check_consent_token(grant, facts)
    personal = principal.role in (Role.ADMIN, Role.CUSTOMER) or (
        principal.role == Role.PROGRAM and principal.retailer_id in context.pii_readers
    )
    return Access(principal, store, facts.customer_id, till_code, personal)


def _store(grant: Grant, principal: Principal, facts: Facts, context: Context) -> str | None:
    if grant.store is None:
        return None
    named = facts.store_id  # None for an admin: the route asks for it where it is optional
    if principal.role == Role.CHECKOUT:
        if named is not None and named != principal.store_id:
            raise Forbidden(f"this key may not act for store {named!r}", field=grant.store.name)
        return principal.store_id
    if principal.role == Role.PROGRAM:
        if named is None:
            raise Unprocessable(f"{grant.store.name} is required with this key", field=grant.store.name)
        if context.retailer_of(named) != principal.retailer_id:
            raise Forbidden(f"store {named!r} is not one of this retailer's stores", field=grant.store.name)
    return named


def _check_consent_token(grant: Grant, facts: Facts) -> None:
    token = facts.consent
    if token is None or token.role != Role.CUSTOMER:
        message = (
            "invalid, expired or revoked customer token"
            if facts.consent_sent
            else f"this needs the customer's consent: send their customer token in {CUSTOMER_TOKEN_HEADER}"
        )
        raise Forbidden(message, field=CUSTOMER_TOKEN_HEADER)
    if token.customer_id != facts.customer_id:
        raise Forbidden("the customer token is another customer's", field=CUSTOMER_TOKEN_HEADER)
    if grant.scope is not None and grant.scope not in token.scopes:
        raise Forbidden(f"the customer token does not allow {grant.scope!s}", field=CUSTOMER_TOKEN_HEADER)


# -- what the request names -----------------------------------------------------------------


async def _json_body(request: Request) -> Any:
    """The parsed JSON body (FastAPI parsed it already: Starlette caches it), or None."""
    try:
        return await request.json()
    except ValueError:  # not JSON (FastAPI answers that), or not UTF-8
        return None


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


async def facts_of(grant: Grant, request: Request, consent_token: str | None = None) -> Facts:
    """What the request names, where ``grant`` says to look."""
    named = (grant.store, grant.customer, grant.organisation, grant.till_code, grant.till_code_when)
    reads_body = any(n is not None and n.where == "body" for n in named)
    document = await _json_body(request) if reads_body else None
    document = document if isinstance(document, dict) else {}

    def read(named: Named | None) -> str | None:
        if named is None:
            return None
        if named.where == "path":
            return _text(request.path_params.get(named.name))
        if named.where == "query":
            return request.query_params.get(named.name)
        if named.where == "header":
            return request.headers.get(named.name)
        return _text(document.get(named.name))

    needed = True
    if grant.till_code_when is not None:
        amount = document.get(grant.till_code_when.name)
        needed = isinstance(amount, int) and not isinstance(amount, bool) and amount > 0
    verifier = app_state(request).verifier
    consent = await verifier.verify_async(consent_token.strip()) if consent_token else None
    return Facts(
        store_id=read(grant.store),
        customer_id=read(grant.customer),
        org_id=read(grant.organisation),
        till_code=read(grant.till_code),
        till_code_needed=needed,
        consent=consent,
        consent_sent=bool(consent_token),
    )


class StoreRetailers:
    """Which retailer owns a store (stores never change retailer; cached briefly all the same)."""

    def __init__(self, engine: Engine, seconds: float = 5.0) -> None:
        self.engine = engine
        self.seconds = seconds
        self._cache: dict[str, tuple[float, str | None]] = {}
        self._lock = threading.Lock()

    def retailer_of(self, store_id: str) -> str | None:
        now = time.monotonic()
        with self._lock:
            cached = self._cache.get(store_id)
        if cached is not None and cached[0] > now:
            return cached[1]
        with Session(self.engine) as session:
            store = session.get(Store, store_id)
        retailer = store.retailer_id if store is not None else None
        with self._lock:
            if len(self._cache) > 10_000:
                self._cache.clear()
            self._cache[store_id] = (now + self.seconds, retailer)
        return retailer


_retailers: dict[int, StoreRetailers] = {}


def _store_retailers(engine: Engine) -> StoreRetailers:
    found = _retailers.get(id(engine))
    if found is None or found.engine is not engine:
        found = _retailers[id(engine)] = StoreRetailers(engine)
    return found


# -- the policies ---------------------------------------------------------------------------

CUSTOMER_IN_PATH = path("customer_id")


def own_customer(scope: Scope) -> Grant:
    return Grant(Role.CUSTOMER, customer=CUSTOMER_IN_PATH, scope=scope)


ADMIN = Policy("admin", Grant(Role.ADMIN))
ORGANISATION = Policy("organisation", Grant(Role.ORGANISATION))
ADMIN_OR_ORGANISATION = Policy("admin or organisation", Grant(Role.ADMIN), Grant(Role.ORGANISATION))
ANY_KEY = Policy("any key", Grant(Role.ADMIN), Grant(Role.PROGRAM), Grant(Role.CHECKOUT), Grant(Role.ORGANISATION))
ANY_PRINCIPAL = Policy(
    "any key or customer token",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    Grant(Role.CHECKOUT),
    Grant(Role.ORGANISATION),
    Grant(Role.CUSTOMER),
)
OWN_ORGANISATION = Policy("the organisation itself", Grant(Role.ORGANISATION, organisation=path("org_id")))

# Admin and the retailer's backend: they issue customer tokens and run the retailer's back office.
MEMBER_ADMIN = Policy("admin or program", Grant(Role.ADMIN), Grant(Role.PROGRAM))
STORES = Policy("list stores", Grant(Role.ADMIN), Grant(Role.PROGRAM, note="its retailer's stores only"))
ENROL = Policy(
    "enrol a customer",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    Grant(Role.CHECKOUT, note="may record name, e-mail and phone at sign-up, never reads them back"),
)
CATALOG = Policy(
    "read the catalog and the transfer policy",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    Grant(Role.CHECKOUT),
    Grant(Role.CUSTOMER),
)

PURCHASE = Policy(
    "record a purchase",
    Grant(Role.ADMIN, store=body("store_id"), till_code=body("customer_code"), till_code_when=body("paid_with_points")),
    Grant(
        Role.CHECKOUT, store=body("store_id"), till_code=body("customer_code"), till_code_when=body("paid_with_points")
    ),
)
READ_PURCHASE = Policy(
    "read a purchase",
    Grant(Role.ADMIN, store=query("store_id")),
    Grant(Role.CHECKOUT, store=query("store_id")),
    Grant(Role.PROGRAM, store=query("store_id")),
)
REFUND = Policy(
    "refund a purchase", Grant(Role.ADMIN, store=body("store_id")), Grant(Role.CHECKOUT, store=body("store_id"))
)

BALANCE = Policy(
    "read a balance",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    Grant(Role.CHECKOUT, note="no personal data in the answer"),
    own_customer(Scope.READ),
)
MEMBER_READ = Policy(
    "read a member's history, profile or redemptions",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM, note="personal data only if CREDANCE_PII_READERS lists its retailer"),
    own_customer(Scope.READ),
)
REDEEM = Policy(
    "redeem a reward",
    own_customer(Scope.REDEEM),
    Grant(Role.CHECKOUT, customer=CUSTOMER_IN_PATH, till_code=body("customer_code")),
)
TILL_CODE = Policy("ask for a one-time till code", own_customer(Scope.REDEEM))
TRANSFER = Policy("give points to another member", own_customer(Scope.TRANSFER))
WALLET = Policy("claim an own wallet", own_customer(Scope.WALLET))
PASSPORT = Policy("claim an item's passport or give one to another member", own_customer(Scope.PASSPORTS))
COLLECTIBLE = Policy(
    "show a collectible as a ticket, vote with it or give it to another member", own_customer(Scope.COLLECTIBLES)
)
TICKET_CHECK = Policy(
    "check a ticket at a door",
    Grant(Role.ADMIN),
    Grant(Role.CHECKOUT, note="a store's staff"),
    Grant(Role.ORGANISATION, note="the editions it organises only"),
)
POLL_OPEN = Policy(
    "open a poll of an edition's holders",
    Grant(Role.ADMIN),
    Grant(Role.ORGANISATION, note="the editions it organises only"),
)
LOG_OUT = Policy(
    "revoke a customer token",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    Grant(Role.CUSTOMER, customer=CUSTOMER_IN_PATH, note="its own tokens"),
)
CONVERT = ConsentPolicy(
    "convert partner points", Grant(Role.ADMIN, customer=body("customer_id"), customer_token=True, scope=Scope.CONVERT)
)

# Lists (backend/api/routers/lists.py): a brand's products and recalls, the organisations.
BRAND_LIST = Policy(
    "list a brand's products or recalls",
    Grant(Role.ADMIN),
    Grant(Role.ORGANISATION, organisation=query("brand_id")),
)
AUDIT_READ = Policy(
    "read the audit log",
    Grant(Role.ADMIN),
    Grant(Role.ORGANISATION, organisation=query("org_id"), note="the actions of its own keys"),
)
ADMIN_OR_OWN_ORGANISATION = Policy(
    "an admin, or the organisation itself", Grant(Role.ADMIN), Grant(Role.ORGANISATION, organisation=path("org_id"))
)
ORGANISATION_LIST = Policy(
    "list organisations",
    Grant(Role.ADMIN),
    Grant(Role.ORGANISATION, note="itself and the organisations it works with"),
)

PREDICTIONS_READ = Policy(
    "read a member's predictions and recommendations",
    Grant(Role.ADMIN),
    Grant(Role.PROGRAM),
    own_customer(Scope.READ),
)
PREDICTION_RUNS_READ = Policy("read prediction runs and their report", Grant(Role.ADMIN), Grant(Role.PROGRAM))
AdminDep = Annotated[Access, Depends(ADMIN)]
OrganisationDep = Annotated[Access, Depends(ORGANISATION)]
PrincipalDep = Annotated[Access, Depends(ANY_KEY)]  # any API key (not a customer token)
