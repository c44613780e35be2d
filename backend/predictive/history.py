"""Imported order history, so that a new program does not start blind.

A file (or the bulk API's rows) has the columns ``order_id,customer_id,date,total`` and optionally
``sku,category,quantity``. A row is one order, or one line of it: rows that share an ``order_id``
are the lines of one order (the same customer and date), and the order's total is the sum of
their totals. Everything is checked before anything is written (every bad line reported, up to
50); then, in one transaction, unknown customers are enrolled (a pseudonymous address each, as
at a first purchase) and the orders and lines are written with bulk inserts. Imported orders earn
nothing, never reach the chain, and count only as purchase history for the models.
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from pathlib import Path
from typing import Any

from sqlmodel import Session

from backend.db.direct import bulk_insert, dialect_of, in_list, list_value, select_rows
from backend.db.ids import allocate_ids
from backend.db.models import Customer, HistoryLine, HistoryOrder, Purchase, Store
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty.customers import new_custodial_address

COLUMNS = ("order_id", "customer_id", "date", "total")
OPTIONAL = ("sku", "category", "quantity")
MAX_TOTAL = Decimal("1000000000")
MAX_PROBLEMS = 50
LOOKUP_CHUNK = 10_000
Progress = Callable[[str, int, int], None]  # (stage, done, total)


@dataclass(frozen=True)
class Line:
    sku: str
    category: str | None
    quantity: int
    amount: Decimal


@dataclass
class Order:
    order_id: str
    customer_id: str
    day: date
    total: Decimal = Decimal(0)
    lines: list[Line] = field(default_factory=list)
    first_line: int = 0  # where the file first named it, for messages


@dataclass(frozen=True)
class ImportReport:
    import_id: str
    orders: int
    lines: int
    customers_enrolled: int


class HistoryProblems(Unprocessable):
    """Bad rows: nothing was imported. ``problems`` has a line per bad row."""

    def __init__(self, problems: list[str], field: str = "file") -> None:
        head = "; ".join(problems[:3]) + (f"; … ({len(problems)} problems)" if len(problems) > 3 else "")
        super().__init__(f"nothing was imported: {head}", field=field)
        self.problems = problems


def _text(record: Mapping[str, Any], name: str) -> str:
    value = record.get(name)
    return "" if value is None else str(value).strip()


def parse_records(
    records: Iterable[Mapping[str, Any]], today: date, first_line: int = 2, where: str = "line"
) -> list[Order]:
    """Orders from rows (CSV lines, or JSON objects of the bulk route); ``HistoryProblems`` lists
    every bad one. ``where`` names a row in messages (``line`` of a file, ``rows`` of a body)."""
    orders: dict[str, Order] = {}
    problems: list[str] = []
    for number, record in enumerate(records, start=first_line):
        if len(problems) >= MAX_PROBLEMS:
            break
        label = f"{where} {number}"
        try:
            order_id, customer_id, day, total = _required(record, today)
            line = _line(record, total)
        except ValueError as exc:
            problems.append(f"{label}: {exc}")
            continue
        order = orders.get(order_id)
        if order is None:
            order = orders[order_id] = Order(order_id, customer_id, day, first_line=number)
        elif order.customer_id != customer_id or order.day != day:
            problems.append(f"{label}: order {order_id} has another customer or date on {where} {order.first_line}")
            continue
        order.total += total
        if line is not None:
            order.lines.append(line)
    field = "rows" if where == "rows" else "file"
    if problems:
        raise HistoryProblems(problems, field)
    if not orders:
        raise HistoryProblems(["no orders"], field)
    for order in orders.values():
        if order.total > MAX_TOTAL:
            raise HistoryProblems(
                [f"{where} {order.first_line}: order {order.order_id} totals more than {MAX_TOTAL}"], field
            )
    return list(orders.values())


def _required(record: Mapping[str, Any], today: date) -> tuple[str, str, date, Decimal]:
    order_id, customer_id, day_text, total_text = (_text(record, name) for name in COLUMNS)
    if not 1 <= len(order_id) <= 128:
        raise ValueError("order_id must have 1 to 128 characters")
    if not 1 <= len(customer_id) <= 128:
        raise ValueError("customer_id must have 1 to 128 characters")
    try:
        day = _day(day_text)
    except ValueError:
        raise ValueError(f"date {day_text!r} is not a date (YYYY-MM-DD, or ISO 8601 with a time zone)") from None
    if day > today or day.year < 1970:
        raise ValueError(f"date {day.isoformat()} is not a past day")
    try:
        total = Decimal(total_text)
    except InvalidOperation:
        raise ValueError(f"total {total_text!r} is not a number") from None
    if not total.is_finite() or total < 0 or total > MAX_TOTAL or total.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValueError(f"total {total_text!r} must be between 0 and {MAX_TOTAL}, with at most 4 decimals")
    return order_id, customer_id, day, total


def _day(text: str) -> date:
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC).date()


def _line(record: Mapping[str, Any], amount: Decimal) -> Line | None:
    sku, category, quantity_text = (_text(record, name) for name in OPTIONAL)
    if not sku:
        if category or quantity_text:
            raise ValueError("category and quantity need a sku")
        return None
    if len(sku) > 64 or (category and len(category) > 64):
        raise ValueError("sku and category have at most 64 characters")
    try:
        quantity = int(quantity_text) if quantity_text else 1
    except ValueError:
        raise ValueError(f"quantity {quantity_text!r} is not a whole number") from None
    if not 1 <= quantity <= 1_000_000:
        raise ValueError("quantity must be between 1 and 1000000")
    return Line(sku, category or None, quantity, amount)


def read_file(path: Path, today: date) -> list[Order]:
    """The orders of a CSV file (``HistoryProblems`` for a bad one)."""
    try:
        with path.open(newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            names = [(name or "").strip().lower() for name in reader.fieldnames or []]
            missing = [name for name in COLUMNS if name not in names]
            if missing:
                raise HistoryProblems(
                    [f"{path}: the header must name {', '.join(COLUMNS)} (missing {', '.join(missing)})"]
                )
            rows = ({(k or "").strip().lower(): v for k, v in raw.items()} for raw in reader)
            return parse_records(rows, today)
    except csv.Error as exc:
        raise HistoryProblems([f"{path}: not a readable CSV file ({exc})"]) from None
    except UnicodeDecodeError as exc:
        raise HistoryProblems([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None


def read_text(text: str, today: date) -> list[Order]:
    """The orders of CSV text (the bulk route's ``text/csv`` body)."""
    reader = csv.DictReader(io.StringIO(text))
    names = [(name or "").strip().lower() for name in reader.fieldnames or []]
    if any(name not in names for name in COLUMNS):
        raise HistoryProblems([f"the header must name {', '.join(COLUMNS)}"])
    try:
        return parse_records(({(k or "").strip().lower(): v for k, v in raw.items()} for raw in reader), today)
    except csv.Error as exc:
        raise HistoryProblems([f"not a readable CSV text ({exc})"]) from None


def _existing(
    session: Session, table: Any, column: str, values: list[str], where: str = "", params: tuple[Any, ...] = ()
) -> list[tuple[Any, ...]]:
    dialect = dialect_of(session)
    found: list[tuple[Any, ...]] = []
    for start in range(0, len(values), LOOKUP_CHUNK):
        chunk = list_value(dialect, values[start : start + LOOKUP_CHUNK])
        condition = f"{in_list(dialect, column)}{where}"
        found.extend(select_rows(session, table, ("id", column), condition, (chunk, *params)))
    return found


def import_history(
    session: Session, store_id: str, orders: list[Order], progress: Progress | None = None, now: datetime | None = None
) -> ImportReport:
    """Write checked orders in the caller's transaction (refused whole: unknown store, an order id
    the store already has, live or imported)."""
    now = now or utcnow()
    report = progress or (lambda stage, done, total: None)
    store = session.get(Store, store_id)
    if store is None:
        raise NotFound(f"store {store_id!r} does not exist", field="store")
    dialect = dialect_of(session)
    order_ids = [order.order_id for order in orders]
    store_param = (store_id,)
    marker = "%s" if dialect.name == "postgresql" else "?"
    for table in (table_of(HistoryOrder), table_of(Purchase)):
        taken = _existing(session, table, "order_id", order_ids, f" AND store_id = {marker}", store_param)
        if taken:
            kind = "imported" if table.name == "history_orders" else "recorded as a purchase"
            raise Conflict(
                f"order {taken[0][1]} of store {store_id} is already {kind}; nothing was imported", field="order_id"
            )
    report("customers", 0, len(orders))
    external = sorted({order.customer_id for order in orders})
    known = {
        external_id: int(pk) for pk, external_id in _existing(session, table_of(Customer), "external_id", external)
    }
    new = [external_id for external_id in external if external_id not in known]
    new_ids = allocate_ids(session, table_of(Customer), len(new))
    bulk_insert(
        session,
        table_of(Customer),
        [
            {
                "id": pk,
                "external_id": external_id,
                "address": new_custodial_address(),
                "wallet": None,
                "created_at": now,
                "erased_at": None,
            }
            for pk, external_id in zip(new_ids, new, strict=True)
        ],
    )
    known.update(zip(new, new_ids, strict=True))
    import_id = "hist_" + secrets.token_hex(8)
    order_pks = allocate_ids(session, table_of(HistoryOrder), len(orders))
    order_rows: list[dict[str, Any]] = []
    line_rows: list[dict[str, Any]] = []
    for done, (pk, order) in enumerate(zip(order_pks, orders, strict=True), start=1):
        order_rows.append(
            {
                "id": pk,
                "store_id": store_id,
                "order_id": order.order_id,
                "customer_id": known[order.customer_id],
                "ordered_at": datetime(order.day.year, order.day.month, order.day.day, 12, tzinfo=UTC),
                "total": order.total,
                "import_id": import_id,
                "imported_at": now,
            }
        )
        line_rows.extend(
            {
                "order_pk": pk,
                "line_no": n,
                "sku": line.sku,
                "category": line.category,
                "quantity": line.quantity,
                "amount": line.amount,
            }
            for n, line in enumerate(order.lines)
        )
        if done % 50_000 == 0:
            report("orders", done, len(orders))
    bulk_insert(session, table_of(HistoryOrder), order_rows)
    bulk_insert(session, table_of(HistoryLine), line_rows)
    report("orders", len(orders), len(orders))
    return ImportReport(import_id, len(order_rows), len(line_rows), len(new))
