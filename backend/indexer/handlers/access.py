"""Mirror of AccessControl roles and pause flags of both contracts."""

from __future__ import annotations

from sqlalchemy import delete
from sqlmodel import Session

from backend.db.models import MirrorRole, MirrorTokenState
from backend.db.schema import table_of
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import stored_events

EVENTS = ("RoleGranted", "RoleRevoked", "Paused", "Unpaused")


def _rebuild(session: Session) -> None:
    held: dict[tuple[str, str, str], int] = {}
    registry_paused = False
    for event in stored_events(session, EVENTS):
        a = event.args
        if event.name == "RoleGranted":
            held[(event.contract, a["role"], a["account"])] = event.block_number
        elif event.name == "RoleRevoked":
            held.pop((event.contract, a["role"], a["account"]), None)
        elif event.contract == "ProvenanceRegistry":
            registry_paused = event.name == "Paused"
    session.execute(delete(table_of(MirrorRole)))
    for (contract, role, account), block in held.items():
        session.add(MirrorRole(contract=contract, role=role, account=account, block_number=block))
    state = session.get(MirrorTokenState, 1) or MirrorTokenState(id=1)
    state.registry_paused = registry_paused
    session.add(state)


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> dict[str, int]:
    if any(e.name in EVENTS for e in events):
        _rebuild(session)
    return {}


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    if any(e.name in EVENTS for e in removed):
        _rebuild(session)
