"""The service's handler of fetched messages for raw-bytes topics (`app.raw_delivery`): the same
event Faust's own handler would put in the stream's buffer, the same waits (a rebalance's
suspended flow, a full buffer), and Faust's handler for any other topic."""

from __future__ import annotations

import asyncio

import faust
from faust.transport.conductor import Conductor
from faust.types import TP
from faust.types.tuples import ConsumerMessage

from app.faust_app import create_app, declare_topics
from app.settings import Settings


def fetched(offset: int, topic: str) -> ConsumerMessage:
    return ConsumerMessage(topic, 0, offset, 1_700_000_000.0, 0, [("trace", b"t1")], b"key",
                           b'{"value": 1}', None)


def setup(tmp_path, topic_of=lambda topics: topics.domain_events):
    settings = Settings(kafka_broker_url="kafka://127.0.0.1:1", data_dir=tmp_path)
    app = create_app(settings)
    topic = topic_of(declare_topics(app, settings))
    channel = topic.clone(is_iterator=True)  # what an agent's stream reads
    app.flow_control.resume()  # as after partitions are assigned
    return app, channel, TP(topic.get_topic_name(), 0)


def test_each_message_becomes_the_event_fausts_handler_makes(tmp_path):
    async def scenario():
        app, channel, tp = setup(tmp_path)
        ours = app.topics._build_handler(tp, {channel})
        fausts = Conductor._build_handler(app.topics, tp, {channel})
        assert ours is not fausts
        for handler, offset in ((ours, 1), (fausts, 2)):
            await handler(fetched(offset, tp.topic))
        return channel.queue.get_nowait(), channel.queue.get_nowait()

    ours, fausts = asyncio.run(scenario())
    assert type(ours) is type(fausts)
    for event in (ours, fausts):
        assert (event.key, event.value, event.headers) == (b"key", b'{"value": 1}',
                                                            {"trace": b"t1"})
        assert event.message.refcount == 1  # the stream's ack brings it to 0, then commits it
    assert (ours.message.offset, fausts.message.offset) == (1, 2)


def test_a_suspended_flow_holds_the_message_until_it_resumes(tmp_path):
    async def scenario():
        app, channel, tp = setup(tmp_path)
        handler = app.topics._build_handler(tp, {channel})
        app.flow_control.suspend()
        delivery = asyncio.ensure_future(handler(fetched(1, tp.topic)))
        await asyncio.sleep(0.05)
        held = (delivery.done(), channel.queue.qsize())
        app.flow_control.resume()
        await asyncio.wait_for(delivery, 1)
        return held, channel.queue.qsize()

    held, after = asyncio.run(scenario())
    assert held == (False, 0)
    assert after == 1


def test_a_full_buffer_holds_the_message_until_there_is_room(tmp_path):
    async def scenario():
        app, channel, tp = setup(tmp_path)
        handler = app.topics._build_handler(tp, {channel})
        queue = channel.queue
        while not queue.full():
            queue.force_put_nowait("earlier")
        delivery = asyncio.ensure_future(handler(fetched(1, tp.topic)))
        await asyncio.sleep(0.05)
        held = delivery.done()
        queue.get_nowait()
        await asyncio.wait_for(delivery, 1)
        while (last := queue.get_nowait()) == "earlier":
            pass
        return held, last

    held, last = asyncio.run(scenario())
    assert held is False
    assert last.message.offset == 1


def test_other_topics_keep_fausts_handler(tmp_path):
    async def scenario():
        app, _, tp = setup(tmp_path)
        json_topic = app.topic("json-values", value_serializer="json")
        channel = json_topic.clone(is_iterator=True)
        handler = app.topics._build_handler(TP("json-values", 0), {channel})
        await handler(fetched(1, "json-values"))
        return handler, channel.queue.get_nowait()

    handler, event = asyncio.run(scenario())
    assert not callable(getattr(handler, "__code__", None))  # Faust's compiled handler
    assert event.value == {"value": 1}  # decoded by Faust, as before
    assert isinstance(event, faust.Event)


def test_a_run_of_the_fetch_loop_delivers_at_once_only_what_would_not_wait(tmp_path):
    """`deliver_now` (`app.fetch_loop`'s way) puts the event in the buffer as the handler would,
    or does nothing at all, leaving the message to the handler's waiting delivery."""

    async def scenario():
        app, channel, tp = setup(tmp_path)
        deliver_now = app.topics._build_handler(tp, {channel}).deliver_now
        queue, outcomes = channel.queue, {}

        app.flow_control.suspend()
        outcomes["flow suspended"] = deliver_now(suspended := fetched(1, tp.topic))
        app.flow_control.resume()
        producer_buffer = app.producer.buffer
        producer_buffer.pending._queue.extend([None] * (producer_buffer.max_messages + 1))
        outcomes["producer buffer over its limit"] = deliver_now(fetched(2, tp.topic))
        producer_buffer.pending._queue.clear()
        while not queue.full():
            queue.force_put_nowait("earlier")
        outcomes["stream buffer full"] = deliver_now(fetched(3, tp.topic))
        untouched = queue.qsize() == queue.maxsize, suspended.refcount  # nothing added
        while not queue.empty():
            queue.get_nowait()
        outcomes["room"] = deliver_now(fetched(4, tp.topic))
        return outcomes, untouched, queue.get_nowait(), queue.empty()

    outcomes, (still_full, refcount), event, nothing_else = asyncio.run(scenario())
    assert outcomes == {"flow suspended": False, "producer buffer over its limit": False,
                        "stream buffer full": False, "room": True}
    assert refcount == 0  # not counted as delivered
    assert still_full and nothing_else
    assert (event.message.offset, event.value, event.message.refcount) == (4, b'{"value": 1}', 1)
