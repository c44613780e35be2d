"""What the layers in front of the routes need to know about a route, declared on the route itself.

The admission layer (``admission.py``) and the request guards (``security.py``) run before
routing, on the raw method and path. Instead of path constants kept beside them, each route that
is not ordinary says so in its decorator::

    @router.post("/v1/items", ..., openapi_extra=declare(RouteClass.BULK))

and :class:`RouteTable`, built once from the app's routes, answers for a request. Ordinary routes
(``RouteClass.OTHER``, private, normal body limit) declare nothing. Bulk routes get the larger body
limit; public routes may be read by any web page (CORS without credentials).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, MutableMapping
from dataclasses import dataclass
from typing import Any

from fastapi.routing import APIRoute
from starlette.routing import BaseRoute

from backend.api.budget import RouteClass

FACTS_KEY = "x-credance-route"  # an OpenAPI extension: clients may read it too


@dataclass(frozen=True, slots=True)
class RouteFacts:
    admission: RouteClass = RouteClass.OTHER
    public: bool = False  # any origin may read it, without credentials

    @property
    def bulk(self) -> bool:
        """Large bodies (item registration, recalls, EPCIS documents) get the bulk body limit."""
        return self.admission is RouteClass.BULK


ORDINARY = RouteFacts()
_SCOPE_KEY = "credance.route_facts"


def declare(admission: RouteClass, public: bool = False) -> dict[str, Any]:
    """A route's facts, for its decorator's ``openapi_extra``."""
    return {FACTS_KEY: {"admission": admission.value, "public": public or admission is RouteClass.PUBLIC}}


class RouteTable:
    """Facts by method and path: a dictionary look-up for fixed paths, and a few patterns for the
    declared routes with path parameters (ordinary routes never cost a pattern match)."""

    def __init__(self) -> None:
        self._fixed: dict[tuple[str, str], RouteFacts] = {}
        self._patterns: list[tuple[re.Pattern[str], frozenset[str], RouteFacts]] = []
        self._public_fixed: set[str] = set()

    def load(self, routes: Iterable[BaseRoute]) -> RouteTable:
        for route in routes:
            if not isinstance(route, APIRoute) or not route.openapi_extra or FACTS_KEY not in route.openapi_extra:
                continue
            raw = route.openapi_extra[FACTS_KEY]
            facts = RouteFacts(RouteClass(raw["admission"]), bool(raw["public"]))
            methods = set(route.methods or ())
            if "GET" in methods:
                methods.add("HEAD")
            if route.param_convertors:
                self._patterns.append((route.path_regex, frozenset(methods), facts))
            else:
                self._fixed.update({(method, route.path): facts for method in methods})
                if facts.public:
                    self._public_fixed.add(route.path)
        return self

    def of_request(self, scope: MutableMapping[str, Any]) -> RouteFacts:
        """The request's facts, found once a request (admission and the guards both ask)."""
        facts: RouteFacts | None = scope.get(_SCOPE_KEY)
        if facts is None:
            facts = scope[_SCOPE_KEY] = self.of(scope["method"], scope["path"])
        return facts

    def of(self, method: str, path: str) -> RouteFacts:
        facts = self._fixed.get((method, path))
        if facts is not None:
            return facts
        if len(path) > 1 and path.endswith("/"):
            facts = self._fixed.get((method, path.rstrip("/")))
            if facts is not None:
                return facts
        for pattern, methods, declared in self._patterns:
            if method in methods and pattern.match(path):
                return declared
        return ORDINARY

    def is_public(self, path: str) -> bool:
        """Whatever the method (a CORS preflight asks with OPTIONS): may any web page read it?"""
        if path in self._public_fixed:
            return True
        return any(facts.public and pattern.match(path) for pattern, _, facts in self._patterns)
