"""Bulk item import from CSV (``gtin,serial[,lot]``): the whole file is checked first (every bad
line reported), then registered in Merkle batches, one root per batch, all in one transaction."""

from __future__ import annotations

import csv
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from sqlmodel import Session

from backend.db.models import Organisation
from backend.errors import DomainError
from backend.provenance.gtin import normalise_gtin
from backend.provenance.items import SERIAL_PATTERN, RegisteredBatch, register_items


@dataclass(frozen=True)
class ImportRow:
    line: int
    gtin: str
    serial: str
    lot: str | None


class ImportProblems(ValueError):
    def __init__(self, problems: list[str]) -> None:
        super().__init__(f"{len(problems)} problem(s) in the file; nothing was imported")
        self.problems = problems


def read_rows(path: Path, default_gtin: str | None = None) -> list[ImportRow]:
    """Every row of the file, or ImportProblems listing each bad line (up to 50)."""
    with path.open(newline="", encoding="utf-8-sig") as handle:
        reader = csv.DictReader(handle)
        try:
            rows, problems = _read(path, reader, default_gtin)
        except csv.Error as exc:  # a cell over the csv module's limit (128 KiB), a NUL byte…
            raise ImportProblems([f"after line {reader.line_num}: not a readable CSV row ({exc})"]) from None
        except UnicodeDecodeError as exc:
            raise ImportProblems([f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})"]) from None
    if problems:
        raise ImportProblems(problems[:50])
    if not rows:
        raise ImportProblems([f"{path}: no items"])
    return rows


def _read(path: Path, reader: csv.DictReader[str], default_gtin: str | None) -> tuple[list[ImportRow], list[str]]:
    """The good rows and a line per bad one."""
    rows: list[ImportRow] = []
    problems: list[str] = []
    seen: dict[tuple[str, str], int] = {}
    columns = {name.strip().lower() for name in reader.fieldnames or []}
    if "serial" not in columns or ("gtin" not in columns and default_gtin is None):
        raise ImportProblems([f"{path}: the header must name the columns gtin, serial (and optionally lot)"])
    for number, raw in enumerate(reader, start=2):
        record = {k.strip().lower(): (v or "").strip() for k, v in raw.items() if k}
        gtin_text, serial = record.get("gtin") or default_gtin or "", record.get("serial", "")
        try:
            gtin = normalise_gtin(gtin_text)
        except DomainError as exc:
            problems.append(f"line {number}: {exc.message}")
            continue
        if not SERIAL_PATTERN.match(serial):
            problems.append(f"line {number}: serial {serial!r} is not a GS1 serial (1-20 characters)")
            continue
        if (gtin, serial) in seen:
            problems.append(f"line {number}: serial {serial} of GTIN {gtin} repeats line {seen[(gtin, serial)]}")
            continue
        seen[(gtin, serial)] = number
        rows.append(ImportRow(number, gtin, serial, record.get("lot") or None))
    return rows, problems


def batches(rows: list[ImportRow], size: int) -> Iterator[tuple[str, str | None, list[str]]]:
    """(gtin, lot, serials) groups of at most ``size`` serials, in file order."""
    groups: dict[tuple[str, str | None], list[str]] = {}
    for row in rows:
        groups.setdefault((row.gtin, row.lot), []).append(row.serial)
    for (gtin, lot), serials in groups.items():
        for start in range(0, len(serials), size):
            yield gtin, lot, serials[start : start + size]


def import_rows(
    session: Session,
    manufacturer: Organisation,
    rows: list[ImportRow],
    batch_size: int,
    progress: Callable[[int], None] | None = None,
) -> list[RegisteredBatch]:
    registered = []
    for gtin, lot, serials in batches(rows, batch_size):
        registered.append(register_items(session, manufacturer, gtin, serials, lot))
        if progress:
            progress(len(serials))
    return registered
