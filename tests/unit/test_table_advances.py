"""Reads waiting for a projection's table to be written (`projections.advances`)."""

from __future__ import annotations

import asyncio
import time

from projections.advances import TableAdvances


async def test_a_waiter_wakes_at_its_tables_next_write_and_not_at_another_tables():
    advances = TableAdvances()
    waiting = asyncio.ensure_future(advances.next_write("clients", timeout=5))
    await asyncio.sleep(0.01)

    advances.written("deals")
    await asyncio.sleep(0.01)
    assert not waiting.done()

    advances.written("clients")
    await asyncio.wait_for(waiting, 1)


async def test_a_write_nobody_waits_for_wakes_no_later_waiter():
    advances = TableAdvances()
    advances.written("clients")

    started = time.monotonic()
    await advances.next_write("clients", timeout=0.1)

    assert time.monotonic() - started >= 0.09


async def test_until_reads_again_after_each_write_until_the_wanted_version():
    advances = TableAdvances()
    versions = iter([0, 1, 2, 3])
    reads = []

    async def read() -> int:
        reads.append(next(versions))
        return reads[-1]

    async def writer() -> None:
        for _ in range(3):
            await asyncio.sleep(0.02)
            advances.written("clients")

    writing = asyncio.ensure_future(writer())
    started = time.monotonic()
    result = await advances.until(read, lambda version: version >= 2, "clients", wait_s=5)

    assert result == 2 and reads == [0, 1, 2]
    assert time.monotonic() - started < 1
    await writing


async def test_until_answers_at_once_when_reached_or_not_waiting():
    advances = TableAdvances()

    async def read() -> int:
        return 1

    assert await advances.until(read, lambda version: version >= 1, "clients", wait_s=5) == 1
    started = time.monotonic()
    assert await advances.until(read, lambda version: version >= 2, "clients", wait_s=0) == 1
    assert time.monotonic() - started < 1  # did not wait (a loaded machine may stall a while)


async def test_until_gives_the_last_read_after_its_wait_and_rechecks_on_a_period():
    advances = TableAdvances()
    reads = 0

    async def read() -> int:
        nonlocal reads
        reads += 1
        return 0

    started = time.monotonic()
    result = await advances.until(read, lambda version: version >= 1, "clients", wait_s=0.2,
                                  recheck_s=0.05)

    elapsed = time.monotonic() - started
    assert result == 0
    assert 0.19 <= elapsed < 1
    # the first read, then one every 50 ms without any write (fewer if the loop stalls)
    assert 2 <= reads <= 2 + elapsed / 0.05


async def test_a_stop_wakes_every_waiter_and_ends_all_waiting():
    advances = TableAdvances()

    async def read() -> int:
        return 0

    waiting = asyncio.ensure_future(
        advances.until(read, lambda version: version >= 1, "clients", wait_s=5))
    await asyncio.sleep(0.01)

    advances.stop()
    assert await asyncio.wait_for(waiting, 1) == 0

    started = time.monotonic()
    await advances.until(read, lambda version: version >= 1, "deals", wait_s=5)
    assert time.monotonic() - started < 1  # far sooner than the 5 s wait: waiting has ended


async def test_a_rebalance_wakes_waiters_to_read_again():
    advances = TableAdvances()
    waiting = asyncio.ensure_future(advances.next_write("clients", timeout=5))
    await asyncio.sleep(0.01)

    advances.wake_all()

    await asyncio.wait_for(waiting, 1)
