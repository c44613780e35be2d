"""The answer to an idempotent command (``backend.loyalty.idempotency``): its body, marked
``Idempotent-Replayed: true`` when it is the first answer sent again."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from backend.loyalty.idempotency import Outcome

REPLAYED = "Idempotent-Replayed"


def replay_headers(replayed: bool) -> dict[str, str] | None:
    """The headers that say an answer is a replay (None: a first answer)."""
    return {REPLAYED: "true"} if replayed else None


def answered(outcome: Outcome, response: Response) -> dict[str, Any]:
    """The body a route returns for ``outcome``, with the replay header set on ``response``."""
    mark_replayed(response, outcome.replayed)
    return outcome.body


def mark_replayed(response: Response, replayed: bool) -> None:
    if replayed:
        response.headers[REPLAYED] = "true"
