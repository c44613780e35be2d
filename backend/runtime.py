"""The Python runtime of the long-running services (API workers, sender, indexer)."""

from __future__ import annotations

import gc


def freeze_startup_heap() -> None:
    """Take every object alive after start-up out of the garbage collector's reach.

    A full collection walks every tracked object, and the event loop answers nothing meanwhile.
    After start-up the API holds about 300,000 of them (modules, the app and its routes, models,
    ABIs, templates): a full collection took 160 ms on the 2-core machine when idle, and under
    load such pauses showed as event-loop stalls of 0.2-1.3 s (docs/performance.md). Those
    objects live as long as the process, so collecting them can never free anything; frozen
    (``gc.freeze``), they are never walked again, and a full collection walks only what was
    made since. Collect once first so that no garbage is frozen with them.
    """
    gc.collect()
    gc.freeze()
