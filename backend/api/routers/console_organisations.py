"""The console's organisations: the list (an admin's every organisation, an organisation's itself
and those it works with), an admin admitting one, assigning it a GS1 company prefix and suspending
or reinstating it, and an organisation granting its partners roles on its goods. Each form is
checked by the API route's own request model and calls the route's own function
(``organisations.admit``, ``assign_prefix``, ``update_organisation``, ``grant_partner``): the same
rules, the same operations queued for the chain."""

from __future__ import annotations

from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlmodel import Session

from backend import lists
from backend.api.deps import StateDep
from backend.api.policy import ADMIN, ADMIN_OR_OWN_ORGANISATION, ORGANISATION_LIST, OWN_ORGANISATION
from backend.api.routers.console_pages import FormPage, User, _validated, form_fields, router_for
from backend.api.routers.organisations import admit, organisation_view
from backend.api.schemas.provenance import OrganisationIn, PartnerIn, PrefixIn
from backend.provenance.organisations import get_organisation, grant_partner, update_organisation
from backend.provenance.prefixes import assign_prefix
from backend.provenance.roles import ROLE_NAMES, roles_from_names
from backend.web.console import ConsoleUser

router = router_for()
# A form sends each role as its own checkbox (a form's field comes once: ``read_form``).
ROLE_FIELDS = tuple(f"role_{name}" for name in ROLE_NAMES)


def _roles(form: dict[str, str]) -> list[str]:
    return [name for name in ROLE_NAMES if form.get(f"role_{name}") == "on"]


def _list(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    q = request.query_params.get("q", "")[:100]
    viewer = None if user.is_admin else user.org_id
    found = lists.list_organisations(session, q or None, 50, request.query_params.get("cursor"), viewer)
    own = organisation_view(session, get_organisation(session, user.org_id)) if user.org_id else None
    return {"page": found, "q": q, "own": own, "role_names": list(ROLE_NAMES)}


LIST = FormPage("console/organisations.html", "organisations", ORGANISATION_LIST, _list)


@router.get("/organisations")
def organisations(request: Request, user: User, state: StateDep) -> Response:
    return LIST.show(request, user, state)


@router.post("/organisations")
async def admit_organisation(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/organisations`` does: its own key, its roles queued for the chain."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        fields = {**form_fields({k: v for k, v in form.items() if k not in ROLE_FIELDS}), "roles": _roles(form)}
        body = _validated(OrganisationIn, fields)
        with state.write() as session:
            admit(session, state.settings, body)
        return {"done": f"Organisation {body.id} admitted; its roles are on their way to the chain."}

    return await LIST.submit(request, user, state, ("id", "name", *ROLE_FIELDS), act, policy=ADMIN)


def _one(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    org_id = request.path_params["org_id"]
    return {"org": organisation_view(session, get_organisation(session, org_id)), "role_names": list(ROLE_NAMES)}


ONE = FormPage("console/organisation.html", "organisations", ADMIN_OR_OWN_ORGANISATION, _one)


@router.get("/organisations/{org_id}")
def organisation(request: Request, org_id: str, user: User, state: StateDep) -> Response:
    return ONE.show(request, user, state)


@router.post("/organisations/{org_id}/prefixes")
async def add_prefix(request: Request, org_id: str, user: User, state: StateDep) -> Response:
    """What ``POST /v1/organisations/{id}/prefixes`` does (admin)."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(PrefixIn, form_fields(form))
        with state.write() as session:
            assign_prefix(session, get_organisation(session, org_id), body.prefix)
        return {"done": f"Prefix {body.prefix} assigned to {org_id}."}

    return await ONE.submit(request, user, state, ("prefix",), act, policy=ADMIN)


@router.post("/organisations/{org_id}/status")
async def change_status(request: Request, org_id: str, user: User, state: StateDep) -> Response:
    """What ``PATCH /v1/organisations/{id}`` does with ``active`` (admin): suspend or reinstate."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        active = form.get("active") == "on"
        with state.write() as session:
            update_organisation(session, get_organisation(session, org_id), None, active)
        return {"done": f"{org_id} {'reinstated' if active else 'suspended'}; the change is on its way to the chain."}

    return await ONE.submit(request, user, state, ("active",), act, policy=ADMIN)


@router.post("/organisations/{org_id}/partners")
async def grant(request: Request, org_id: str, user: User, state: StateDep) -> Response:
    """What ``PUT /v1/organisations/{id}/partners`` does: the organisation itself (never an admin,
    never another organisation) grants a partner roles on its goods; no role revokes."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(PartnerIn, {"partner_id": form.get("partner_id", ""), "roles": _roles(form)})
        with state.write() as session:
            grant_partner(
                session, get_organisation(session, org_id), body.partner_id, roles_from_names(list(body.roles))
            )
        granted = ", ".join(body.roles) or "no role (revoked)"
        return {"done": f"{body.partner_id}: {granted}; on its way to the chain."}

    return await ONE.submit(request, user, state, ("partner_id", *ROLE_FIELDS), act, policy=OWN_ORGANISATION)
