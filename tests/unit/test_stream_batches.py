"""Batches taken straight from an agent's stream buffer (`app.stream_batches`): the first event
whenever it comes, then what is there or comes within the window; each event tracked as
unacked (what a rebalance or a shutdown waits for) until the next batch is asked for; events a
rebalance made stale skipped and acked, as Faust's own stream iterator does."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from types import SimpleNamespace

from faust.types.tuples import ConsumerMessage

from app.stream_batches import acknowledger, batches

TOPIC = "inbound"


def message(offset: int, generation: int) -> ConsumerMessage:
    """Faust's message as delivery hands it over: one stream holds a reference to it."""
    delivered = ConsumerMessage(TOPIC, 0, offset, timestamp=0.0, timestamp_type=0, headers=[],
                                key=b"", value=b"", checksum=None, generation_id=generation)
    delivered.incref()
    return delivered


@dataclass(eq=False)
class Event:
    message: ConsumerMessage


@dataclass
class Sensors:
    seen: list = field(default_factory=list)

    def on_message_in(self, tp, offset, message):
        self.seen.append(("in", offset))

    def on_message_out(self, tp, offset, message):
        self.seen.append(("out", offset))


class Consumer:
    """What Faust's consumer does with a message's last ack: marks its offset safe to commit."""

    def __init__(self):
        self.unacked = set()
        self.acked: list[int] = []

    def ack(self, message: ConsumerMessage) -> bool:
        if message.acked:
            return False
        message.acked = True
        self.acked.append(message.offset)
        return True


def stream_over(queue: asyncio.Queue, generation: int = 1):
    app = SimpleNamespace(
        flow_control=SimpleNamespace(is_active=lambda: True), consumer_generation_id=generation,
        topics=SimpleNamespace(acking_topics={TOPIC}), consumer=Consumer(),
        sensors=Sensors())
    return SimpleNamespace(app=app, channel=Channel(queue))


class Channel:
    """An agent's channel: its own iterator, over the buffer the conductor fills."""

    def __init__(self, queue):
        self.queue = queue

    def __aiter__(self):
        return self

    async def __anext__(self):
        return await self.queue.get()


def events(*offsets: int, generation: int = 1) -> list[Event]:
    return [Event(message(offset, generation)) for offset in offsets]


def test_a_batch_is_what_is_there_up_to_the_most():
    async def scenario():
        queue = asyncio.Queue()
        for event in events(*range(7)):
            queue.put_nowait(event)
        taking = batches(stream_over(queue), 5, within=0.01)
        first, second = await anext(taking), await anext(taking)
        return [e.message.offset for e in first], [e.message.offset for e in second]

    assert asyncio.run(scenario()) == ([0, 1, 2, 3, 4], [5, 6])


def test_the_first_event_is_awaited_then_the_window_closes_the_batch():
    async def scenario():
        queue = asyncio.Queue()
        taking = batches(stream_over(queue), 100, within=0.05)
        next_batch = asyncio.ensure_future(anext(taking))
        await asyncio.sleep(0.1)  # nothing yet: still waiting for a first event
        assert not next_batch.done()
        first, late = events(1, 2)
        queue.put_nowait(first)
        await asyncio.sleep(0.01)
        queue.put_nowait(late)  # within the window: same batch
        batch = await next_batch
        return [e.message.offset for e in batch]

    assert asyncio.run(scenario()) == [1, 2]


def test_events_are_tracked_until_the_next_batch_is_asked_for():
    async def scenario():
        queue = asyncio.Queue()
        stream = stream_over(queue)
        batch = events(1, 2)
        for event in batch:
            queue.put_nowait(event)
        taking = batches(stream, 10, within=0.01)
        await anext(taking)
        tracked = {message.offset for message in stream.app.consumer.unacked}
        acked_while_processing = [e.message.acked for e in batch]
        queue.put_nowait(events(3)[0])
        await anext(taking)
        return tracked, acked_while_processing, [e.message.acked for e in batch], \
            stream.app.sensors.seen

    tracked, while_processing, after, seen = asyncio.run(scenario())
    assert tracked == {1, 2}
    assert while_processing == [False, False]
    assert after == [True, True]
    assert seen == [("in", 1), ("in", 2), ("out", 1), ("out", 2), ("in", 3)]


def test_a_batch_taken_for_the_caller_to_ack_stays_unacked_until_it_does():
    """The projection agent acks a batch once its changelog is sent, behind the next batch."""
    async def scenario():
        queue = asyncio.Queue()
        stream = stream_over(queue)
        first, second = events(1, 2), events(3)
        for event in first + second:
            queue.put_nowait(event)
        taking = batches(stream, 2, within=0.01, ack_on_next=False)
        await anext(taking)
        await anext(taking)  # the next batch asked for: the first is still not acked
        unacked_then = [e.message.acked for e in first]
        acknowledger(stream)(first)
        return unacked_then, [e.message.acked for e in first + second], stream.app.sensors.seen

    before, after, seen = asyncio.run(scenario())
    assert before == [False, False]
    assert after == [True, True, False]
    assert seen == [("in", 1), ("in", 2), ("in", 3), ("out", 1), ("out", 2)]


def test_a_batch_left_by_an_error_is_not_acked():
    async def scenario():
        queue = asyncio.Queue()
        batch = events(1, 2)
        for event in batch:
            queue.put_nowait(event)
        taking = batches(stream_over(queue), 10, within=0.01)
        await anext(taking)
        await taking.aclose()  # the agent's loop ended without asking for more
        return [e.message.acked for e in batch]

    assert asyncio.run(scenario()) == [False, False]


def test_events_fetched_before_a_rebalance_are_skipped_and_acked():
    async def scenario():
        queue = asyncio.Queue()
        stale, current = events(1, generation=1)[0], events(2, generation=2)[0]
        queue.put_nowait(stale)
        queue.put_nowait(current)
        batch = await anext(batches(stream_over(queue, generation=2), 10, within=0.01))
        return [e.message.offset for e in batch], stale.message.acked, stale.message.tracked

    assert asyncio.run(scenario()) == ([2], True, False)


def test_the_stream_stopping_ends_the_batches():
    async def scenario():
        queue = ThrowingQueue()
        taking = batches(stream_over(queue), 10, within=0.01)
        queue.throw(StopAsyncIteration())
        return [batch async for batch in taking]

    assert asyncio.run(scenario()) == []


class ThrowingQueue(asyncio.Queue):
    """Faust's stream buffer: `throw` makes the next get raise (how Faust stops a stream)."""

    def __init__(self):
        super().__init__()
        self._error = None

    def throw(self, error: BaseException) -> None:
        self._error = error
        self.put_nowait(None)

    async def get(self):
        item = await super().get()
        if self._error is not None:
            raise self._error
        return item


def test_a_message_two_streams_hold_is_acked_with_the_second_streams_ack():
    stream = stream_over(asyncio.Queue())
    acknowledge = acknowledger(stream)
    [shared] = events(7)
    shared.message.incref()  # a second stream got it too

    acknowledge([shared])
    after_one = shared.message.acked, list(stream.app.consumer.acked)
    acknowledge([shared])
    acknowledge([shared])  # a repeated ack changes nothing

    assert after_one == (False, [])
    assert shared.message.acked and stream.app.consumer.acked == [7]
    assert stream.app.sensors.seen == [("out", 7)]
