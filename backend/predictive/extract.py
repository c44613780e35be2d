"""Purchase history as model input, computed in SQL (SQLite and PostgreSQL alike).

A *transaction* is a customer-day with at least one order that was not fully refunded: an order
worth 0 counts (the papers count CDNOW's zero-value purchases), an order of excluded SKUs only
(gift cards) does not. Its *spend* is the net paid value of its orders: the total, less what was
refunded by then, less the excluded lines, less the share paid with points (at the point value
of the order's rule version), never below 0. Imported history orders count like purchases.

Per customer the database answers ``x`` (transaction days after the first), ``t_x`` (first to
last), ``T`` (first to the day of the run) in days, the total spend and the first day's spend: one
row per customer, whatever the number of orders. Rows are read in blocks into numpy arrays, never
as one Python list. Erased customers are left out: their history is no longer profiled.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import Dialect
from sqlmodel import Session, select

from backend.db.direct import dialect_of, in_list, list_value, marker
from backend.db.models import RuleSetRecord
from backend.predictive.models import Summary

DAY_US = 86_400_000_000
EPOCH = date(1970, 1, 1)
BLOCK = 50_000
Level = str  # "sku" or "category"


def day_number(day: date) -> int:
    return (day - EPOCH).days


def day_of(number: int) -> date:
    return date.fromordinal(EPOCH.toordinal() + number)


@dataclass(frozen=True)
class Window:
    """Transactions of the days ``first`` (None: from the start) through ``last``, both included."""

    first: date | None
    last: date

    @property
    def start_us(self) -> int:
        return day_number(self.first) * DAY_US if self.first else -(2**62)

    @property
    def end_us(self) -> int:
        return (day_number(self.last) + 1) * DAY_US


@dataclass(frozen=True)
class Rules:
    """What the extraction takes from the rules: the excluded SKUs, the point value of each version."""

    excluded_skus: tuple[str, ...] = ()
    point_values: tuple[tuple[int, float], ...] = ()

    @classmethod
    def of(cls, session: Session, excluded_skus: Sequence[str]) -> Rules:
        values = []
        for version, content in session.exec(select(RuleSetRecord.version, RuleSetRecord.content)).all():
            values.append((int(version), float(json.loads(content).get("point_value", "0.01"))))
        return cls(tuple(sorted(set(excluded_skus))), tuple(sorted(values)))


def _one_of(dialect: Dialect, column: str) -> str:
    """``column`` (a qualified name written in code) is one of a list given as one parameter."""
    if dialect.name == "postgresql":
        return f"({column} = ANY(%s))"
    return f"({column} IN (SELECT value FROM json_each(?)))"  # noqa: S608


def _point_value_case(dialect: Dialect, rules: Rules) -> tuple[str, list[Any]]:
    if not rules.point_values:
        return "0", []
    m = marker(dialect)
    whens = " ".join(f"WHEN {m} THEN {m}" for _ in rules.point_values)
    params: list[Any] = [value for pair in rules.point_values for value in pair]
    return f"CASE p.rule_version {whens} ELSE 0 END", params


def _orders(dialect: Dialect, rules: Rules, window: Window) -> tuple[str, list[Any]]:
    """Every order of the window (purchases and imported history) with its gross value, what was
    refunded by the window's end, its excluded lines' value and the value paid with points."""
    m = marker(dialect)
    skus = list_value(dialect, rules.excluded_skus)
    case, case_params = _point_value_case(dialect, rules)
    sql = f"""
        SELECT p.customer_id AS customer_id, p.created_at / {DAY_US} AS day,
               CAST(p.total AS DOUBLE PRECISION) AS gross, COALESCE(r.value, 0) AS refunded,
               COALESCE(e.value, 0) AS excluded, p.paid_with_points * ({case}) AS paid
        FROM purchases p
        LEFT JOIN (SELECT purchase_id, SUM(CAST(value AS DOUBLE PRECISION)) AS value FROM refunds
                   WHERE created_at < {m} GROUP BY purchase_id) r ON r.purchase_id = p.id
        LEFT JOIN (SELECT purchase_id, SUM(quantity * CAST(unit_price AS DOUBLE PRECISION)) AS value
                   FROM purchase_lines WHERE {in_list(dialect, "sku")} GROUP BY purchase_id) e ON e.purchase_id = p.id
        WHERE p.created_at >= {m} AND p.created_at < {m}
        UNION ALL
        SELECT h.customer_id, h.ordered_at / {DAY_US}, CAST(h.total AS DOUBLE PRECISION), 0,
               COALESCE(he.value, 0), 0
        FROM history_orders h
        LEFT JOIN (SELECT order_pk, SUM(CAST(amount AS DOUBLE PRECISION)) AS value FROM history_lines
                   WHERE {in_list(dialect, "sku")} GROUP BY order_pk) he ON he.order_pk = h.id
        WHERE h.ordered_at >= {m} AND h.ordered_at < {m}
    """  # noqa: S608 (fixed text; every value is a parameter)
    params = [*case_params, window.end_us, skus, window.start_us, window.end_us, skus, window.start_us, window.end_us]
    return sql, params


def _days(dialect: Dialect, rules: Rules, window: Window) -> tuple[str, list[Any]]:
    """``WITH … days(customer_id, day, spend)``: the transactions of the window."""
    orders, params = _orders(dialect, rules, window)
    net = "gross - refunded - excluded - paid"
    sql = f"""
        WITH orders AS ({orders}),
        kept AS (
            SELECT customer_id, day, CASE WHEN {net} > 0 THEN {net} ELSE 0 END AS net FROM orders
            WHERE gross = 0 OR (gross - refunded > 0 AND gross - excluded > 0)
        ),
        days AS (SELECT customer_id, day, SUM(net) AS spend FROM kept GROUP BY customer_id, day)
    """  # noqa: S608
    return sql, params


def _read_columns(session: Session, sql: str, params: Sequence[Any], dtypes: Sequence[Any]) -> list[NDArray[Any]]:
    """The columns of a query's rows as numpy arrays, read in blocks."""
    session.flush()
    driver = session.connection().connection.driver_connection
    assert driver is not None
    cursor = driver.cursor()
    blocks: list[list[NDArray[Any]]] = [[] for _ in dtypes]
    try:
        cursor.execute(sql, tuple(params))
        while rows := cursor.fetchmany(BLOCK):
            for i, column in enumerate(zip(*rows, strict=True)):
                blocks[i].append(np.array(column, dtype=dtypes[i]))
    finally:
        cursor.close()
    return [np.concatenate(parts) if parts else np.array([], dtype=dtypes[i]) for i, parts in enumerate(blocks)]


