"""Mirror of ItemPassports: the passports issued (``PassportIssued``) and every change of holder
(ERC-721 ``Transfer``, the mint included). Both tables are append-only rows keyed by the event's
place in the chain: a rollback deletes those above the block, which is exactly what a replay of
the remaining events gives. The holder now, the time since and the previous holders are read
from the rows of one token (a few per passport)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session

from backend.db.models import MirrorPassport, MirrorPassportHolder
from backend.db.schema import table_of
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import EventName, OnEvent, dispatch
from backend.provenance.gtin import gtin_from_int

CONTRACT = "ItemPassports"


def token_hex(token_id: int) -> str:
    """A passport's token id as the platform writes it: the item's leaf, 0x + 64 hex digits."""
    return f"0x{token_id:064x}"


@dataclass
class PassportEffects:
    issued: list[dict[str, Any]] = field(default_factory=list)
    holders: list[dict[str, Any]] = field(default_factory=list)


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
            **_where(event, t),
        }
    )


ON_EVENT: dict[EventName, OnEvent[PassportEffects]] = {
    (CONTRACT, "PassportIssued"): _issued,
    (CONTRACT, "Transfer"): _transferred,
}
# PassportRelayed confirms its operation (the catalogue); the holder change is its Transfer.


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    fx = dispatch(ON_EVENT, PassportEffects(), events, block_times)
    if fx.issued:
        session.execute(table_of(MirrorPassport).insert(), fx.issued)
    if fx.holders:
        session.execute(table_of(MirrorPassportHolder).insert(), fx.holders)


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    for model in (MirrorPassport, MirrorPassportHolder):
        table = table_of(model)
        session.execute(delete(table).where(table.c.block_number > above_block))
