"""The "latest" and "confirmed" views of the mirror.

The mirror follows the chain head (``latest``). A block counts as **confirmed** once
``CREDANCE_CONFIRMATIONS`` blocks are on top of it; the indexer records the head it sees and the
depth in force in its cursor, so any API process knows the confirmed block from the database.

Read endpoints take ``?view=latest`` (default) or ``?view=confirmed`` and answer with
``as_of_block`` (the block the answer reflects), ``confirmed_block`` and ``view``. In the
confirmed view, what happened above the confirmed block is left out: a balance is the latest
balance minus the effects of the account's events above it (an index lookup on the events'
topics, at most ``confirmations`` blocks' worth), history entries above it are ``unconfirmed``,
and an item registered or recalled above it is not yet shown as such.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from sqlmodel import Session

from backend.db.models import ChainCursor
from backend.indexer.handlers.common import events_about


class View(StrEnum):
    LATEST = "latest"
    CONFIRMED = "confirmed"


@dataclass(frozen=True)
class MirrorPoint:
    """Where a read stands: the mirrored block, the confirmed block, and which one the view uses."""

    view: View
    latest_block: int
    confirmed_block: int

    @property
    def as_of_block(self) -> int:
        return self.latest_block if self.view == View.LATEST else self.confirmed_block

    def includes(self, block_number: int | None) -> bool:
        """Whether something mirrored at ``block_number`` is part of this view."""
        return block_number is not None and block_number <= self.as_of_block


def mirror_point(session: Session, view: View = View.LATEST) -> MirrorPoint:
    cursor = session.get(ChainCursor, "indexer")
    if cursor is None:
        return MirrorPoint(view, 0, 0)
    return MirrorPoint(view, cursor.block_number, cursor.confirmed_block)


def unconfirmed_account_change(session: Session, address: str, point: MirrorPoint) -> tuple[int, int]:
    """(balance, debt) change of ``address`` mirrored above the view's block: subtract it from the
    latest row to get the account as of the view."""
    if point.as_of_block >= point.latest_block:
        return 0, 0
    from backend.indexer.handlers.loyalty import CONTRACT, effects_of

    fx = effects_of(events_about(session, CONTRACT, [address], above_block=point.as_of_block), {})
    return fx.balances.get(address, 0), fx.debts.get(address, 0)