@dataclass(frozen=True)
class Histories:
    """One row per customer with a transaction by the run's day (ordered by customer id)."""

    as_of: date
    customer_id: NDArray[np.int64]
    repeat_days: NDArray[np.int64]  # x
    recency_days: NDArray[np.int64]  # t_x
    age_days: NDArray[np.int64]  # T
    total_spend: NDArray[np.float64]
    first_spend: NDArray[np.float64]

    def __len__(self) -> int:
        return int(self.customer_id.size)

    @property
    def mean_spend(self) -> NDArray[np.float64]:
        """Mean net spend of the repeat days (the first is left out, as Gamma-Gamma wants); 0 without any."""
        x = self.repeat_days
        repeat_spend = self.total_spend - self.first_spend
        return np.divide(repeat_spend, x, out=np.zeros_like(repeat_spend), where=x > 0)

    @property
    def days_since_last(self) -> NDArray[np.int64]:
        return self.age_days - self.recency_days

    def summary(self) -> Summary:
        """In weeks, as the papers count. A customer whose first purchase is on the run's day has
        T = 0: the models need T > 0, so such a day counts as a seventh of a week observed."""
        weeks = np.maximum(self.age_days, 1) / 7.0
        return Summary.of(self.repeat_days, self.recency_days / 7.0, weeks)

    def subset(self, mask: NDArray[np.bool_]) -> Histories:
        return Histories(
            self.as_of,
            self.customer_id[mask],
            self.repeat_days[mask],
            self.recency_days[mask],
            self.age_days[mask],
            self.total_spend[mask],
            self.first_spend[mask],
        )


def customer_histories(session: Session, as_of: date, rules: Rules, first: date | None = None) -> Histories:
    """Every (not erased) customer's sufficient statistics from the transactions through ``as_of``."""
    dialect = dialect_of(session)
    days, params = _days(dialect, rules, Window(first, as_of))
    m = marker(dialect)
    sql = f"""{days},
        per AS (SELECT customer_id, MIN(day) AS first_day, MAX(day) AS last_day, COUNT(*) AS n,
                       SUM(spend) AS total FROM days GROUP BY customer_id)
        SELECT per.customer_id, per.n - 1, per.last_day - per.first_day, {m} - per.first_day, per.total, d.spend
        FROM per
        JOIN days d ON d.customer_id = per.customer_id AND d.day = per.first_day
        JOIN customers c ON c.id = per.customer_id
        WHERE c.erased_at IS NULL
        ORDER BY per.customer_id
    """  # noqa: S608
    columns = _read_columns(
        session, sql, [*params, day_number(as_of)], (np.int64, np.int64, np.int64, np.int64, np.float64, np.float64)
    )
    return Histories(as_of, *columns)


