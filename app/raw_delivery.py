"""Handing each fetched message of a raw-bytes topic to the one stream that reads it.

Faust's conductor handler (`faust.transport._cython.conductor.ConductorHandler`) is general:
any number of channels per partition, each decoding through its schema and codecs. For the
service's topics, read by one agent each as raw bytes, that is five calls to get the same bytes
back, an `Event` class looked up in the app's settings, and the producer buffer's size read
through two more settings lookups, for every message (a consume-only agent on the service's
delivery: 8-30% more events/s without them, in alternating runs). The handler here does the
same for that case only (flow control, the producer buffer's limit, the message's reference
count, the stream buffer's pressure signals); any other partition keeps Faust's.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, MutableSet
from typing import Any

import faust
from faust.transport.conductor import Conductor
from faust.types import TP, Message

RAW = "raw"


class RawBytesConductor(Conductor):
    def _build_handler(self, tp: TP, channels: MutableSet[Any]) -> Callable:
        if len(channels) == 1 and not self.app.conf.producer_threaded:
            (channel,) = channels
            if reads_raw_bytes(self.app, channel):
                return raw_bytes_handler(self.app, tp, channel)
        return super()._build_handler(tp, channels)


def reads_raw_bytes(app: faust.App, channel: Any) -> bool:
    """A topic whose keys and values are handed over as the bytes fetched."""
    return (isinstance(channel, faust.Topic) and channel.key_type is bytes
            and channel.value_type is bytes
            and (channel.key_serializer or app.conf.key_serializer) == RAW
            and (channel.value_serializer or app.conf.value_serializer) == RAW)


def raw_bytes_handler(app: faust.App, tp: TP, channel: faust.Topic
                      ) -> Callable[[Message], Awaitable[None]]:
    """What Faust's handler does for one channel whose decoding returns the bytes fetched."""
    create_event = app.conf.Event
    flow_control = app.flow_control
    producer_buffer = app.producer.buffer
    on_topic_buffer_full = app.sensors.on_topic_buffer_full
    consumer = app.consumer

    def on_pressure_high() -> None:
        on_topic_buffer_full(tp)
        consumer.on_buffer_full(tp)

    def on_pressure_drop() -> None:
        consumer.on_buffer_drop(tp)

    def event_of(message: Message) -> faust.EventT:
        # `message.incref()` without Faust's ack lock: no other reference to it exists yet
        message.refcount += 1
        return create_event(app, message.key, message.value, message.headers, message)

    def put_now(event: faust.EventT) -> None:
        channel.queue.put_nowait_enhanced(event, on_pressure_high=on_pressure_high,
                                          on_pressure_drop=on_pressure_drop)

    def producer_buffer_over() -> bool:
        # what ProducerBuffer.size counts, without its settings lookup
        return len(producer_buffer.pending._queue) > producer_buffer.max_messages

    def deliver_now(message: Message) -> bool:
        """Into the stream's buffer if nothing has to wait; False (nothing done) otherwise."""
        if not flow_control.is_active() or channel.queue.full() or producer_buffer_over():
            return False
        put_now(event_of(message))
        return True

    async def deliver(message: Message) -> None:
        if deliver_now(message):
            return
        if not flow_control.is_active():  # a rebalance suspended the streams
            await flow_control.acquire()
        if producer_buffer_over():
            await producer_buffer.wait_until_ebb()
        event = event_of(message)
        if channel.queue.full():
            on_topic_buffer_full(tp)
            await channel.put(event)
        else:
            put_now(event)

    deliver.deliver_now = deliver_now  # for the fetch loop's runs (`app.fetch_loop`)
    return deliver
