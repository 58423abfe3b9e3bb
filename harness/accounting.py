"""CPU time and memory of a process tree, read from /proc (Linux)."""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path


def children(pid: int) -> list[int]:
    """Direct child PIDs of ``pid`` (nginx's workers under its master)."""
    kids: list[int] = []
    try:
        for task in Path(f"/proc/{pid}/task").iterdir():
            kids += [int(k) for k in (task / "children").read_text().split()]
    except OSError:
        pass
    return kids


def descendants(pid: int) -> list[int]:
    """Every PID below ``pid``: children, their children, and so on."""
    found: list[int] = []
    todo = [pid]
    while todo:
        kids = children(todo.pop())
        found += kids
        todo += kids
    return found


def cpu_seconds(pids: Sequence[int]) -> float:
    """utime + stime of the given processes, in seconds, from /proc/PID/stat."""
    tick = os.sysconf("SC_CLK_TCK")
    total = 0
    for pid in pids:
        try:
            stat = Path(f"/proc/{pid}/stat").read_text()
        except OSError:
            continue
        # Fields after the parenthesised command name; utime and stime are fields 14 and 15.
        fields = stat[stat.rindex(")") + 2 :].split()
        total += int(fields[11]) + int(fields[12])
    return total / tick


def tree_cpu_seconds(pid: int) -> float:
    """User+system CPU of a process and all its descendants."""
    return cpu_seconds([pid, *descendants(pid)])


def tree_rss_kib(pid: int) -> int:
    """Resident memory (VmRSS) of a process and its descendants, KiB."""
    total = 0
    for p in [pid, *descendants(pid)]:
        try:
            for line in Path(f"/proc/{p}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
        except OSError:
            continue
    return total
