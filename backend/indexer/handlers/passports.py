"""Mirror of ItemPassports: the passports issued (``PassportIssued``) and every change of holder
(ERC-721 ``Transfer``, the mint included) with the custody flag it leaves (``PassportRelayed``
says a relay's). Both tables are append-only rows keyed by the event's place in the chain: a
rollback deletes those above the block, which is exactly what a replay of the remaining events
gives. The holder now, the time since and the previous holders are read from the rows of one
token (a few per passport).

Each change of holder is also a fact of the item's EPCIS history, recorded here, in the same
transaction, from the block's time (``backend/provenance/passport_events.py``): only what the
chain did enters the history, and a rollback takes it out again."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import and_, delete, func, or_
from sqlmodel import Session, col, select

from backend.db.models import Customer, MirrorPassport, MirrorPassportHolder
from backend.db.schema import table_of
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import CHUNK, EventName, OnEvent, dispatch
from backend.provenance.gtin import gtin_from_int
from backend.provenance.passport_events import OwnerChange, forget_above, record_owner_changes

CONTRACT = "ItemPassports"


def token_hex(token_id: int) -> str:
    """A passport's token id as the platform writes it: the item's leaf, 0x + 64 hex digits."""
    return f"0x{token_id:064x}"


@dataclass
class PassportEffects:
    issued: list[dict[str, Any]] = field(default_factory=list)
    holders: list[dict[str, Any]] = field(default_factory=list)
    relayed: dict[tuple[str, str], bool] = field(default_factory=dict)  # (tx, token id) → custodial


def _where(event: DecodedEvent, t: int) -> dict[str, Any]:
    return {"block_number": event.block_number, "block_time": t, "tx_hash": event.tx_hash}


def _issued(fx: PassportEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.issued.append(
        {
            "token_id": token_hex(int(a["tokenId"])),
            "gtin": gtin_from_int(int(a["gtin"])),
            "operation_id": int(a["operationId"]),
            **_where(event, t),
        }
    )


def _transferred(fx: PassportEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.holders.append(
        {
            "token_id": token_hex(int(a["tokenId"])),
            "log_index": event.log_index,
            "previous": a["from"],
            "holder": a["to"],
            "custodial": False,  # every transfer clears the flag; a mint or a relay may set it (below)
            **_where(event, t),
        }
    )


def _relayed(fx: PassportEffects, event: DecodedEvent, t: int) -> None:
    """A relay's ``Transfer`` comes first in its transaction, then this, with the flag it set."""
    fx.relayed[(event.tx_hash, token_hex(int(event.args["tokenId"])))] = bool(event.args["custodial"])


ON_EVENT: dict[EventName, OnEvent[PassportEffects]] = {
    (CONTRACT, "PassportIssued"): _issued,
    (CONTRACT, "PassportRelayed"): _relayed,
    (CONTRACT, "Transfer"): _transferred,
}


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    fx = dispatch(ON_EVENT, PassportEffects(), events, block_times)
    # A log applied again (its place is its key) changes nothing.
    issued = _new_passports(session, fx.issued)
    holders = _new_holders(session, fx.holders)
    _mark_custody(session, holders, fx.relayed)
    if issued:
        session.execute(table_of(MirrorPassport).insert(), issued)
    if holders:
        session.execute(table_of(MirrorPassportHolder).insert(), holders)
    record_owner_changes(session, _owner_changes(session, holders))


def _new_passports(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The passports not mirrored yet (read with the table, not the session's identity map:
    reconcile's replay deletes and rewrites the rows under it)."""
    table = table_of(MirrorPassport)
    tokens = [r["token_id"] for r in rows]
    known: set[str] = set()
    for start in range(0, len(tokens), CHUNK):
        chunk = tokens[start : start + CHUNK]
        known.update(session.execute(select(table.c.token_id).where(table.c.token_id.in_(chunk))).scalars())
    return [r for r in rows if r["token_id"] not in known]


def _new_holders(session: Session, rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The changes of holder not mirrored yet (by their log's place)."""
    table = table_of(MirrorPassportHolder)
    blocks = sorted({r["block_number"] for r in rows})
    known: set[tuple[int, int]] = set()
    for start in range(0, len(blocks), CHUNK):
        found = session.execute(
            select(table.c.block_number, table.c.log_index).where(
                table.c.block_number.in_(blocks[start : start + CHUNK])
            )
        ).all()
        known.update((int(block), int(index)) for block, index in found)
    return [r for r in rows if (r["block_number"], r["log_index"]) not in known]


def _mark_custody(session: Session, holders: list[dict[str, Any]], relayed: dict[tuple[str, str], bool]) -> None:
    """The custody flag each change leaves on chain. A relay says it (``PassportRelayed``). The
    platform mints with the flag exactly when it mints to a member's custodial address (nobody
    holds its key), so a mint to such an address is custodial. Any other transfer clears it,
    even one into a custodial address: the platform never relays what a wallet sent there."""
    minted_to = sorted({r["holder"] for r in holders if int(r["previous"], 16) == 0})
    custodial_addresses: set[str] = set()
    for start in range(0, len(minted_to), CHUNK):
        chunk = minted_to[start : start + CHUNK]
        custodial_addresses.update(session.exec(select(Customer.address).where(col(Customer.address).in_(chunk))).all())
    for row in holders:
        if int(row["previous"], 16) == 0:
            row["custodial"] = row["holder"] in custodial_addresses
        else:
            row["custodial"] = relayed.get((row["tx_hash"], row["token_id"]), False)


def _owner_changes(session: Session, holders: list[dict[str, Any]]) -> list[OwnerChange]:
    """The changes of holder just mirrored, each with the number of owners it makes."""
    table = table_of(MirrorPassportHolder)
    changes = []
    for row in holders:
        block, index = row["block_number"], row["log_index"]
        up_to_this = or_(table.c.block_number < block, and_(table.c.block_number == block, table.c.log_index <= index))
        owners = session.execute(
            select(func.count()).select_from(table).where(table.c.token_id == row["token_id"], up_to_this)
        ).scalar_one()
        changes.append(
            OwnerChange(
                token_id=row["token_id"],
                block_number=row["block_number"],
                log_index=row["log_index"],
                tx_hash=row["tx_hash"],
                block_time=row["block_time"],
                previous=row["previous"],
                holder=row["holder"],
                owner_number=int(owners),
            )
        )
    return changes


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    forget_above(session, above_block)  # the owner changes derived from those blocks, with their events
    for model in (MirrorPassport, MirrorPassportHolder):
        table = table_of(model)
        session.execute(delete(table).where(table.c.block_number > above_block))
