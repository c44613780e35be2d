"""Pieces shared by the handlers: the dispatch table's types and reading stored events back."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Mapping
from typing import TypeVar

from sqlmodel import Session, col, select

from backend.db.models import ChainEvent
from backend.indexer.decoder import DecodedEvent

CHUNK = 500  # values per IN list (SQLite allows 32,766 parameters per statement)
EventName = tuple[str, str]  # (contract, event): a dispatch table's key, "Contract:Event"
Effects = TypeVar("Effects")
# What one event does to a handler's effects of a range: ``(effects, event, block time)``.
OnEvent = Callable[[Effects, DecodedEvent, int], None]


def dispatch(
    table: Mapping[EventName, OnEvent[Effects]],
    effects: Effects,
    events: Iterable[DecodedEvent],
    block_times: Mapping[int, int],
) -> Effects:
    """Run every event through its entry of ``table`` (events it lacks are none of its business)."""
    for event in events:
        on = table.get((event.contract, event.name))
        if on is not None:
            on(effects, event, block_times.get(event.block_number, 0))
    return effects


def event_names(table: Mapping[EventName, object]) -> tuple[str, ...]:
    """The event names of a dispatch table, to read its events back with ``stored_events``."""
    return tuple(sorted({name for _, name in table}))


def stored_events(session: Session, names: Iterable[str] | None = None, above_block: int = -1) -> list[DecodedEvent]:
    """Events already in the mirror (of the given names, above a block), in chain order."""
    query = select(ChainEvent).where(ChainEvent.block_number > above_block)
    if names is not None:
        query = query.where(col(ChainEvent.name).in_(list(names)))
    rows = session.exec(query.order_by(col(ChainEvent.block_number), col(ChainEvent.log_index))).all()
    return [_event(r) for r in rows]


def address_topic(address: str) -> str:
    """An address as it appears in an indexed topic (and in ``chain_events.topic1/2``)."""
    return "0x" + "0" * 24 + address.lower().removeprefix("0x")


def events_about(
    session: Session, contract: str, addresses: Iterable[str], above_block: int = -1
) -> list[DecodedEvent]:
    """Stored events of ``contract`` (above a block) with one of ``addresses`` as first or second
    indexed topic, in chain order: everything that can have touched those accounts (two index
    lookups each)."""
    topics = sorted({address_topic(a) for a in addresses})
    found: dict[int, ChainEvent] = {}
    for start in range(0, len(topics), CHUNK):
        chunk = topics[start : start + CHUNK]
        for column in (col(ChainEvent.topic1), col(ChainEvent.topic2)):
            query = select(ChainEvent).where(
                column.in_(chunk), ChainEvent.contract == contract, ChainEvent.block_number > above_block
            )
            found.update((row.id, row) for row in session.exec(query).all() if row.id is not None)
    rows = sorted(found.values(), key=lambda r: (r.block_number, r.log_index))
    return [_event(r) for r in rows]


def _event(r: ChainEvent) -> DecodedEvent:
    topics = tuple(t for t in (r.topic1, r.topic2) if t is not None)
    return DecodedEvent(
        r.contract, r.name, json.loads(r.args), r.block_number, r.block_hash, r.tx_hash, r.log_index, topics
    )
