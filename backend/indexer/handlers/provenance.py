"""Mirror of ProvenanceRegistry: organisations and their role changes, partner roles, GS1
company prefixes, products, item batches, event anchors and recalls."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete
from sqlmodel import Session

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
from backend.indexer.handlers.common import stored_events
from backend.provenance.gtin import gtin_from_int
from backend.provenance.prefixes import prefix_of_key

CONTRACT = "ProvenanceRegistry"
LATEST_VALUE_EVENTS = ("OrganisationUpdated", "PartnerRolesUpdated", "CompanyPrefixAssigned")
APPEND_ONLY_TABLES = (MirrorProduct, MirrorItemBatch, MirrorEventAnchor, MirrorRecall)


def _rebuild_latest(session: Session) -> None:
    orgs: dict[str, dict[str, Any]] = {}
    partners: dict[tuple[str, str], dict[str, Any]] = {}
    prefixes: dict[int, dict[str, Any]] = {}
    for event in stored_events(session, LATEST_VALUE_EVENTS):
        a = event.args
        if event.name == "CompanyPrefixAssigned":
            key = int(a["prefixKey"])
            prefixes[key] = {"prefix_key": key, "prefix": prefix_of_key(key), "org_id": a["orgId"],
                             "block_number": event.block_number}  # fmt: skip
        elif event.name == "OrganisationUpdated":
            orgs[a["orgId"]] = {
                "org_id": a["orgId"], "controller": a["controller"], "roles": int(a["roles"]),
                "active": bool(a["active"]), "block_number": event.block_number,
            }  # fmt: skip
        else:
            partners[(a["ownerId"], a["partnerId"])] = {
                "brand_id": a["ownerId"], "partner_id": a["partnerId"], "roles": int(a["roles"]),
                "block_number": event.block_number,
            }  # fmt: skip
    session.execute(delete(table_of(MirrorOrganisation)))
    session.execute(delete(table_of(MirrorPartnerRole)))
    session.execute(delete(table_of(MirrorCompanyPrefix)))
    zero = "0x" + "00" * 32
    upsert_replace(session, table_of(MirrorCompanyPrefix), ["prefix_key"],
                   [p for p in prefixes.values() if p["org_id"] != zero])  # fmt: skip
    upsert_replace(session, table_of(MirrorOrganisation), ["org_id"], list(orgs.values()))
    upsert_replace(
        session,
        table_of(MirrorPartnerRole),
        ["brand_id", "partner_id"],
        list(partners.values()),
    )


def apply(session: Session, events: list[DecodedEvent], block_times: dict[int, int]) -> dict[str, int]:
    confirmations: dict[str, int] = {}
    rows: dict[type, list[dict[str, Any]]] = {table: [] for table in APPEND_ONLY_TABLES}
    for event in events:
        if event.contract != CONTRACT:
            continue
        a = event.args
        where = {"block_number": event.block_number, "tx_hash": event.tx_hash}
        when = block_times.get(event.block_number, 0)
        if event.name == "ProductRegistered":
            gtin = gtin_from_int(int(a["gtin"]))
            rows[MirrorProduct].append({"gtin": gtin, "brand_id": a["brandId"], **where})
            confirmations[f"product:{gtin}"] = event.block_number
        elif event.name == "ItemsRegistered":
            rows[MirrorItemBatch].append({
                "root": a["root"], "gtin": gtin_from_int(int(a["gtin"])), "manufacturer_id": a["manufacturerId"],
                "count": int(a["count"]), "block_time": when, **where,
            })  # fmt: skip
            confirmations[f"items:{a['root']}"] = event.block_number
        elif event.name == "EventsAnchored":
            rows[MirrorEventAnchor].append({
                "root": a["root"], "org_id": a["orgId"], "count": int(a["count"]), "block_time": when, **where,
            })  # fmt: skip
            confirmations[f"anchor:{a['root']}"] = event.block_number
        elif event.name == "CompanyPrefixAssigned":
            confirmations[f"prefix:{prefix_of_key(int(a['prefixKey']))}"] = event.block_number
        elif event.name == "RecallIssued":
            rows[MirrorRecall].append({
                "recall_id": int(a["recallId"]), "gtin": gtin_from_int(int(a["gtin"])), "brand_id": a["brandId"],
                "scope_root": a["scopeRoot"], "count": int(a["count"]), "reason_ref": a["reasonRef"],
                "block_time": when, **where,
            })  # fmt: skip
            confirmations[f"recall:{gtin_from_int(int(a['gtin']))}:{a['scopeRoot']}"] = event.block_number
    for table, table_rows in rows.items():
        if table_rows:
            session.execute(table_of(table).insert(), table_rows)
    if any(e.contract == CONTRACT and e.name in LATEST_VALUE_EVENTS for e in events):
        _rebuild_latest(session)
    return confirmations


def rollback(session: Session, removed: list[DecodedEvent], above_block: int) -> None:
    for table in APPEND_ONLY_TABLES:
        sa_table = table_of(table)
        session.execute(delete(sa_table).where(sa_table.c.block_number > above_block))
    _rebuild_latest(session)
