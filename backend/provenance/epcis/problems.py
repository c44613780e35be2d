"""One problem of a captured document: the field at fault, the rule it breaks, what to fix."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Problem:
    field: str
    rule: str
    message: str


def event_field(index: int | None) -> str:
    return "epcisBody.eventList" if index is None else f"epcisBody.eventList[{index}]"
