"""Inline delivery of fetched messages: a delivery that never waits finishes in its first step;
one that waits is resumed where it stopped, with the awaited results, errors and cancellation it
would have seen in a task of its own."""

from __future__ import annotations

import asyncio

import pytest

from app.message_delivery import first_step, resumed


async def immediate(log: list) -> str:
    log.append("delivered")
    return "done"


async def waiting(gate: asyncio.Future, log: list) -> str:
    log.append("before")
    value = await gate
    log.append(f"after {value}")
    await asyncio.sleep(0)
    return f"done {value}"


def test_a_delivery_that_never_waits_finishes_in_its_first_step():
    log: list = []
    done, outcome = first_step(immediate(log))
    assert (done, outcome, log) == (True, "done", ["delivered"])


async def test_a_waiting_delivery_is_resumed_with_what_it_awaited():
    log: list = []
    gate = asyncio.get_running_loop().create_future()
    delivery = waiting(gate, log)
    done, waiting_on = first_step(delivery)
    assert not done and waiting_on is gate and log == ["before"]

    task = asyncio.ensure_future(resumed(delivery, waiting_on))
    await asyncio.sleep(0)
    assert not task.done()
    gate.set_result(7)

    assert await task == "done 7"
    assert log == ["before", "after 7"]


async def test_a_waiting_delivery_sees_the_error_of_what_it_awaited():
    gate = asyncio.get_running_loop().create_future()
    delivery = waiting(gate, [])
    _, waiting_on = first_step(delivery)
    task = asyncio.ensure_future(resumed(delivery, waiting_on))
    gate.set_exception(ValueError("broken"))

    with pytest.raises(ValueError, match="broken"):
        await task


async def test_cancelling_a_resumed_delivery_cancels_the_delivery():
    gate = asyncio.get_running_loop().create_future()
    log: list = []
    delivery = waiting(gate, log)
    _, waiting_on = first_step(delivery)
    task = asyncio.ensure_future(resumed(delivery, waiting_on))
    await asyncio.sleep(0)
    task.cancel()

    with pytest.raises(asyncio.CancelledError):
        await task
    assert gate.cancelled() and log == ["before"]
