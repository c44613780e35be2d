"""Taking work off a queue in batches: the group-commit writer and the read executor both block
for the first job, then take what is already waiting, up to a limit, without waiting for more."""

from __future__ import annotations

import queue
from typing import TypeVar

T = TypeVar("T")


def next_batch(jobs: queue.SimpleQueue[T | None], limit: int) -> list[T] | None:
    """The next batch (at least one job), or None once the queue says stop. A stop found behind
    waiting jobs is put back: this batch is still answered, and the next call stops."""
    first = jobs.get()
    if first is None:
        return None
    batch = [first]
    take_waiting(jobs, batch, limit)
    return batch


def take_waiting(jobs: queue.SimpleQueue[T | None], batch: list[T], limit: int) -> None:
    """Add to ``batch`` the jobs already waiting, until it holds ``limit``; a stop is put back."""
    while len(batch) < limit:
        try:
            job = jobs.get_nowait()
        except queue.Empty:
            return
        if job is None:
            jobs.put(None)
            return
        batch.append(job)
