"""A process's CPU time (all its threads) and how long its main thread waited for a CPU, from
/proc (Linux): what a throughput figure cost, and how much of its window the machine's other
processes (PostgreSQL, the broker, the kernel's writeback) took from it on these two cores."""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Reading:
    wall_s: float  # when it was read (monotonic); between two readings, the time between
    cpu_s: float  # user + system, every thread
    ran_s: float  # the main thread on a CPU
    waited_s: float  # the main thread runnable, waiting for a CPU


def read(pid: int) -> Reading | None:
    """None where /proc is not there to read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        ran_ns, waited_ns, _ = Path(f"/proc/{pid}/task/{pid}/schedstat").read_text().split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return Reading(time.monotonic(), (int(stat[11]) + int(stat[12])) / ticks, int(ran_ns) / 1e9,
                   int(waited_ns) / 1e9)


def between(first: Reading | None, last: Reading | None) -> Reading | None:
    if first is None or last is None:
        return None
    return Reading(last.wall_s - first.wall_s, last.cpu_s - first.cpu_s,
                   last.ran_s - first.ran_s, last.waited_s - first.waited_s)
