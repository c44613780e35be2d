"""The console's provenance pages: products (a brand registers them), item imports (with their
progress to the chain), EPCIS events, capture (a JSON or XML document, each event's outcome), the
trace view of an item both ways (made from and travelled in; made into and where that went), and
recalls (a brand issues them). An admin sees everything; an organisation's session sees only its
own part, as the API shows it: the item batches it made or of its brand, the events
``find_events`` lets it see, and a trace only of an item it may see (another brand's GTIN or
item: 403 naming the field). Writes go through the routes' own functions (``register_product``,
``provenance.importer`` and ``register_items``' rules, ``capture_document``, ``issue_recall``), each
in one unit of work: a refused form leaves nothing. Organisations are ``console_organisations.py``.
"""

from __future__ import annotations

import json
import tempfile
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from fastapi import Request
from fastapi.responses import Response
from sqlalchemy import or_
from sqlmodel import Session, col, select

from backend import lists
from backend.api.deps import AppState, StateDep
from backend.api.policy import ADMIN_OR_ORGANISATION, BRAND_LIST, ORGANISATION
from backend.api.routers.console_pages import (
    FormPage,
    User,
    _allowed,
    _context,
    _form,
    _validated,
    form_fields,
    router_for,
)
from backend.api.schemas.provenance import ProductIn, RecallIn
from backend.db.models import EpcisEventEpc, ItemBatch, Operation, Product
from backend.errors import DomainError, Forbidden, Unprocessable
from backend.provenance import passports
from backend.provenance.epcis.capture import CaptureRejected, capture_in
from backend.provenance.epcis.graph import trace
from backend.provenance.epcis.identifiers import parse_identifier
from backend.provenance.epcis.query import EventFilter, epc_key, find_events, visible_gtins
from backend.provenance.epcis.xml import document_from_xml
from backend.provenance.gtin import normalise_gtin
from backend.provenance.importer import ImportProblems, import_rows, read_rows
from backend.provenance.items import find_item
from backend.provenance.organisations import get_organisation
from backend.provenance.products import register_product
from backend.provenance.recalls import issue_recall
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


DIRECTIONS = {
    "backward": "where it comes from (made from, travelled in)",
    "forward": "where it went (made into, travelled in)",
    "both": "both ways",
}


@router.get("/trace")
def trace_view(request: Request, user: User, state: StateDep, epc: str = "", direction: str = "both") -> Response:
    """What an item was made from and what it travelled in (``backward``), what it went into and
    where it travelled (``forward``), or ``both`` (``graph.trace``, the events ``find_events``
    traces), for an item this viewer may see; of what is reached, only what an event it may see
    names."""
    _allowed(ADMIN_OR_ORGANISATION, user)
    if direction not in DIRECTIONS:
        raise Unprocessable(f"direction is one of {', '.join(DIRECTIONS)}", field="direction")
    shown_context: dict[str, Any] = {"epc": epc, "direction": direction, "directions": DIRECTIONS}
    if not epc:
        return page(request, "console/trace.html", _context(user, "events", reached=[], events=[], **shown_context))
    with Session(state.engine) as session:
        key = _may_see_item(session, user, epc[:300])
        records = find_events(session, EventFilter(epc=epc[:300], trace=direction), _viewer(user))
        shown = event_rows(records)
        named = set(
            session.exec(
                select(EpcisEventEpc.epc).where(col(EpcisEventEpc.event_pk).in_([r.id for r in records]))
            ).all()
        )
        reached = [
            {"key": r.key, "via": VIA.get(r.via, r.via), "start": r.start, "end": r.end, "source": r.source}
            for r in trace(session, key, direction)
            if r.key != key and (user.is_admin or r.key in named)  # only what a visible event names
        ]
        shown_context["passport"] = _passport_of(session, epc[:300])
    return page(request, "console/trace.html", _context(user, "events", reached=reached, events=shown, **shown_context))


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


# -- capturing EPCIS documents ------------------------------------------------------------------


