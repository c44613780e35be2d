"""Poll results recounted from the chain alone: the rule, and a reader that asks only the node.

The rule (the same for the platform's answer from the mirror and for anyone's recount): the
voters are the addresses that held at least one copy of the poll's edition at the end of its
snapshot block (the block ``PollOpened`` was mined in); each counts once, for the option of its
``PollVoted`` event mined at most at the poll's close block. The contract already accepts one
vote per address and only from a holder at the time; the snapshot keeps a copy sold after the
poll opened from voting a second time under its new holder.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from backend.indexer.decoder import DecodedEvent, LogDecoder
from backend.indexer.reconcile import read_events
from backend.indexer.rpc import JsonRpc

CONTRACT = "CollectibleRewards"
ZERO_ADDRESS = "0x0000000000000000000000000000000000000000"


@dataclass(frozen=True)
class PollFacts:
    poll_id: int
    edition: int
    options: int
    snapshot_block: int
    close_block: int


@dataclass(frozen=True)
class Move:
    block_number: int
    edition: int
    previous: str
    holder: str
    amount: int


@dataclass(frozen=True)
class Ballot:
    block_number: int
    voter: str
    option: int


@dataclass(frozen=True)
class Tally:
    poll: PollFacts
    counts: list[int]  # per option
    eligible: int  # holders at the snapshot
    ignored: int  # votes of addresses that held no copy at the snapshot, or cast after the close

    def as_dict(self) -> dict[str, Any]:
        return {
            "poll_id": self.poll.poll_id,
            "edition": self.poll.edition,
            "snapshot_block": self.poll.snapshot_block,
            "close_block": self.poll.close_block,
            "counts": self.counts,
            "eligible": self.eligible,
            "ignored": self.ignored,
        }


def tally(poll: PollFacts, moves: Iterable[Move], ballots: Iterable[Ballot]) -> Tally:
    """The poll's counts by the rule above (moves and ballots of any edition and poll, any order)."""
    held: dict[str, int] = {}
    for move in moves:
        if move.edition != poll.edition or move.block_number > poll.snapshot_block:
            continue
        if move.previous != ZERO_ADDRESS:
            held[move.previous.lower()] = held.get(move.previous.lower(), 0) - move.amount
        held[move.holder.lower()] = held.get(move.holder.lower(), 0) + move.amount
    eligible = {address for address, copies in held.items() if copies > 0}
    counts = [0] * poll.options
    counted: set[str] = set()
    ignored = 0
    for ballot in sorted(ballots, key=lambda b: b.block_number):
        voter = ballot.voter.lower()
        if voter in eligible and voter not in counted and ballot.block_number <= poll.close_block:
            counts[ballot.option] += 1
            counted.add(voter)
        else:
            ignored += 1
    return Tally(poll, counts, len(eligible), ignored)


class PollNotFound(LookupError):
    pass


def recount_from_node(rpc: JsonRpc, address: str, abi: list[dict[str, Any]], start: int, poll_id: int) -> Tally:
    """Read every log of the contract from ``start`` to the head (nothing else) and count."""
    decoder = LogDecoder({CONTRACT: (address, abi)})
    events, _ = read_events(rpc, decoder, start, rpc.block_number())
    poll = next((facts for facts in map(_poll_of, events) if facts and facts.poll_id == poll_id), None)
    if poll is None:
        raise PollNotFound(f"poll {poll_id} was never opened on this contract")
    moves = [move for event in events for move in _moves_of(event)]
    ballots = [
        Ballot(e.block_number, e.args["voter"], int(e.args["option"]))
        for e in events
        if e.name == "PollVoted" and int(e.args["pollId"]) == poll_id
    ]
    return tally(poll, moves, ballots)


def _poll_of(event: DecodedEvent) -> PollFacts | None:
    if event.name != "PollOpened":
        return None
    a = event.args
    return PollFacts(
        int(a["pollId"]), int(a["edition"]), int(a["options"]), int(a["snapshotBlock"]), int(a["closeBlock"])
    )


def _moves_of(event: DecodedEvent) -> list[Move]:
    a = event.args
    if event.name == "TransferSingle":
        return [Move(event.block_number, int(a["id"]), a["from"], a["to"], int(a["value"]))]
    if event.name == "TransferBatch":
        return [
            Move(event.block_number, int(e), a["from"], a["to"], int(v))
            for e, v in zip(a["ids"], a["values"], strict=True)
        ]
    return []
