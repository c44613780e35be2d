"""The console's provenance pages: organisations, item imports (with their progress to the chain),
EPCIS events and the trace view of an item (what it was made from, what it travelled in). An
admin sees everything; an organisation's session sees only its own part, as the API shows it:
the organisations it works with (``lists.list_organisations``), the item batches it made or of its
brand, the events ``find_events`` lets it see, and a trace only of an item it may see (another
brand's GTIN or item: 403 naming the field). Imports go through the CLI's own importer
(``provenance.importer``) and ``register_items``' rules (the brand must have authorised the
manufacturer), all in one unit of work: a refused file leaves nothing.
"""

from __future__ import annotations

import json
import tempfile
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import or_
from sqlmodel import Session, col, select

from backend import lists
from backend.api.deps import AppState, StateDep
from backend.api.policy import ADMIN_OR_ORGANISATION, ORGANISATION, ORGANISATION_LIST
from backend.api.routers.console_pages import User, _allowed, _context, _form, router_for
from backend.db.models import EpcisEventEpc, ItemBatch, Operation, Product
from backend.errors import DomainError, Forbidden, Unprocessable
from backend.provenance import passports
from backend.provenance.epcis.graph import trace
from backend.provenance.epcis.identifiers import parse_identifier
from backend.provenance.epcis.query import EventFilter, epc_key, find_events, visible_gtins
from backend.provenance.gtin import normalise_gtin
from backend.provenance.importer import ImportProblems, import_rows, read_rows
from backend.provenance.items import find_item
from backend.provenance.organisations import get_organisation
from backend.web.console import ConsoleUser
from backend.web.pages import page, refusal

router = router_for()
LONGEST_IMPORT = 400_000  # characters of CSV pasted in the form (about 15,000 serials)
IMPORT_BATCH = 10_000  # serials per Merkle batch, as the CLI's default
EVENTS_SHOWN = 200
VIA = {
    "self": "the item itself",
    "input": "made from",
    "parent": "travelled in",
    "child": "contained",
    "output": "made into",
}


def _viewer(user: ConsoleUser) -> str | None:
    """None for an admin (everything); an organisation's id otherwise."""
    return None if user.is_admin else user.org_id


# -- organisations --------------------------------------------------------------------------------


@router.get("/organisations")
def organisations(
    request: Request, user: User, state: StateDep, q: str | None = None, cursor: str | None = None
) -> Any:
    _allowed(ORGANISATION_LIST, user)
    with Session(state.engine) as session:
        found = lists.list_organisations(session, q or None, 50, cursor, _viewer(user))
    return page(request, "console/organisations.html", _context(user, "organisations", page=found, q=q or ""))


# -- item batches and imports ---------------------------------------------------------------------


def item_batches(session: Session, viewer: str | None, limit: int = 100) -> list[dict[str, Any]]:
    """Item batches, newest first, each with its operation's status on the way to the chain; an
    organisation's: those it made and those of its brand's products."""
    query = select(ItemBatch, Operation.status).join(
        Operation, col(Operation.confirm_key) == "items:" + col(ItemBatch.root), isouter=True
    )
    if viewer is not None:
        own_products = select(Product.gtin).where(Product.brand_id == viewer)
        query = query.where(or_(col(ItemBatch.manufacturer_id) == viewer, col(ItemBatch.gtin).in_(own_products)))
    rows = session.exec(query.order_by(col(ItemBatch.created_at).desc(), col(ItemBatch.root)).limit(limit)).all()
    return [
        {
            "root": batch.root,
            "gtin": batch.gtin,
            "lot": batch.lot,
            "count": batch.count,
            "manufacturer_id": batch.manufacturer_id,
            "created_at": batch.created_at,
            "status": status or "unknown",
        }
        for batch, status in rows
    ]


def _progress(batches: list[dict[str, Any]]) -> dict[str, int]:
    items = sum(b["count"] for b in batches)
    on_chain = sum(b["count"] for b in batches if b["status"] == "confirmed")
    waiting = sum(1 for b in batches if b["status"] in ("pending", "sent"))
    return {"total": items, "on_chain": on_chain, "waiting": waiting}


def _items_context(state: AppState, user: ConsoleUser, **extra: Any) -> dict[str, Any]:
    with Session(state.engine) as session:
        batches = item_batches(session, _viewer(user))
    return _context(user, "items", batches=batches, progress=_progress(batches), **extra)


@router.get("/items")
def items(request: Request, user: User, state: StateDep) -> Response:
    _allowed(ADMIN_OR_ORGANISATION, user)
    return page(request, "console/items.html", _items_context(state, user))


@router.get("/items/progress")
def items_progress(request: Request, user: User, state: StateDep) -> Response:
    """The batches' card alone (htmx refreshes it every 2 seconds while a batch is on its way)."""
    _allowed(ADMIN_OR_ORGANISATION, user)
    return page(request, "console/_batches.html", _items_context(state, user))


@router.post("/items/import")
async def import_items(request: Request, user: User, state: StateDep) -> Response:
    """What ``credance provenance items import`` does, for the signed-in manufacturer: a CSV
    (``gtin,serial[,lot]``) checked whole first, then registered in Merkle batches."""
    form = await _form(request, user, "csv", "gtin")
    text = form.get("csv", "")
    try:
        _allowed(ORGANISATION, user)  # items are registered by their manufacturer, never by an admin
        if not text or len(text) > LONGEST_IMPORT:
            raise Unprocessable(f"paste the CSV (at most {LONGEST_IMPORT:,} characters)", field="csv")
        rows = _rows(text, form.get("gtin") or None)
        with state.write() as session:
            manufacturer = get_organisation(session, user.org_id or "")
            registered = import_rows(session, manufacturer, rows, IMPORT_BATCH)
    except DomainError as error:
        return refusal(request, error, "console/items.html", _items_context(state, user, csv=text))
    done = f"{len(rows)} items registered in {len(registered)} batch(es); the roots are on their way to the chain."
    return page(request, "console/items.html", _items_context(state, user, done=done))


