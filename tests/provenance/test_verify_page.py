"""The verification page's per-answer parts in Python (backend/api/verify_page.py) are byte for byte
what the macros of verify_parts.html render, for every shape those parts take: each verdict, one or
several reasons, no, soft and hard signals, scans by the brand or its partners, scans since a sale,
a window of whole or fractional hours, and markup in every text an answer carries."""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from backend.api import verify_page
from backend.api.answers import page_parts

MARKUP = "<b>\"x\" & 'y'</b>"  # every character autoescape replaces


def scan_signals(strengths: tuple[str, ...], by: tuple[int, int], since: bool, hours: float) -> dict[str, Any]:
    return {
        "signals": [{"signal": f"s{i}", "strength": s, "reason": f"{s} {MARKUP} {i}"} for i, s in enumerate(strengths)],
        "evidence": {
            "scans_total": 51,
            "window_hours": hours,
            "in_window": {
                "scans": 40,
                "distinct_clients": 8,
                "counted": 24,
                "located": 3,
                "by_source": {"anonymous": 37, "brand": by[0], "partner": by[1], "organisation": 0},
            },
            "since_sale": {"scans": 9, "distinct_clients": 2, "counted": 6} if since else None,
            "since_decommissioning": None,
        },
        "rules": {"min_clients": 3, "counted_per_client": 3, "attesting_sources": ["brand", "partner"]},
    }


def shapes() -> list[dict[str, Any]]:
    answers = []
    for verdict, reasons in itertools.product(
        ("authentic", "suspicious", "recalled", "unknown"), ([], [f"one {MARKUP}"], ["first", f"second {MARKUP}"])
    ):
        answers.append({"verdict": verdict, "reason": f"why {MARKUP}", "reasons": reasons, "as_of_block": 52})
    signals = [None] + [
        scan_signals(strengths, by, since, hours)
        for strengths, by, since, hours in itertools.product(
            ((), ("soft",), ("hard", "soft")), ((0, 0), (1, 0), (0, 2)), (False, True), (24, 12.5)
        )
    ]
    return [{**answer, "scan_signals": s} for answer, s in itertools.product(answers, signals)]


@pytest.mark.sqlite_only
def test_the_parts_rendered_in_python_are_those_the_macros_render() -> None:
    macros = page_parts()
    for r in shapes():
        for part in ("verdict", "scans", "bottom"):
            assert getattr(verify_page, part)(r) == str(getattr(macros, part)(r)), (part, r)
