"""Turn decoded events into mirror rows.

Each handler module has a dispatch table ``ON_EVENT`` (``(contract, event)`` → what that event
does to the effects of a range), ``apply(session, events, block_times)`` (its events of a block
range, in chain order) and ``rollback(session, removed, above_block)`` (undo everything above a
block; ``removed`` are its stored events being taken out). Both run inside the indexer's
transaction, with the events and the cursor: a handler never commits. Outbox confirmations are
not a handler's business: ``backend/indexer/confirmations.py`` reads them off the events, as the
operations catalogue says.

Tables written only by handlers are named ``mirror_*``: ``credance reconcile`` rebuilds them
from the chain and compares, so a new mirror table is checked without further work. An event of
our contracts that no table names is listed, with the reason, in ``UNMIRRORED``
(``tests/unit/test_indexer_dispatch.py`` checks every event of the ABIs is one or the other).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, Protocol

from sqlmodel import Session

from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers import access, collectibles, loyalty, passports, provenance
from backend.indexer.handlers.common import EventName


class Handler(Protocol):
    @property
    def ON_EVENT(self) -> Mapping[EventName, Any]: ...  # noqa: N802 (a module constant)

    def apply(self, session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None: ...

    def rollback(self, session: Session, removed: list[DecodedEvent], above_block: int) -> None: ...


HANDLERS: tuple[Handler, ...] = (loyalty, provenance, passports, collectibles, access)
# The dispatch tables merged: which handlers (by position) an event goes to.
_OWNERS: dict[EventName, tuple[int, ...]] = {}
for _index, _handler in enumerate(HANDLERS):
    for _name in _handler.ON_EVENT:
        _OWNERS[_name] = (*_OWNERS.get(_name, ()), _index)

# Events that change nothing the platform reads (with the reason).
UNMIRRORED: dict[str, str] = {
    "Approval": "ERC-20 allowances: members spend through permits the issuer relays, never transferFrom;"
    " ERC-721 approvals of passports: only the holder's own transfers use them, and those are Transfer events",
    "ApprovalForAll": "ERC-721 operators of a passport holder's wallet: its transfers are Transfer events;"
    " ERC-1155 operators of a collectible holder's wallet: its transfers are TransferSingle/TransferBatch events",
    "URI": "ERC-1155 metadata URIs: CollectibleRewards never changes its template after deployment",
    "EIP712DomainChanged": "the domain is read from the contract when a permit or claim is signed",
    "RoleAdminChanged": "role admins are fixed at deployment; reconcile checks the roles themselves",
}


def route(events: Iterable[DecodedEvent]) -> list[tuple[Handler, list[DecodedEvent]]]:
    """Each handler with the events its table names, in chain order (one pass over the events)."""
    mine: list[list[DecodedEvent]] = [[] for _ in HANDLERS]
    for event in events:
        for index in _OWNERS.get((event.contract, event.name), ()):
            mine[index].append(event)
    return list(zip(HANDLERS, mine, strict=True))
