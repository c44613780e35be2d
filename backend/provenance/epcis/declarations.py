"""EPCIS 2.0 error declarations: an event is declared erroneous by capturing it again with an
``errorDeclaration`` (``declarationTime``, ``reason``, ``correctiveEventIDs``). The event hash
leaves the declaration out, so the declaration names the stored event by its hash.

A declared event is kept (its anchor still proves what was said), shows its declaration in queries
and on the verification page, and no longer counts in the business rules: the replay leaves it out,
so its corrective events (usually in the same document) apply. Only the organisation that recorded
an event declares it erroneous, once. A declaration of an event never captured here is stored as a
new event, erroneous from the start (checked like any new event, left out of the replay).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select

from backend.db.models import EpcisEventRecord, Organisation
from backend.provenance.epcis.events import ParsedEvent, short_term
from backend.provenance.epcis.problems import Problem, event_field


@dataclass(frozen=True)
class Declared:
    """A stored event that a new declaration marks erroneous."""

    pk: int
    event: ParsedEvent  # the declaration as captured (same hash as the stored event)
    stored_event_id: str


def split(
    session: Session, writer: Organisation, events: list[ParsedEvent]
) -> tuple[list[ParsedEvent], list[Declared], list[Problem]]:
    """The events to store as new, the stored events declared erroneous, and the problems: a
    declaration by another organisation than the event's writer (403), a second declaration (409)."""
    hashes = [e.event_hash for e in events if e.declaration is not None]
    if not hashes:
        return events, [], []
    stored = {
        row.event_hash: row
        for row in session.exec(select(EpcisEventRecord).where(col(EpcisEventRecord.event_hash).in_(hashes))).all()
    }
    new: list[ParsedEvent] = []
    declared: list[Declared] = []
    problems: list[Problem] = []
    for event in events:
        record = stored.get(event.event_hash) if event.declaration is not None else None
        if record is None:
            new.append(event)
            continue
        where = f"{event_field(event.index)}.errorDeclaration"
        if record.org_id != writer.id:
            problems.append(
                Problem(
                    where,
                    "unauthorised_writer",
                    f"event {record.event_id} was recorded by another organisation: only it may declare it erroneous",
                )
            )
        elif record.error_declaration is not None:
            problems.append(
                Problem(where, "already_declared", f"event {record.event_id} was already declared erroneous")
            )
        else:
            assert record.id is not None
            declared.append(Declared(record.id, event, record.event_id))
    return new, declared, problems


def declaration_json(event: ParsedEvent) -> str | None:
    return None if event.declaration is None else json.dumps(event.declaration, separators=(",", ":"))


def public_declaration(stored: str | None) -> dict[str, Any] | None:
    """What the public answer says of a declaration: when and why, never the corrective eventIDs
    (an eventID may confirm a guess of the serials the public form hides)."""
    if stored is None:
        return None
    declaration = json.loads(stored)
    reason = declaration.get("reason")
    return {
        "declaration_time": declaration.get("declarationTime"),
        "reason": short_term(reason, "ER-") if isinstance(reason, str) else None,
    }
