"""Mirror of CollectibleRewards: editions created (``EditionCreated``), every copy moved (ERC-1155
``TransferSingle`` and ``TransferBatch``, mints included), copies into and out of custody
(``CollectiblesMinted`` marked custodial, ``CollectiblesRelayed``, ``CustodyReleased``), polls
opened (``PollOpened``) and votes cast (``PollVoted``). Every table is append-only rows keyed by
the event's place in the chain (or by the edition and poll, created once): a rollback deletes
those above the block, which is exactly what a replay of the remaining events gives. A holder's
copies are summed from the moves of one (holder, edition) (indexed), its copies in custody from
its custody changes."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session

from backend.db.models import MirrorCollectibleCustody, MirrorCollectibleMove, MirrorEdition, MirrorPoll, MirrorVote
from backend.db.schema import table_of
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import EventName, OnEvent, dispatch

CONTRACT = "CollectibleRewards"


@dataclass
class CollectibleEffects:
    editions: list[dict[str, Any]] = field(default_factory=list)
    moves: list[dict[str, Any]] = field(default_factory=list)
    custody: list[dict[str, Any]] = field(default_factory=list)
    polls: list[dict[str, Any]] = field(default_factory=list)
    votes: list[dict[str, Any]] = field(default_factory=list)


def _created(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.editions.append(
        {
            "edition": int(a["edition"]),
            "cap": int(a["cap"]),
            "block_number": event.block_number,
            "tx_hash": event.tx_hash,
        }
    )


def _move(event: DecodedEvent, position: int, edition: int, amount: int) -> dict[str, Any]:
    return {
        "block_number": event.block_number,
        "log_index": event.log_index,
        "position": position,
        "edition": edition,
        "previous": event.args["from"],
        "holder": event.args["to"],
        "amount": amount,
        "tx_hash": event.tx_hash,
    }


def _moved_one(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    fx.moves.append(_move(event, 0, int(event.args["id"]), int(event.args["value"])))


def _moved_many(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    pairs = zip(event.args["ids"], event.args["values"], strict=True)
    fx.moves.extend(_move(event, i, int(e), int(v)) for i, (e, v) in enumerate(pairs))


def _custody(event: DecodedEvent, position: int, holder: str, edition: Any, change: int) -> dict[str, Any]:
    return {
        "block_number": event.block_number,
        "log_index": event.log_index,
        "position": position,
        "holder": holder,
        "edition": int(edition),
        "change": change,
    }


def _minted(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    """A mint confirms its operation (the catalogue); the copies are its ``TransferSingle``. Here:
    the copies it put in custody."""
    a = event.args
    if a["custodial"]:
        fx.custody.append(_custody(event, 0, a["holder"], a["edition"], int(a["amount"])))


def _relayed(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    """The copies moved are its ``TransferSingle``; here, custody: out of the giver, into a custodial receiver."""
    a = event.args
    fx.custody.append(_custody(event, 0, a["from"], a["edition"], -int(a["amount"])))
    if a["toCustodial"]:
        fx.custody.append(_custody(event, 1, a["to"], a["edition"], int(a["amount"])))


def _released(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.custody.append(_custody(event, 0, a["holder"], a["edition"], -int(a["amount"])))


def _opened(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.polls.append(
        {
            "poll_id": int(a["pollId"]),
            "edition": int(a["edition"]),
            "options": int(a["options"]),
            "snapshot_block": int(a["snapshotBlock"]),
            "close_block": int(a["closeBlock"]),
            "block_number": event.block_number,
        }
    )


def _voted(fx: CollectibleEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.votes.append(
        {
            "block_number": event.block_number,
            "log_index": event.log_index,
            "poll_id": int(a["pollId"]),
            "voter": a["voter"],
            "option": int(a["option"]),
            "operation_id": int(a["operationId"]),
        }
    )


ON_EVENT: dict[EventName, OnEvent[CollectibleEffects]] = {
    (CONTRACT, "EditionCreated"): _created,
    (CONTRACT, "TransferSingle"): _moved_one,
    (CONTRACT, "TransferBatch"): _moved_many,
    (CONTRACT, "CollectiblesMinted"): _minted,
    (CONTRACT, "CollectiblesRelayed"): _relayed,
    (CONTRACT, "CustodyReleased"): _released,
    (CONTRACT, "PollOpened"): _opened,
    (CONTRACT, "PollVoted"): _voted,
}


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    fx = dispatch(ON_EVENT, CollectibleEffects(), events, block_times)
    for model, rows in (
        (MirrorEdition, fx.editions),
        (MirrorCollectibleMove, fx.moves),
        (MirrorCollectibleCustody, fx.custody),
        (MirrorPoll, fx.polls),
        (MirrorVote, fx.votes),
    ):
        if rows:
            session.execute(table_of(model).insert(), rows)


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    for model in (MirrorEdition, MirrorCollectibleMove, MirrorCollectibleCustody, MirrorPoll, MirrorVote):
        table = table_of(model)
        session.execute(delete(table).where(table.c.block_number > above_block))