@dataclass(frozen=True)
class Activity:
    """Per customer, transaction days and net spend in a window (customers without any are absent)."""

    customer_id: NDArray[np.int64]
    days: NDArray[np.int64]
    spend: NDArray[np.float64]

    def aligned(self, customer_ids: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """Days and spend for each of ``customer_ids`` (0 for those without activity)."""
        position = np.searchsorted(self.customer_id, customer_ids)
        position = np.minimum(position, max(self.customer_id.size - 1, 0))
        found = self.customer_id.size > 0
        match = (self.customer_id[position] == customer_ids) if found else np.zeros(customer_ids.size, dtype=bool)
        days = np.where(match, self.days[position] if found else 0, 0)
        spend = np.where(match, self.spend[position] if found else 0.0, 0.0)
        return days.astype(np.int64), spend.astype(np.float64)


def activity(session: Session, first: date, last: date, rules: Rules) -> Activity:
    """Transaction days and spend of each customer from ``first`` through ``last``."""
    dialect = dialect_of(session)
    days, params = _days(dialect, rules, Window(first, last))
    sql = f"{days} SELECT customer_id, COUNT(*), SUM(spend) FROM days GROUP BY customer_id ORDER BY customer_id"  # noqa: S608
    customer_id, count, spend = _read_columns(session, sql, params, (np.int64, np.int64, np.float64))
    return Activity(customer_id, count, spend)


@dataclass(frozen=True)
class ItemRows:
    """Per (customer, item): purchase days, the last of them, and the net spend of the item's lines."""

    customer_id: NDArray[np.int64]
    item: NDArray[np.object_]
    days: NDArray[np.int64]
    last_day: NDArray[np.int64]
    spend: NDArray[np.float64]


def item_rows(session: Session, level: Level, window: Window, rules: Rules, customer_id: int | None = None) -> ItemRows:
    """What each customer bought at ``level`` (``sku`` or ``category``) in the window, leaving out
    excluded SKUs and fully refunded orders; ``customer_id`` narrows it to one member."""
    if level not in ("sku", "category"):
        raise ValueError(f"unknown level {level!r}")
    dialect = dialect_of(session)
    m = marker(dialect)
    skus = list_value(dialect, rules.excluded_skus)
    one = f"AND p.customer_id = {m}" if customer_id is not None else ""
    one_h = f"AND h.customer_id = {m}" if customer_id is not None else ""
    sql = f"""
        WITH lines AS (
            SELECT p.customer_id AS customer_id, p.created_at / {DAY_US} AS day, l.{level} AS item,
                   l.quantity * CAST(l.unit_price AS DOUBLE PRECISION) AS spend
            FROM purchase_lines l
            JOIN purchases p ON p.id = l.purchase_id
            LEFT JOIN (SELECT purchase_id, SUM(CAST(value AS DOUBLE PRECISION)) AS value FROM refunds
                       WHERE created_at < {m} GROUP BY purchase_id) r ON r.purchase_id = p.id
            WHERE p.created_at >= {m} AND p.created_at < {m} {one} AND NOT {_one_of(dialect, "l.sku")}
              AND NOT (CAST(p.total AS DOUBLE PRECISION) > 0
                       AND COALESCE(r.value, 0) >= CAST(p.total AS DOUBLE PRECISION))
            UNION ALL
            SELECT h.customer_id, h.ordered_at / {DAY_US}, hl.{level}, CAST(hl.amount AS DOUBLE PRECISION)
            FROM history_lines hl JOIN history_orders h ON h.id = hl.order_pk
            WHERE h.ordered_at >= {m} AND h.ordered_at < {m} {one_h} AND NOT {_one_of(dialect, "hl.sku")}
        )
        SELECT customer_id, item, COUNT(DISTINCT day), MAX(day), SUM(spend) FROM lines
        WHERE item IS NOT NULL GROUP BY customer_id, item ORDER BY customer_id, item
    """  # noqa: S608
    one_param = [customer_id] if customer_id is not None else []
    params = [
        window.end_us,
        window.start_us,
        window.end_us,
        *one_param,
        skus,
        window.start_us,
        window.end_us,
        *one_param,
        skus,
    ]
    columns = _read_columns(session, sql, params, (np.int64, object, np.int64, np.int64, np.float64))
    return ItemRows(*columns)
