"""Waiting for a projection's table to be written: what lets a read wait until a record is
visible at the version its writer expects (read-your-writes), woken by the projection agent's
writes instead of polling."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TypeVar

T = TypeVar("T")


class TableAdvances:
    """One `asyncio.Event` per table somebody waits on, set and dropped at the table's next
    write: a write nobody waits for costs a dictionary lookup."""

    def __init__(self) -> None:
        self._next_write: dict[str, asyncio.Event] = {}
        self._stopped = False

    def written(self, table_name: str) -> None:
        event = self._next_write.pop(table_name, None)
        if event is not None:
            event.set()

    def wake_all(self) -> None:
        """Every waiter looks again (a rebalance moved partitions)."""
        events, self._next_write = self._next_write, {}
        for event in events.values():
            event.set()

    def stop(self) -> None:
        """The worker is stopping: wake every waiter, and wait no more."""
        self._stopped = True
        self.wake_all()

    async def next_write(self, table_name: str, timeout: float) -> None:
        """Until `table_name` is written next, at most `timeout` seconds."""
        if self._stopped or timeout <= 0:
            return
        event = self._next_write.get(table_name)
        if event is None:
            event = self._next_write[table_name] = asyncio.Event()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(event.wait(), timeout)

    async def until(self, read: Callable[[], Awaitable[T]], reached: Callable[[T], bool],
                    table_name: str, wait_s: float, recheck_s: float | None = None) -> T:
        """`read()`, again after each write of `table_name` (and every `recheck_s` seconds:
        for what other workers' writes may change) until `reached`, at most `wait_s` seconds;
        the last read's result."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait_s
        result = await read()
        while not reached(result) and (left := deadline - loop.time()) > 0 and not self._stopped:
            await self.next_write(table_name, left if recheck_s is None else min(left, recheck_s))
            result = await read()
        return result
