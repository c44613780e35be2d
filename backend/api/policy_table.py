"""The route -> allowed-principals table, read from the policies the routes declare
(``backend.api.policy``): docs/security/policy.md is generated from it
(``scripts/security/policy_table.py``), and tests/security/test_policy_table.py fails on a route
without a policy or a stale document."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from backend.api.policy import Policy, PublicPolicy


@dataclass(frozen=True)
class RoutePolicy:
    methods: tuple[str, ...]
    path: str
    policy: Policy | PublicPolicy | None
    extra: list[Any] = field(default_factory=list)  # policies beyond the first (an error)


def _policies(dependant: Any) -> Iterator[Policy | PublicPolicy]:
    for dependency in dependant.dependencies:
        if isinstance(dependency.call, Policy | PublicPolicy):
            yield dependency.call
        yield from _policies(dependency)


def route_policies(app: FastAPI) -> list[RoutePolicy]:
    """Every API route of the app with the policy it declares (None: it declares none)."""
    found = []
    for route in iter_route_contexts(app.routes):
        if isinstance(route.original_route, APIRoute):
            policies = list(dict.fromkeys(_policies(route.dependant)))
            methods = tuple(sorted(route.methods or ()))
            found.append(RoutePolicy(methods, str(route.path), policies[0] if policies else None, policies[1:]))
    return sorted(found, key=lambda r: (r.path, r.methods))


def framework_routes(app: FastAPI) -> list[str]:
    """Routes that are not API routes: the OpenAPI document and its documentation pages (public)."""
    return sorted(
        str(route.path) for route in iter_route_contexts(app.routes) if not isinstance(route.original_route, APIRoute)
    )


POLICY_DOC_INTRO = """# Who may call what

Generated from the code by `python scripts/security/policy_table.py` (`backend.api.policy`, `backend.api.policy_table`);
`tests/security/test_policy_table.py` fails when a route declares no policy or this file is
stale. The principals and what each is bound to are described in
[consent-and-tenancy.md](consent-and-tenancy.md).

- **admin**: the program operator's key.
- **program**: a retailer's own backend (bound to the retailer): issues customer tokens, reads
  members (personal data only where `CREDANCE_PII_READERS` lists the retailer) and its own stores.
- **checkout**: a till or web shop (bound to one store): awards, refunds and reads its own
  store's purchases, reads balances; spends a customer's points only with the one-time code the
  customer shows.
- **organisation**: a brand or supply-chain partner (bound to the organisation).
- **customer**: a customer token (bound to one customer, limited to its scopes and lifetime),
  issued by an admin or program key, or by Sign-In with Ethereum.

"""


def policy_document(app: FastAPI) -> str:
    """docs/security/policy.md."""
    return POLICY_DOC_INTRO + policy_table(app)


def policy_table(app: FastAPI) -> str:
    """The route -> allowed-principals table, in Markdown (docs/security/policy.md)."""
    lines = [
        "| method | path | policy | who may call it, bound to what |",
        "|---|---|---|---|",
    ]
    for route in route_policies(app):
        policy = route.policy
        who = "<br>".join(policy.describe()) if policy is not None else "**no policy declared**"
        name = policy.name if policy is not None else "—"
        lines.append(f"| {', '.join(route.methods)} | `{route.path}` | {name} | {who} |")
    for path_ in framework_routes(app):
        lines.append(f"| GET | `{path_}` | public | anyone (no key): the OpenAPI document and its pages |")
    return "\n".join(lines) + "\n"
