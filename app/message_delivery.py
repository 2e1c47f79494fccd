"""Delivering a fetched message to Faust's streams without four tasks per message.

Faust's fetch loop hands each message to its conductor through `Service.wait_first(delivery,
suspend_flow.wait())`, racing the delivery against a rebalance suspending the flow: four tasks
(the delivery, the suspension, the consumer's stopped and crashed events) and an
`asyncio.wait` per message, about a tenth of the worker's time. Almost every delivery finishes
without ever waiting (the stream's queue has room, flow control is open), so its first step is
taken here, inline; only a delivery that does wait is raced as before, resumed where it stopped.
"""

from __future__ import annotations

from collections.abc import Coroutine, Generator
from typing import Any

from mode.services import WaitResults

DELIVERY = "Conductor._compile_message_handler.<locals>.on_message"
SUSPENSION = "Event.wait"


def is_delivery_race(coros: tuple[Any, ...]) -> bool:
    """The fetch loop's `wait_first(on_message(message), suspend_flow.wait())`."""
    return (len(coros) == 2
            and getattr(getattr(coros[0], "cr_code", None), "co_qualname", None) == DELIVERY
            and getattr(getattr(coros[1], "cr_code", None), "co_qualname", None) == SUSPENSION)


def first_step(delivery: Coroutine) -> tuple[bool, Any]:
    """(True, result) when the delivery finished in one step; else (False, what it waits on)."""
    try:
        return False, delivery.send(None)
    except StopIteration as done:
        return True, done.value


def finished(delivery: Coroutine, result: Any) -> WaitResults:
    return WaitResults([delivery], [result], False)


async def resumed(delivery: Coroutine, waiting_on: Any) -> Any:
    """The rest of a delivery whose first step was taken, as a coroutine a task can run."""
    return await _Resumed(delivery, waiting_on)


class _Resumed:
    def __init__(self, coro: Coroutine, waiting_on: Any):
        self.coro, self.waiting_on = coro, waiting_on

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, waiting_on = self.coro, self.waiting_on
        while True:
            try:
                sent = yield waiting_on  # the task waits for it, then resumes us
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as error:  # cancellation, or the awaited future's error
                try:
                    waiting_on = coro.throw(error)
                except StopIteration as done:
                    return done.value
            else:
                try:
                    waiting_on = coro.send(sent)
                except StopIteration as done:
                    return done.value
