"""Tracing through the links the events created: containment (``contains``: a pallet holds cases,
a case holds items, for a time) and transformation (``made_into``: inputs become outputs).

- backward (upstream, "where does it come from"): what it was made from, what it contains, and
  the containers it travelled in while it was inside them;
- forward (downstream, "where did it go"): what was made from it and the containers it went into.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, select

from backend.db.models import EpcisLink

MAX_REACH = 100_000  # a guard: no real packaging hierarchy comes near it


@dataclass(frozen=True)
class Reach:
    """An identifier reached by a trace, the time window that matters, and how it was reached."""

    key: str
    via: str  # self, input, output, parent, child
    start: datetime | None = None
    end: datetime | None = None
    source: str | None = None


def _links(session: Session, kind: str, column: str, key: str) -> list[EpcisLink]:
    field = EpcisLink.source if column == "source" else EpcisLink.target
    return list(session.exec(select(EpcisLink).where(EpcisLink.kind == kind, field == key)).all())


def _overlaps(a: EpcisLink, start: datetime | None, end: datetime | None) -> bool:
    """Whether a link held at some time inside [start, end] (None: unbounded)."""
    return (end is None or a.start_time <= end) and (start is None or a.end_time is None or a.end_time >= start)


def trace(session: Session, key: str, direction: str) -> list[Reach]:
    """Everything reached from ``key`` going ``backward``, ``forward`` or ``both``."""
    reached: list[Reach] = [Reach(key, "self")]
    seen = {(key, "self")}
    queue = deque(reached)
    while queue and len(reached) < MAX_REACH:
        here = queue.popleft()
        steps: list[Reach] = []
        if direction in ("backward", "both"):
            # made from: inputs of the transformations that produced it
            steps += [
                Reach(link.source, "input", source=here.key)
                for link in _links(session, "made_into", "target", here.key)
            ]
            # contents: what it held (during the window we care about)
            steps += [
                Reach(link.target, "child", link.start_time, link.end_time, here.key)
                for link in _links(session, "contains", "source", here.key)
                if _overlaps(link, here.start, here.end)
            ]
        if direction in ("forward", "both"):
            steps += [
                Reach(link.target, "output", source=here.key)
                for link in _links(session, "made_into", "source", here.key)
            ]
        if direction in ("backward", "forward", "both") and here.via in ("self", "parent", "input", "output"):
            # the containers it travelled in, while it was inside
            steps += [
                Reach(link.source, "parent", link.start_time, link.end_time, here.key)
                for link in _links(session, "contains", "target", here.key)
                if _overlaps(link, here.start, here.end)
            ]
        for step in steps:
            marker = (step.key, step.via)
            if marker not in seen:
                seen.add(marker)
                reached.append(step)
                queue.append(step)
    return reached


def downstream(session: Session, seeds: set[str]) -> dict[str, str]:
    """What a recall of ``seeds`` reaches: everything made from them (recursively), the contents of
    anything reached, and the items packed in the same container at the same time as any of those.
    Returns key → how it was reached."""
    affected: dict[str, str] = dict.fromkeys(seeds, "recalled")
    queue = deque(seeds)
    while queue and len(affected) < MAX_REACH:
        key = queue.popleft()
        nexts = [(link.target, f"made from {key}") for link in _links(session, "made_into", "source", key)]
        nexts += [(link.target, f"packed in {key}") for link in _links(session, "contains", "source", key)]
        for target, why in nexts:
            if target not in affected:
                affected[target] = why
                queue.append(target)
    # Packed with: siblings sharing an immediate container at an overlapping time (one hop only:
    # contact with a recalled product, not contact with something that once touched one).
    for key in list(affected):
        for holder in _links(session, "contains", "target", key):
            for sibling in _links(session, "contains", "source", holder.source):
                if sibling.target not in affected and _overlaps(sibling, holder.start_time, holder.end_time):
                    affected[sibling.target] = f"packed with {key} in {holder.source}"
    return affected


def sources(session: Session, key: str) -> dict[str, str]:
    """What ``key`` may have been affected by, and how: its inputs and containers (recursively),
    and the items it shared an immediate container with (and their inputs and containers). The
    reverse of :func:`downstream`."""
    found = {k: why for k, why in _upstream(session, key).items() if k != key}
    for holder in _links(session, "contains", "target", key):
        for sibling in _links(session, "contains", "source", holder.source):
            if sibling.target != key and _overlaps(sibling, holder.start_time, holder.end_time):
                found.setdefault(sibling.target, f"packed (in {holder.source}) with")
                for upstream_key in _upstream(session, sibling.target):
                    found.setdefault(upstream_key, f"packed with {sibling.target}, which came from")
    return found


def _upstream(session: Session, key: str) -> dict[str, str]:
    """Inputs and containers of ``key``, recursively, each with how it relates to ``key``."""
    found: dict[str, str] = {}
    queue = deque([(key, 0)])
    while queue and len(found) < MAX_REACH:
        here, depth = queue.popleft()
        for kind, relation in (("made_into", "made from"), ("contains", "packed in")):
            for link in _links(session, kind, "target", here):
                if link.source not in found and link.source != key:
                    found[link.source] = relation if depth == 0 else f"{relation} (through {here})"
                    queue.append((link.source, depth + 1))
    return found


def journey(session: Session, key: str) -> list[Reach]:
    """The item and every container it travelled in (recursively), each with the time it was inside."""
    reached = [Reach(key, "self")]
    queue = deque(reached)
    seen = {key}
    while queue and len(reached) < MAX_REACH:
        here = queue.popleft()
        for link in _links(session, "contains", "target", here.key):
            if link.source not in seen and _overlaps(link, here.start, here.end):
                start = max(filter(None, [link.start_time, here.start]), default=None)
                ends = [e for e in (link.end_time, here.end) if e is not None]
                step = Reach(link.source, "parent", start, min(ends) if ends else None, here.key)
                seen.add(link.source)
                reached.append(step)
                queue.append(step)
    return reached
