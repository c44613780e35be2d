"""Which store a call acts for: the one named, or the one a checkout key is bound to."""

from __future__ import annotations

from backend.api.auth import Principal, Role
from backend.api.deps import check_store_access
from backend.errors import Unprocessable


def resolve_store(principal: Principal, store_id: str | None) -> str:
    if store_id is None:
        if principal.role == Role.CHECKOUT and principal.store_id:
            return principal.store_id
        raise Unprocessable("store_id is required with this key", field="store_id")
    check_store_access(principal, store_id)
    return store_id
