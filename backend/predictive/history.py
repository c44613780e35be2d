"""Imported order history, so that a new program does not start blind.

A file (or the bulk API's rows) has the columns ``order_id,customer_id,date,total`` and optionally
``sku,category,quantity``. A row is one order, or one line of it: rows that share an ``order_id``
are the lines of one order (the same customer and date), and the order's total is the sum of
their totals. Everything is checked before anything is written (every bad line reported, up to
50); then, in one transaction, unknown customers are enrolled (a pseudonymous address each, as
at a first purchase) and the orders and lines are written with bulk inserts. Imported orders earn
nothing, never reach the chain, and count only as purchase history for the models.

Hundreds of thousands of rows take seconds: rows are plain tuples (no model or dict per row),
each distinct date and total text is checked once (a history has a few hundred days and far fewer
prices than rows), each distinct day and amount is converted to its stored form once, and the
rows go to the database in ``COPY`` (PostgreSQL) or one prepared ``executemany`` (SQLite).
"""

from __future__ import annotations

import csv
import io
import secrets
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from decimal import Decimal, InvalidOperation
from operator import attrgetter, itemgetter
from pathlib import Path
from typing import Any

from sqlalchemy import Dialect, Table
from sqlmodel import Session

from backend.db.direct import bind, bulk_insert_stored, dialect_of, fetch, in_list, list_value, select_rows
from backend.db.ids import allocate_ids
from backend.db.models import Customer, HistoryLine, HistoryOrder, Purchase, Store
from backend.db.schema import table_of
from backend.db.types import utcnow
from backend.errors import Conflict, NotFound, Unprocessable
from backend.loyalty.customers import new_custodial_addresses

COLUMNS = ("order_id", "customer_id", "date", "total")
OPTIONAL = ("sku", "category", "quantity")
MAX_TOTAL = Decimal("1000000000")
MAX_PROBLEMS = 50
LOOKUP_CHUNK = 10_000
WRITE_CHUNK = 50_000  # rows per insert: the progress bar moves between them
Progress = Callable[[str, int, int], None]  # (stage, done, total)
Row = Sequence[Any]  # order_id, customer_id, date, total, sku, category, quantity (None or "" where absent)


@dataclass(frozen=True, slots=True)
class Line:
    sku: str
    category: str | None
    quantity: int
    amount: Decimal


@dataclass(slots=True)
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


def parse_records(
    records: Iterable[Mapping[str, Any]], today: date, first_line: int = 2, where: str = "line"
) -> list[Order]:
    """Orders from rows given as mappings of the column names (JSON objects, tests)."""
    names = (*COLUMNS, *OPTIONAL)
    return parse_rows((tuple(record.get(name) for name in names) for record in records), today, first_line, where)


def parse_rows(
    rows: Iterable[Row], today: date, first_line: int = 2, where: str = "line", field: str | None = None
) -> list[Order]:
    """Orders from rows of the seven columns; ``HistoryProblems`` lists every bad one (up to 50).
    ``where`` names a row in messages (``line`` of a file, ``rows`` of a body), ``field`` the
    input refused (``rows`` for rows, else ``file``)."""
    checks = _Checks(today)
    good_days, good_totals, good_items = checks.good_days, checks.good_totals, checks.good_items
    orders: dict[str, Order] = {}
    problems: list[str] = []
    for number, row in enumerate(rows, start=first_line):
        try:
            try:  # the usual row: text fields, a date and a total seen before
                order_id, customer_id = row[0].strip(), row[1].strip()
                day, total = good_days[row[2]], good_totals[row[3]]
                if not (0 < len(order_id) <= 128 and 0 < len(customer_id) <= 128):
                    raise LookupError
            except (AttributeError, LookupError, TypeError):  # anything else: checked in full, named if bad
                order_id = _identifier(row[0], "order_id")
                customer_id = _identifier(row[1], "customer_id")
                day, total = checks.day(row[2]), checks.total(row[3])
            key = (row[4], row[5], row[6])
            try:
                item = good_items[key]
            except (KeyError, TypeError):
                item = checks.item(key)
            line = None if item is None else Line(*item, total)
        except ValueError as exc:
            problems.append(f"{where} {number}: {exc}")
        else:
            order = orders.get(order_id)
            if order is None:
                orders[order_id] = Order(order_id, customer_id, day, total, [] if line is None else [line], number)
                continue
            if order.customer_id == customer_id and order.day == day:
                order.total += total
                if line is not None:
                    order.lines.append(line)
                continue
            problems.append(
                f"{where} {number}: order {order_id} has another customer or date on {where} {order.first_line}"
            )
        if len(problems) >= MAX_PROBLEMS:
            break
    field = field or ("rows" if where == "rows" else "file")
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


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _identifier(value: Any, name: str) -> str:
    text = _text(value)
    if not 1 <= len(text) <= 128:
        raise ValueError(f"{name} must have 1 to 128 characters")
    return text


