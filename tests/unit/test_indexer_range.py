"""How many blocks the indexer reads a step (``Indexer._adapt_range``): big steps while catching
up, about one dense block a step at the head, where every step holds SQLite's write lock."""

from __future__ import annotations

from backend.indexer.runner import HEAD_TARGET_EVENTS, TARGET_EVENTS, Indexer


def _indexer(range_: int) -> Indexer:
    indexer = object.__new__(Indexer)  # the range logic only: no node, no database
    indexer.max_range = indexer.ceiling = 2000
    indexer.successes = 0
    indexer.range = range_
    indexer.target_events = TARGET_EVENTS
    indexer.head_target_events = HEAD_TARGET_EVENTS
    return indexer


def test_at_the_head_dense_blocks_are_indexed_one_a_step() -> None:
    indexer = _indexer(range_=10)
    indexer._adapt_range(blocks=2, events=800, at_head=True)  # two blocks of 400 events
    assert indexer.range == 1


def test_catching_up_the_same_blocks_make_one_big_step() -> None:
    indexer = _indexer(range_=10)
    indexer._adapt_range(blocks=10, events=4000, at_head=False)
    assert indexer.range == 20  # under half of TARGET_EVENTS: it grows
    indexer._adapt_range(blocks=20, events=40_000, at_head=False)
    assert indexer.range == 10  # over: back to about TARGET_EVENTS a step


def test_at_the_head_sparse_blocks_still_grow_the_range() -> None:
    indexer = _indexer(range_=4)
    indexer._adapt_range(blocks=4, events=20, at_head=True)
    assert indexer.range == 8