def _nothing(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    return {}


CAPTURE = FormPage("console/capture.html", "capture", ORGANISATION, _nothing)
LONGEST_CAPTURE = 1_000_000  # characters of a pasted or uploaded document


def read_document(text: str) -> dict[str, Any]:
    """An EPCIS document as JSON(-LD), or EPCIS 1.2/2.0 XML as its JSON-LD form (the REST binding's
    own reader: the same events, the same hashes)."""
    if not text or len(text) > LONGEST_CAPTURE:
        raise Unprocessable(f"paste or choose the document (at most {LONGEST_CAPTURE:,} characters)", field="document")
    if text.lstrip().startswith("<"):
        return document_from_xml(text.encode("utf-8"))
    try:
        document = json.loads(text)
    except ValueError as error:
        raise Unprocessable(f"the document is neither JSON nor XML: {error}", field="document") from None
    if not isinstance(document, dict):
        raise Unprocessable("an EPCIS document is a JSON object", field="document")
    return document


@router.get("/capture")
def capture_page(request: Request, user: User, state: StateDep) -> Response:
    return CAPTURE.show(request, user, state)


@router.post("/capture")
async def capture(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/epcis/capture`` does for the signed-in organisation: every event checked
    (schema, then the business rules on each item's history), all stored or none; the answer shows
    each event's outcome, or every problem of a refused document."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        document = read_document(form.get("document", ""))
        capture_id = str(uuid.uuid4())
        try:
            captured = capture_in(state.engine, user.org_id or "", document, state.settings, capture_id)
        except CaptureRejected as rejected:
            raise Rejected(rejected) from None
        return {"capture_id": capture_id, "captured": captured}

    try:
        return await CAPTURE.submit(request, user, state, ("document",), act)
    except Rejected as refused:
        problems = refused.rejected.problems
        return CAPTURE.show(request, user, state, refused.rejected, problems=problems)


class Rejected(Exception):
    """A refused document, carried out of the form's action to show every one of its problems."""

    def __init__(self, rejected: CaptureRejected) -> None:
        self.rejected = rejected


# -- products ------------------------------------------------------------------------------------


def _brand_list(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    """What a brand list shows: an organisation's own brand, an admin's choice (``brand_id``)."""
    q = request.query_params.get("q", "")[:100]
    brand = user.org_id if not user.is_admin else (request.query_params.get("brand_id") or None)
    return {"q": q, "brand": brand, "cursor": request.query_params.get("cursor")}


def _products(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    shown = _brand_list(session, user, request)
    found = lists.list_products(session, shown["brand"], shown["q"] or None, 50, shown.pop("cursor"))
    return {**shown, "page": found}


PRODUCTS = FormPage("console/products.html", "products", BRAND_LIST, _products)


@router.get("/products")
def products(request: Request, user: User, state: StateDep, brand_id: str = "") -> Response:
    _allowed(BRAND_LIST, user, brand_id or None)  # another brand's: 403 naming brand_id
    return PRODUCTS.show(request, user, state)


@router.post("/products")
async def register(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/products`` does for the signed-in brand: a GTIN under its own company
    prefix, on its way to the chain."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        body = _validated(ProductIn, form_fields(form))
        with state.write() as session:
            brand = get_organisation(session, user.org_id or "")
            register_product(session, brand, body.gtin, body.name, body.description, body.category)
        return {"done": f"Product {body.gtin} registered; on its way to the chain."}

    fields = ("gtin", "name", "description", "category")
    return await PRODUCTS.submit(request, user, state, fields, act, policy=ORGANISATION)


# -- recalls ------------------------------------------------------------------------------------


def _recalls(session: Session, user: ConsoleUser, request: Request) -> dict[str, Any]:
    shown = _brand_list(session, user, request)
    found = lists.list_recalls(session, shown["brand"], None, shown["q"] or None, 50, shown.pop("cursor"))
    return {**shown, "page": found}


RECALLS = FormPage("console/recalls.html", "recalls", BRAND_LIST, _recalls)


@router.get("/recalls")
def recalls(request: Request, user: User, state: StateDep, brand_id: str = "") -> Response:
    _allowed(BRAND_LIST, user, brand_id or None)  # another brand's: 403 naming brand_id
    return RECALLS.show(request, user, state)


@router.post("/recalls")
async def issue(request: Request, user: User, state: StateDep) -> Response:
    """What ``POST /v1/recalls`` does for the signed-in brand: a lot, serials (one a line) or the
    whole GTIN, with the items made from or packed with them; the scope root goes on chain."""

    def act(form: dict[str, str]) -> dict[str, Any]:
        serials = [line.strip() for line in form.get("serials", "").splitlines() if line.strip()]
        fields = form_fields(form)
        fields.pop("serials", None)
        if serials:
            fields["serials"] = serials
        body = _validated(RecallIn, fields)
        with state.write() as session:
            brand = get_organisation(session, user.org_id or "")
            record = issue_recall(session, brand, body.gtin, body.reason, list(body.serials or []) or None, body.lot)
            done = f"Recall of {record.gtin} issued: {record.count} item(s) in its scope, on their way to the chain."
        return {"done": done}

    return await RECALLS.submit(request, user, state, ("gtin", "reason", "lot", "serials"), act, policy=ORGANISATION)
