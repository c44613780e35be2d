"""Counting wrong till codes: a refused redemption or purchase rolls back, but a wrong code must
still count against the customer's live code (five wrong guesses void it), in its own unit of work."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from backend.api.deps import AppState
from backend.consent.till_codes import TillCodeRefused, count_wrong_code


def count_if_wrong(state: AppState, refused: TillCodeRefused) -> None:
    if refused.wrong and refused.customer_pk is not None:
        with state.write() as session:
            count_wrong_code(session, refused.customer_pk)


@contextmanager
def counting_wrong_codes(state: AppState) -> Iterator[None]:
    """Run a unit of work that may use a till code; a wrong code is counted, then refused."""
    try:
        yield
    except TillCodeRefused as refused:
        count_if_wrong(state, refused)
        raise