def _rows(text: str, gtin: str | None) -> Any:
    """The importer's rows of a pasted CSV (the CLI's own reader and its checks)."""
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "items.csv"
        path.write_text(text.replace("\r\n", "\n"), encoding="utf-8")
        try:
            return read_rows(path, gtin)
        except ImportProblems as bad:
            lines = "; ".join(p.replace(str(path), "the CSV") for p in bad.problems[:10])
            raise Unprocessable(f"{bad}: {lines}", field="csv") from None


# -- events and the trace view ------------------------------------------------------------------


def _may_see_gtin(session: Session, user: ConsoleUser, gtin: str, field: str) -> None:
    if not user.is_admin and gtin not in visible_gtins(session, user.org_id or ""):
        raise Forbidden(f"GTIN {gtin} is not a product of this organisation or of a brand it works for", field=field)


def _may_see_item(session: Session, user: ConsoleUser, epc: str) -> str:
    """The item's key, if this viewer may see it: an item of a GTIN it may see, or a container
    (no GTIN) that an event it may see names; otherwise 403 naming ``epc``."""
    key = epc_key(epc)
    if user.is_admin:
        return key
    identifier = parse_identifier(epc)
    if identifier is not None and identifier.gtin is not None:
        _may_see_gtin(session, user, normalise_gtin(identifier.gtin), "epc")
    elif not find_events(session, EventFilter(epc=epc, limit=1), user.org_id):
        raise Forbidden("no event this organisation may see names this identifier", field="epc")
    return key


def event_rows(records: list[Any]) -> list[dict[str, Any]]:
    rows = []
    for record in records:
        body = json.loads(record.body)
        named = [*body.get("epcList", []), *body.get("childEPCs", []), *body.get("inputEPCList", [])]
        named += body.get("outputEPCList", [])
        parent = body.get("parentID")
        rows.append(
            {
                "time": record.event_time,
                "type": record.event_type,
                "action": record.action,
                "biz_step": record.biz_step,
                "disposition": record.disposition,
                "where": record.biz_location or record.read_point,
                "writer": record.org_id,
                "parent": parent,
                "named": named[:20],
                "more": max(0, len(named) - 20),
                "anchored": record.anchor_root is not None,
            }
        )
    return rows


@router.get("/events")
def events(
    request: Request,
    user: User,
    state: StateDep,
    gtin: str = "",
    epc: str = "",
    biz_step: str = "",
    event_type: str = "",
) -> Response:
    """Events as ``GET /v1/epcis/events`` finds them for this viewer; naming another brand's GTIN
    or item is refused (403), not answered with an empty list."""
    _allowed(ADMIN_OR_ORGANISATION, user)
    filters = {"gtin": gtin[:14], "epc": epc[:300], "biz_step": biz_step[:200], "event_type": event_type[:40]}
    with Session(state.engine) as session:
        if filters["gtin"]:
            _may_see_gtin(session, user, normalise_gtin(filters["gtin"]), "gtin")
        if filters["epc"]:
            _may_see_item(session, user, filters["epc"])
        wanted = EventFilter(
            epc=filters["epc"] or None,
            gtin=filters["gtin"] or None,
            biz_step=filters["biz_step"] or None,
            event_type=filters["event_type"] or None,
            limit=EVENTS_SHOWN,
        )
        shown = event_rows(find_events(session, wanted, _viewer(user)))
    return page(request, "console/events.html", _context(user, "events", events=shown, filters=filters))


@router.get("/trace")
def trace_view(request: Request, user: User, state: StateDep, epc: str = "") -> Response:
    """What an item was made from and what it travelled in (``graph.trace`` backward, the events
    ``find_events`` traces), for an item this viewer may see."""
    _allowed(ADMIN_OR_ORGANISATION, user)
    if not epc:
        return page(request, "console/trace.html", _context(user, "events", epc="", reached=[], events=[]))
    with Session(state.engine) as session:
        key = _may_see_item(session, user, epc[:300])
        records = find_events(session, EventFilter(epc=epc[:300], trace="backward"), _viewer(user))
        shown = event_rows(records)
        named = set(
            session.exec(
                select(EpcisEventEpc.epc).where(col(EpcisEventEpc.event_pk).in_([r.id for r in records]))
            ).all()
        )
        reached = [
            {"key": r.key, "via": VIA.get(r.via, r.via), "start": r.start, "end": r.end, "source": r.source}
            for r in trace(session, key, "backward")
            if r.key != key and (user.is_admin or r.key in named)  # only what a visible event names
        ]
        passport = _passport_of(session, epc[:300])
    return page(
        request,
        "console/trace.html",
        _context(user, "events", epc=epc, reached=reached, events=shown, passport=passport),
    )


def _passport_of(session: Session, epc: str) -> dict[str, Any] | None:
    """The passport of a serialized item, as ``/v1/passports/{token_id}`` shows it (None: not issued)."""
    identifier = parse_identifier(epc)
    if identifier is None or identifier.gtin is None or identifier.serial is None:
        return None
    item = find_item(session, normalise_gtin(identifier.gtin), identifier.serial)
    owner = None if item is None else passports.ownership(session, passports.token_id_of(item))
    if owner is None:
        return None
    return {
        "token_id": owner.token_id,
        "owners": owner.previous_owners + 1,
        "held_since": datetime.fromtimestamp(owner.held_since, UTC),
        "recalled": passports.is_recalled(session, owner.token_id),
    }
