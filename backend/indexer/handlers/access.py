"""Mirror of AccessControl roles of our contracts, and the pause flags of the registry and the
passports (the token's is mirrored with its program state, ``loyalty.py``).

A range writes the roles its events grant or revoke; a rollback rebuilds the roles from the
remaining role events (administrative: a few per deployment).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from sqlalchemy import delete, tuple_
from sqlmodel import Session

from backend.db.models import MirrorRole, MirrorTokenState
from backend.db.schema import table_of
from backend.db.upsert import upsert_replace
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import CHUNK, EventName, OnEvent, dispatch, event_names, stored_events

CONTRACTS = ("LoyaltyPoints", "ProvenanceRegistry", "ItemPassports", "CollectibleRewards")
REGISTRY = "ProvenanceRegistry"
PASSPORTS = "ItemPassports"
COLLECTIBLES = "CollectibleRewards"

RoleKey = tuple[str, str, str]  # (contract, role, account)


@dataclass
class AccessEffects:
    roles: dict[RoleKey, int | None] = field(default_factory=dict)  # block of the grant; None: revoked
    registry_paused: bool | None = None
    passports_paused: bool | None = None
    collectibles_paused: bool | None = None


def _granted(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.roles[(event.contract, event.args["role"], event.args["account"])] = event.block_number


def _revoked(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.roles[(event.contract, event.args["role"], event.args["account"])] = None


def _registry_paused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.registry_paused = True


def _registry_unpaused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.registry_paused = False


def _passports_paused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.passports_paused = True


def _passports_unpaused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.passports_paused = False


def _collectibles_paused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.collectibles_paused = True


def _collectibles_unpaused(fx: AccessEffects, event: DecodedEvent, t: int) -> None:
    fx.collectibles_paused = False


ON_EVENT: dict[EventName, OnEvent[AccessEffects]] = {
    **{(contract, "RoleGranted"): _granted for contract in CONTRACTS},
    **{(contract, "RoleRevoked"): _revoked for contract in CONTRACTS},
    (REGISTRY, "Paused"): _registry_paused,
    (REGISTRY, "Unpaused"): _registry_unpaused,
    (PASSPORTS, "Paused"): _passports_paused,
    (PASSPORTS, "Unpaused"): _passports_unpaused,
    (COLLECTIBLES, "Paused"): _collectibles_paused,
    (COLLECTIBLES, "Unpaused"): _collectibles_unpaused,
}


def _write(session: Session, fx: AccessEffects, reset: bool = False) -> None:
    roles = table_of(MirrorRole)
    if reset:
        session.execute(delete(roles))
    held = [
        {"contract": c, "role": r, "account": a, "block_number": block}
        for (c, r, a), block in fx.roles.items()
        if block is not None
    ]
    upsert_replace(session, roles, ["contract", "role", "account"], held)
    revoked = sorted(key for key, block in fx.roles.items() if block is None)
    for start in range(0, len(revoked), CHUNK):
        columns = tuple_(roles.c.contract, roles.c.role, roles.c.account)
        session.execute(delete(roles).where(columns.in_(revoked[start : start + CHUNK])))
    flags = (fx.registry_paused, fx.passports_paused, fx.collectibles_paused)
    if reset or any(flag is not None for flag in flags):
        state = session.get(MirrorTokenState, 1) or MirrorTokenState(id=1)
        if reset or fx.registry_paused is not None:
            state.registry_paused = bool(fx.registry_paused)
        if reset or fx.passports_paused is not None:
            state.passports_paused = bool(fx.passports_paused)
        if reset or fx.collectibles_paused is not None:
            state.collectibles_paused = bool(fx.collectibles_paused)
        session.add(state)


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    _write(session, dispatch(ON_EVENT, AccessEffects(), events, block_times))


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    if any((e.contract, e.name) in ON_EVENT for e in removed):
        remaining = stored_events(session, event_names(ON_EVENT))
        _write(session, dispatch(ON_EVENT, AccessEffects(), remaining, {}), reset=True)
