"""What the benchmarks need of the operating system: a free loopback port, the CPU time a
process group has spent (from /proc), so figures can be given per request whatever the load, and
the kernel's memory-pressure counters (a stall of every process that is not ours to explain)."""

from __future__ import annotations

import os
import socket
from pathlib import Path

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (from /proc)."""
    return sorted(pid for pid, fields in _stats() if int(fields[2]) == pgid)


def group_cpu_seconds(pgid: int) -> float:
    """User + system CPU time of every live process in a process group (from /proc)."""
    # fields after the name: state, ppid, pgrp, … utime (12), stime (13)
    total = sum(int(fields[11]) + int(fields[12]) for _, fields in _stats() if int(fields[2]) == pgid)
    return total / TICKS


def tree_cpu_seconds(pid: int) -> float:
    """CPU time of a process, its live children and the children it has waited for: a server whose
    children each start a session of their own (PostgreSQL's backends)."""
    # fields after the name: … utime (12), stime (13), cutime (14), cstime (15)
    total = 0
    for child, fields in _stats():
        if child == pid:
            total += sum(int(f) for f in fields[11:15])
        elif int(fields[1]) == pid:
            total += int(fields[11]) + int(fields[12])
    return total / TICKS


def _stats() -> list[tuple[int, list[str]]]:
    """Each live process's pid and the fields of its /proc stat after its name."""
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                found.append((int(entry.name), (entry / "stat").read_text().rsplit(")", 1)[1].split()))
            except OSError:
                continue
    return found


# Counters of /proc/vmstat that mean a process waited for memory: direct reclaim (an allocation
# that had to free pages itself), and major faults (a page read back from disk).
STALL_COUNTERS = ("allocstall_normal", "allocstall_movable", "pgscan_direct", "pgmajfault")


def memory_stalls() -> dict[str, int]:
    """The counters above now (empty where /proc/vmstat is missing); subtract two readings."""
    try:
        lines = Path("/proc/vmstat").read_text().splitlines()
    except OSError:
        return {}
    values = dict(line.split() for line in lines)
    return {name: int(values[name]) for name in STALL_COUNTERS if name in values}