class _Checks:
    """Dates and totals, each distinct text checked once (its value or its problem remembered)."""

    MAX_REMEMBERED = 200_000  # prices repeat; a file of all-different amounts must not fill memory

    def __init__(self, today: date) -> None:
        self.today = today
        self.good_days: dict[Any, date] = {}  # read directly by the loop over rows
        self.good_totals: dict[Any, Decimal] = {}
        self.good_items: dict[Any, Item] = {}
        self.bad: dict[tuple[str, Any], str] = {}

    def day(self, text: Any) -> date:
        day: date = self._remembered("date", text, self.good_days, self._day)
        return day

    def total(self, text: Any) -> Decimal:
        total: Decimal = self._remembered("total", text, self.good_totals, _total)
        return total

    def item(self, cells: tuple[Any, Any, Any]) -> Item:
        found: Item = self._remembered("item", cells, self.good_items, lambda cells: _item(*cells))
        return found

    def _remembered(self, kind: str, text: Any, good: dict[Any, Any], check: Callable[[Any], Any]) -> Any:
        if not (isinstance(text, str) or (isinstance(text, tuple) and all(isinstance(v, str | None) for v in text))):
            return check(text)  # rows given as objects (tests, JSON numbers): not remembered
        if text in good:
            return good[text]
        problem = self.bad.get((kind, text))
        if problem is None:
            try:
                value = check(text)
            except ValueError as exc:
                problem = str(exc)
            else:
                if len(good) > self.MAX_REMEMBERED:
                    good.clear()
                good[text] = value
                return value
            if len(self.bad) > self.MAX_REMEMBERED:
                self.bad.clear()
            self.bad[(kind, text)] = problem
        raise ValueError(problem)

    def _day(self, value: Any) -> date:
        text = _text(value)
        try:
            day = _day(text)
        except ValueError:
            raise ValueError(f"date {text!r} is not a date (YYYY-MM-DD, or ISO 8601 with a time zone)") from None
        if day > self.today or day.year < 1970:
            raise ValueError(f"date {day.isoformat()} is not a past day")
        return day


def _day(text: str) -> date:
    if len(text) == 10:
        return date.fromisoformat(text)
    moment = datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError("no time zone")
    return moment.astimezone(UTC).date()


def _total(value: Any) -> Decimal:
    text = _text(value)
    try:
        total = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"total {text!r} is not a number") from None
    if not total.is_finite() or total < 0 or total > MAX_TOTAL or total.as_tuple().exponent < -4:  # type: ignore[operator]
        raise ValueError(f"total {text!r} must be between 0 and {MAX_TOTAL}, with at most 4 decimals")
    return total


Item = tuple[str, str | None, int] | None  # a line's sku, category and quantity; None: no line


def _item(sku_value: Any, category_value: Any, quantity_value: Any) -> Item:
    sku, category, quantity_text = _text(sku_value), _text(category_value), _text(quantity_value)
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
    return sku, category or None, quantity


