"""Polls of an edition's holders: a brand (the edition's organiser) or an admin opens one, holders
vote once each, and the results are counted from the chain at the poll's blocks.

Why on chain rather than signed votes kept by the platform: the count must be something anyone
can redo without trusting us. The contract keeps one vote per address (from holders only), the
snapshot is the block the poll was opened in, and ``poll_recount.tally`` is the whole rule: the
platform's answer (from the mirror) and ``credance polls recount`` (from the node alone) apply
the same function to the same events. Members with their own wallet vote themselves
(``CollectibleRewards.vote``); custodial members vote through the platform with their token
(their consent), which relays the vote (``relay_vote``, signed by the issuer, once per member and
poll). Questions and option labels stay off chain (only their number is there).
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from backend.chain.operations import OpenPoll, RelayVote, enqueue, find_operation
from backend.db.models import (
    ChainCursor,
    CollectiblePoll,
    CollectibleVote,
    Customer,
    MirrorCollectibleMove,
    MirrorPoll,
    MirrorVote,
    Operation,
)
from backend.errors import Conflict, Forbidden, NotFound, Unprocessable
from backend.indexer.poll_recount import Ballot, Move, PollFacts, Tally, tally
from backend.indexer.runner import CURSOR
from backend.loyalty.collectibles import copies_held
from backend.loyalty.tickets import collectible_reward

MIN_BLOCKS_OPEN = 10  # the open must be mined before its close block, whatever the sender's delay


def open_poll(
    session: Session, edition: int, question: str, options: list[str], blocks_open: int, organisation: str | None
) -> CollectiblePoll:
    """Queue the poll (operator key); ``organisation``: the caller's, when an organisation key."""
    reward = collectible_reward(session, edition)
    if organisation is not None and organisation != reward.organiser:
        raise Forbidden(f"edition {edition} is not an edition of this organisation", field="edition")
    if blocks_open < MIN_BLOCKS_OPEN:
        raise Unprocessable(f"a poll stays open at least {MIN_BLOCKS_OPEN} blocks", field="blocks_open")
    cursor = session.get(ChainCursor, CURSOR)
    head = max(cursor.head_block, cursor.block_number) if cursor is not None else 0
    poll = CollectiblePoll(
        edition=edition, question=question, options=json.dumps(options), close_block=head + blocks_open
    )
    session.add(poll)
    session.flush()
    assert poll.id is not None
    operation = enqueue(
        session, OpenPoll(poll=poll.id, edition=edition, options=len(options), close_block=poll.close_block)
    )
    assert operation.id is not None
    poll.operation_id = operation.id
    session.add(poll)
    return poll


def get_poll(session: Session, poll_id: int) -> CollectiblePoll:
    poll = session.get(CollectiblePoll, poll_id)
    if poll is None:
        raise NotFound(f"poll {poll_id} does not exist", field="poll_id")
    return poll


def relay_vote(session: Session, customer: Customer, poll_id: int, option: int) -> CollectibleVote:
    """A custodial member's vote, queued once (the chain refuses a second one anyway)."""
    assert customer.id is not None
    poll = get_poll(session, poll_id)
    if customer.wallet is not None:
        raise Conflict("the member holds their own wallet: they vote with it", field="customer_id")
    if not 0 <= option < len(json.loads(poll.options)):
        raise Unprocessable(f"poll {poll_id} has no option {option}", field="option")
    if copies_held(session, customer.address, poll.edition) <= 0:
        raise Conflict(f"the member holds no copy of edition {poll.edition}", field="poll_id")
    vote = CollectibleVote(poll_id=poll_id, customer_id=customer.id, option=option, operation_id=0)
    opened = find_operation(session, OpenPoll.key(poll_id))
    operation: Operation = enqueue(
        session, RelayVote(account=customer.address, poll=poll_id, option=option), after=opened
    )
    assert operation.id is not None
    vote.operation_id = operation.id
    try:
        with session.begin_nested():
            session.add(vote)
    except IntegrityError:
        raise Conflict(f"the member has voted in poll {poll_id} already", field="poll_id") from None
    return vote


def already_voted(session: Session, customer: Customer, poll_id: int) -> bool:
    query = select(CollectibleVote).where(
        CollectibleVote.poll_id == poll_id, CollectibleVote.customer_id == customer.id
    )
    return session.exec(query).first() is not None


def results(session: Session, poll_id: int) -> Tally | None:
    """The poll's counts from the mirror (None until the poll is mirrored)."""
    mirrored = session.get(MirrorPoll, poll_id)
    if mirrored is None:
        return None
    facts = PollFacts(poll_id, mirrored.edition, mirrored.options, mirrored.snapshot_block, mirrored.close_block)
    moves = session.exec(
        select(MirrorCollectibleMove).where(
            MirrorCollectibleMove.edition == mirrored.edition,
            col(MirrorCollectibleMove.block_number) <= mirrored.snapshot_block,
        )
    ).all()
    votes = session.exec(select(MirrorVote).where(MirrorVote.poll_id == poll_id)).all()
    return tally(
        facts,
        (Move(m.block_number, m.edition, m.previous, m.holder, m.amount) for m in moves),
        (Ballot(v.block_number, v.voter, v.option) for v in votes),
    )


def describe(poll: CollectiblePoll, counted: Tally | None) -> dict[str, Any]:
    return {
        "poll_id": poll.id,
        "edition": poll.edition,
        "question": poll.question,
        "options": json.loads(poll.options),
        "close_block": poll.close_block,
        "status": "open on chain" if counted is not None else "pending",
        "results": counted.as_dict() if counted is not None else None,
    }


def polls_of_editions(session: Session, customer: Customer, editions: list[int]) -> list[dict[str, Any]]:
    """The polls of the editions a member holds, newest first, each saying whether they voted."""
    if not editions:
        return []
    query = (
        select(CollectiblePoll)
        .where(col(CollectiblePoll.edition).in_(editions))
        .order_by(col(CollectiblePoll.id).desc())
        .limit(20)
    )
    return [
        {**describe(poll, None), "voted": already_voted(session, customer, poll.id or 0)}
        for poll in session.exec(query).all()
    ]
