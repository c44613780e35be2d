"""Mirror of ProvenanceRegistry: organisations and their role changes, partner roles, GS1
company prefixes, products, item batches, event anchors and recalls.

Every event has its entry in ``ON_EVENT``. Products, item batches, anchors and recalls are
append-only rows (a rollback deletes those above the block). Organisations, partner roles and
prefixes hold the latest value per key: a range writes the keys its events set; a rollback
rebuilds them from the remaining ``LATEST_VALUE_EVENTS`` (one per organisation change, not per
customer or item).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import delete
from sqlmodel import Session, SQLModel

from backend.db.models import (
    MirrorCompanyPrefix,
    MirrorEventAnchor,
    MirrorItemBatch,
    MirrorOrganisation,
    MirrorPartnerRole,
    MirrorProduct,
    MirrorRecall,
)
from backend.db.schema import table_of
from backend.db.upsert import upsert_replace
from backend.indexer.decoder import DecodedEvent
from backend.indexer.handlers.common import CHUNK, EventName, OnEvent, dispatch, event_names, stored_events
from backend.provenance.gtin import gtin_from_int, prefix_of_key

CONTRACT = "ProvenanceRegistry"
APPEND_ONLY_TABLES: tuple[type[SQLModel], ...] = (MirrorProduct, MirrorItemBatch, MirrorEventAnchor, MirrorRecall)
ZERO_ID = "0x" + "00" * 32  # a prefix assigned to no organisation: unassigned


@dataclass
class RegistryEffects:
    appended: dict[type[SQLModel], list[dict[str, Any]]] = field(
        default_factory=lambda: {table: [] for table in APPEND_ONLY_TABLES}
    )
    organisations: dict[str, dict[str, Any]] = field(default_factory=dict)  # by org id: the last change
    partners: dict[tuple[str, str], dict[str, Any]] = field(default_factory=dict)  # by (owner, partner)
    prefixes: dict[int, dict[str, Any]] = field(default_factory=dict)  # by prefix key


def _where(event: DecodedEvent) -> dict[str, Any]:
    return {"block_number": event.block_number, "tx_hash": event.tx_hash}


def _product_registered(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.appended[MirrorProduct].append(
        {"gtin": gtin_from_int(int(a["gtin"])), "brand_id": a["brandId"], **_where(event)}
    )


def _items_registered(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.appended[MirrorItemBatch].append(
        {
            "root": a["root"],
            "gtin": gtin_from_int(int(a["gtin"])),
            "manufacturer_id": a["manufacturerId"],
            "count": int(a["count"]),
            "block_time": t,
            **_where(event),
        }
    )


def _events_anchored(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.appended[MirrorEventAnchor].append(
        {"root": a["root"], "org_id": a["orgId"], "count": int(a["count"]), "block_time": t, **_where(event)}
    )


def _recall_issued(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.appended[MirrorRecall].append(
        {
            "recall_id": int(a["recallId"]),
            "gtin": gtin_from_int(int(a["gtin"])),
            "brand_id": a["brandId"],
            "scope_root": a["scopeRoot"],
            "count": int(a["count"]),
            "reason_ref": a["reasonRef"],
            "block_time": t,
            **_where(event),
        }
    )


def _organisation_updated(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.organisations[a["orgId"]] = {
        "org_id": a["orgId"],
        "controller": a["controller"],
        "roles": int(a["roles"]),
        "active": bool(a["active"]),
        "block_number": event.block_number,
    }


def _partner_roles_updated(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    a = event.args
    fx.partners[(a["ownerId"], a["partnerId"])] = {
        "brand_id": a["ownerId"],
        "partner_id": a["partnerId"],
        "roles": int(a["roles"]),
        "block_number": event.block_number,
    }


def _prefix_assigned(fx: RegistryEffects, event: DecodedEvent, t: int) -> None:
    key = int(event.args["prefixKey"])
    fx.prefixes[key] = {
        "prefix_key": key,
        "prefix": prefix_of_key(key),
        "org_id": event.args["orgId"],
        "block_number": event.block_number,
    }


LATEST_VALUE_EVENTS: dict[EventName, OnEvent[RegistryEffects]] = {
    (CONTRACT, "OrganisationUpdated"): _organisation_updated,
    (CONTRACT, "PartnerRolesUpdated"): _partner_roles_updated,
    (CONTRACT, "CompanyPrefixAssigned"): _prefix_assigned,
}
ON_EVENT: dict[EventName, OnEvent[RegistryEffects]] = {
    (CONTRACT, "ProductRegistered"): _product_registered,
    (CONTRACT, "ItemsRegistered"): _items_registered,
    (CONTRACT, "EventsAnchored"): _events_anchored,
    (CONTRACT, "RecallIssued"): _recall_issued,
    **LATEST_VALUE_EVENTS,
}


def _write_latest(session: Session, fx: RegistryEffects) -> None:
    upsert_replace(session, table_of(MirrorOrganisation), ["org_id"], list(fx.organisations.values()))
    upsert_replace(session, table_of(MirrorPartnerRole), ["brand_id", "partner_id"], list(fx.partners.values()))
    prefixes = table_of(MirrorCompanyPrefix)
    upsert_replace(session, prefixes, ["prefix_key"], [p for p in fx.prefixes.values() if p["org_id"] != ZERO_ID])
    unassigned = sorted(key for key, p in fx.prefixes.items() if p["org_id"] == ZERO_ID)
    for start in range(0, len(unassigned), CHUNK):
        session.execute(delete(prefixes).where(prefixes.c.prefix_key.in_(unassigned[start : start + CHUNK])))


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> None:
    fx = dispatch(ON_EVENT, RegistryEffects(), events, block_times)
    for table, rows in fx.appended.items():
        if rows:
            session.execute(table_of(table).insert(), rows)
    _write_latest(session, fx)


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    for table in APPEND_ONLY_TABLES:
        sa_table = table_of(table)
        session.execute(delete(sa_table).where(sa_table.c.block_number > above_block))
    if any((e.contract, e.name) in LATEST_VALUE_EVENTS for e in removed):
        for table in (MirrorOrganisation, MirrorPartnerRole, MirrorCompanyPrefix):
            session.execute(delete(table_of(table)))
        remaining = stored_events(session, event_names(LATEST_VALUE_EVENTS))
        _write_latest(session, dispatch(LATEST_VALUE_EVENTS, RegistryEffects(), remaining, {}))