def read_file(path: Path, today: date) -> list[Order]:
    """The orders of a CSV file (``HistoryProblems`` for a bad one)."""
    try:
        text = path.read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as exc:
        raise HistoryProblems([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    return read_text(text, today, f"{path}: ")


def read_text(text: str, today: date, source: str = "", field: str = "file") -> list[Order]:
    """The orders of CSV text (a file, or the bulk route's ``text/csv`` body); ``source`` starts
    the messages about the text as a whole, ``field`` names it in the refusal."""
    if "\x00" in text:  # PostgreSQL cannot store it (SQLite could: the databases would differ)
        raise HistoryProblems([f"{source}the text must not contain NUL characters"], field)
    reader = csv.reader(io.StringIO(text.removeprefix("\ufeff")))
    try:
        header = next(reader, [])
        names = [name.strip().lower() for name in header]
        missing = [name for name in COLUMNS if name not in names]
        if missing:
            raise HistoryProblems(
                [f"{source}the header must name {', '.join(COLUMNS)} (missing {', '.join(missing)})"], field
            )
        return parse_rows(_columns(reader, names), today, field=field)
    except csv.Error as exc:
        raise HistoryProblems([f"{source}not a readable CSV text ({exc})"], field) from None


def _columns(reader: Iterator[list[str]], names: list[str]) -> Iterator[Row]:
    """The seven columns of each non-blank line, in order (empty where the file has no such column
    or the line is short)."""
    width = len(names)
    picks = itemgetter(*(names.index(name) if name in names else width for name in (*COLUMNS, *OPTIONAL)))
    padding = [""] * (width + 1)
    for cells in reader:
        if not cells:
            continue  # a blank line
        if len(cells) != width:
            cells = cells[:width] + padding[len(cells) :]
        cells.append("")
        yield picks(cells)


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


class _Stored:
    """Values in the database's form, each distinct one converted once (``direct.bind`` of what
    ``value_of`` makes of it)."""

    def __init__(
        self, dialect: Dialect, table: Table, column: str, value_of: Callable[[Any], Any] = lambda value: value
    ) -> None:
        self.dialect, self.table, self.column, self.value_of = dialect, table, column, value_of
        self.known: dict[Any, Any] = {}

    def __call__(self, value: Any) -> Any:
        stored = self.known.get(value)
        if stored is None:
            stored = self.known[value] = bind(self.dialect, self.table, self.column, self.value_of(value))
        return stored


def _noon(day: date) -> datetime:
    """When an imported order of that day was placed (files give days; noon UTC stays that day)."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=UTC)


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
    report("checking order ids", 0, len(orders))
    for table in (table_of(HistoryOrder), table_of(Purchase)):
        taken = _existing(session, table, "order_id", order_ids, f" AND store_id = {marker}", store_param)
        if taken:
            kind = "imported" if table.name == "history_orders" else "recorded as a purchase"
            raise Conflict(
                f"order {taken[0][1]} of store {store_id} is already {kind}; nothing was imported", field="order_id"
            )
    # In key order, each index of the new rows grows at its end (about a third less work than
    # scattered inserts); the ids follow the same order.
    orders = sorted(orders, key=attrgetter("order_id"))
    with _sqlite_cache(session):
        return _write(session, store_id, orders, now, report)


def _write(session: Session, store_id: str, orders: list[Order], now: datetime, report: Progress) -> ImportReport:
    dialect = dialect_of(session)
    known, enrolled = _enrol(session, sorted({order.customer_id for order in orders}), now, report)
    import_id = "hist_" + secrets.token_hex(8)
    orders_table, lines_table = table_of(HistoryOrder), table_of(HistoryLine)
    order_pks = allocate_ids(session, orders_table, len(orders))
    noon = _Stored(dialect, orders_table, "ordered_at", _noon)
    order_total, line_amount = _Stored(dialect, orders_table, "total"), _Stored(dialect, lines_table, "amount")
    stored_now = bind(dialect, orders_table, "imported_at", now)
    order_columns = ("id", "store_id", "order_id", "customer_id", "ordered_at", "total", "import_id", "imported_at")
    line_columns = ("order_pk", "line_no", "sku", "category", "quantity", "amount")
    lines = 0
    for start in range(0, len(orders), WRITE_CHUNK):
        report("orders", start, len(orders))
        part = zip(order_pks[start : start + WRITE_CHUNK], orders[start : start + WRITE_CHUNK], strict=True)
        order_rows: list[tuple[Any, ...]] = []
        line_rows: list[tuple[Any, ...]] = []
        for pk, order in part:
            order_rows.append(
                (
                    pk,
                    store_id,
                    order.order_id,
                    known[order.customer_id],
                    noon(order.day),
                    order_total(order.total),
                    import_id,
                    stored_now,
                )
            )
            line_rows.extend(
                (pk, n, line.sku, line.category, line.quantity, line_amount(line.amount))
                for n, line in enumerate(order.lines)
            )
        bulk_insert_stored(session, orders_table, order_columns, order_rows)
        bulk_insert_stored(session, lines_table, line_columns, line_rows)
        lines += len(line_rows)
    report("orders", len(orders), len(orders))
    return ImportReport(import_id, len(orders), lines, enrolled)


@contextmanager
def _sqlite_cache(session: Session, mebibytes: int = 64) -> Iterator[None]:
    """A larger page cache for the import's connection on SQLite (the default 2 MiB spills the
    indexes being built to the file and reads them back), its own size given back after."""
    if dialect_of(session).name != "sqlite":
        yield
        return
    ((before,),) = fetch(session, "PRAGMA cache_size", ())
    fetch(session, f"PRAGMA cache_size = {-int(mebibytes) * 1024}", ())
    try:
        yield
    finally:
        fetch(session, f"PRAGMA cache_size = {int(before)}", ())


def _enrol(session: Session, external: list[str], now: datetime, report: Progress) -> tuple[dict[str, int], int]:
    """The primary key of every customer named, enrolling those not known yet (how many: the int)."""
    table = table_of(Customer)
    report("customers", 0, len(external))
    known = {external_id: int(pk) for pk, external_id in _existing(session, table, "external_id", external)}
    new = [external_id for external_id in external if external_id not in known]
    new_ids = allocate_ids(session, table, len(new))
    stored_now = bind(dialect_of(session), table, "created_at", now)
    columns = ("id", "external_id", "address", "wallet", "created_at", "erased_at")
    for start in range(0, len(new), WRITE_CHUNK):
        report("customers", start, len(new))
        chunk = zip(new_ids[start : start + WRITE_CHUNK], new[start : start + WRITE_CHUNK], strict=True)
        addresses = new_custodial_addresses(min(WRITE_CHUNK, len(new) - start))
        rows = [
            (pk, external_id, address, None, stored_now, None)
            for (pk, external_id), address in zip(chunk, addresses, strict=True)
        ]
        bulk_insert_stored(session, table, columns, rows)
    known.update(zip(new, new_ids, strict=True))
    return known, len(new)
