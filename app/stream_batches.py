"""Batches of events straight from an agent's stream buffer.

Faust's `Stream.take_events` moves every event through the stream's passive drainer (its
iterator, the stream sensors, a processor coroutine appending to the batch) and acks each one
through the stream sensors again: about a tenth of the worker's time at 4,000 events/s. Here a
batch is taken from the buffer the conductor fills, as many as are there, waiting up to
`within` for more. What Faust's stream iterator does for each event it takes is kept: events a
rebalance made stale are skipped (and acked, as Faust does), and the others are tracked as
unacked until their batch is done, which is what a rebalance or a shutdown waits for before it
commits the offsets.
"""

from __future__ import annotations

import asyncio
from asyncio import QueueEmpty
from collections.abc import AsyncIterator, Callable, Iterable

import faust
from faust.types.tuples import ack_lock


async def batches(stream: faust.StreamT, max_: int, within: float, *, ack_on_next: bool = True
                  ) -> AsyncIterator[list[faust.EventT]]:
    """Like `stream.take_events(max_, within)`; a batch is acked when the next is asked for,
    never when the loop over them is left by an error or a cancellation: what was not done is
    delivered again (Faust's `take_events` acks it all the same). Without `ack_on_next` the
    caller acks each batch (`acknowledger`) once what it did is durable."""
    queue = aiter(stream.channel).queue
    taken, acknowledge = _bookkeeping(stream.app)
    while True:
        try:
            events = await _next_batch(queue, taken, max_, within)
        except StopAsyncIteration:  # Faust throws it into the buffer to stop the stream
            return
        yield events
        if ack_on_next:
            acknowledge(events)


def acknowledger(stream: faust.StreamT) -> Callable[[Iterable[faust.EventT]], None]:
    """Acks a batch taken with `ack_on_next=False`."""
    return _bookkeeping(stream.app)[1]


async def _next_batch(queue: asyncio.Queue, taken: Callable[[faust.EventT], bool], max_: int,
                      within: float) -> list[faust.EventT]:
    """The first event whenever it comes, then as many as there are or come within `within`."""
    events: list[faust.EventT] = []
    while not events:
        event = await queue.get()
        if taken(event):
            events.append(event)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while len(events) < max_:
        try:
            event = queue.get_nowait()
        except QueueEmpty:
            left = deadline - loop.time()
            if left <= 0:
                break
            try:
                event = await asyncio.wait_for(queue.get(), left)
            except TimeoutError:
                break
        if taken(event):
            events.append(event)
    return events


def _bookkeeping(app: faust.App) -> tuple[Callable[[faust.EventT], bool],
                                          Callable[[Iterable[faust.EventT]], None]]:
    """Faust's stream iterator's bookkeeping of each event it takes (`Stream._c_aiter`), and
    the acknowledgement of a batch."""
    flow_control, sensors, consumer = app.flow_control, app.sensors, app.consumer
    acking_topics, unacked = app.topics.acking_topics, app.consumer.unacked

    def taken(event: faust.EventT) -> bool:
        message = event.message
        if not flow_control.is_active() or message.generation_id != app.consumer_generation_id:
            # fetched before a rebalance: fetched again from the committed offset
            acknowledge((event,))
            return False
        if message.topic in acking_topics and not message.tracked:
            message.tracked = True
            unacked.add(message)
            sensors.on_message_in(message.tp, message.offset, message)
        return True

    def acknowledge(events: Iterable[faust.EventT]) -> None:
        """What `event.ack()` does for each (`Message.ack`: the last reference's ack marks the
        offset safe to commit), then the sensors, with Faust's ack lock taken once for the
        batch (`Message.ack`, its `decref` and `Consumer.ack` each take it once per event)."""
        with ack_lock:
            for event in events:
                message = event.message
                if message.acked:
                    continue
                message.refcount = max(message.refcount - 1, 0)
                if not message.refcount and message.on_final_ack(consumer):
                    sensors.on_message_out(message.tp, message.offset, message)

    return taken, acknowledge
