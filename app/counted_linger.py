"""A producer batch that goes as soon as it holds enough records, not only when its linger ends.

aiokafka sends a partition's batch when it is full (in bytes) or its linger has passed. The
bridge lingers to send fewer, larger batches: the embedded broker's cost to fetch from a
partition grows with the batches the partition holds (measured: about 1 ms a fetch at 100
batches, 7 ms at 5,000, 100 ms at 20,000), so one batch per post made every hop of a latency
run slower the longer it ran. But every post's 202 waits for its batch, and with many posts at
once a batch has records enough long before its linger ends: 20 ms of linger held 64
connections to 1,800 requests/s. Here a batch is sent once it holds `records` records (until
the sender takes it, while the previous request is in flight, it still takes more).
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaProducer


def send_when_counted(producer: AIOKafkaProducer, records: int) -> AIOKafkaProducer:
    """Make `producer` send a partition's batch once it holds `records` records (aiokafka has
    only the byte size for that, and a full batch stops taking records until it is sent)."""
    accumulator = producer._message_accumulator
    add_message = accumulator.add_message

    async def add_then_release(tp: Any, *args: Any, **kwargs: Any) -> Any:
        sent = await add_message(tp, *args, **kwargs)
        pending = accumulator._batches.get(tp)
        if pending and len(pending[-1]._msg_futures) >= records:
            _release(accumulator, pending[-1])
        return sent

    accumulator.add_message = add_then_release
    return producer


def _release(accumulator: Any, batch: Any) -> None:
    """End the batch's linger now, and wake the sender, which otherwise sleeps until the
    linger it last saw ends."""
    if batch._linger_time:
        batch._linger_time = 0
        if not accumulator._waiter_future.done():
            accumulator._waiter_future.set_result(None)
