"""Run ``credance serve`` with every Python opcode counted while counting is on.

Started by ``bench/checkout_cost.py`` as ``python bench/_opcode_tracer.py <out.json> <tree>`` with the tree
under test on ``PYTHONPATH``: SIGUSR1 starts counting (every thread), SIGUSR2 stops it and writes
the counts per function (``file:function``, paths made relative to the tree or site-packages) to
``out.json``. Counting opcodes is slow (tens of times) but exact and independent of what else the
machine runs, unlike CPU seconds: the same requests give the same counts on any machine.
"""

from __future__ import annotations

import collections
import json
import re
import runpy
import signal
import sys
import threading
from types import CodeType, FrameType
from typing import Any

COUNTS: collections.Counter[CodeType] = collections.Counter()
COUNTING = [False]
_SITE = re.compile(r"^.*?/site-packages/|^.*?/lib/python3\.\d+/")


def _count(frame: FrameType, event: str, arg: Any) -> Any:
    if event == "opcode":
        COUNTS[frame.f_code] += 1
    return _count


def _enter(frame: FrameType, event: str, arg: Any) -> Any:
    if not COUNTING[0]:
        return None
    frame.f_trace_opcodes = True
    return _count


def _start(*_: Any) -> None:
    COUNTS.clear()
    COUNTING[0] = True


def _stop(*_: Any) -> None:
    COUNTING[0] = False
    by_function: collections.Counter[str] = collections.Counter()
    for code, count in list(COUNTS.items()):
        name = _SITE.sub("", code.co_filename.removeprefix(TREE))
        by_function[f"{name}:{code.co_name}"] += count
    with open(OUT, "w") as out:
        json.dump(by_function, out)


if __name__ == "__main__":
    OUT, TREE = sys.argv[1], sys.argv[2].rstrip("/") + "/"
    # Key verdicts are cached for a few seconds: a look-up on a timer costs per second, not per
    # request, and counting makes the run tens of times longer. Keep the first verdict.
    import backend.api.auth

    backend.api.auth.CACHE_SECONDS = 1e9
    threading.settrace(_enter)
    sys.settrace(_enter)
    signal.signal(signal.SIGUSR1, _start)
    signal.signal(signal.SIGUSR2, _stop)
    sys.argv = ["credance", "serve", "--workers", "1"]
    runpy.run_module("backend.cli.main", run_name="__main__")
