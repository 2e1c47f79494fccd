"""The benchmark's process clock reads a real process's CPU time and its main thread's time on
a CPU from /proc (Linux, as on these machines and in CI)."""

from __future__ import annotations

import os
import time

from bench import process_clock


def _burn(seconds: float) -> None:
    deadline = time.process_time() + seconds
    while time.process_time() < deadline:
        pass


def test_time_spent_computing_shows_as_cpu_time_and_time_on_a_cpu():
    first = process_clock.read(os.getpid())
    _burn(0.3)
    used = process_clock.between(first, process_clock.read(os.getpid()))

    assert used is not None
    assert used.wall_s >= 0.3
    assert 0.25 <= used.cpu_s <= used.wall_s + 0.05  # one thread busy, the clock ticks at 10 ms
    # the wall clock and the scheduler's count are read one after the other: a little apart
    assert 0.25 <= used.ran_s <= used.wall_s + 0.005
    assert 0 <= used.waited_s <= used.wall_s - used.ran_s + 0.01


def test_a_sleeping_process_uses_next_to_nothing():
    first = process_clock.read(os.getpid())
    time.sleep(0.3)
    used = process_clock.between(first, process_clock.read(os.getpid()))

    assert used.wall_s >= 0.3
    assert used.ran_s < 0.05 and used.cpu_s < 0.05


def test_a_process_that_is_gone_reads_as_nothing():
    assert process_clock.read(2**22 + 12345) is None  # above Linux's largest pid
    assert process_clock.between(None, process_clock.read(os.getpid())) is None
