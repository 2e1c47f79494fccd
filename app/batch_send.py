"""Producing many messages at once: whole batches per partition (`send_batch`), one future
per batch instead of one per message, which cost more than the rest of the send."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import lru_cache

import faust
from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder

Record = tuple[int, bytes, bytes]  # partition, key, value


async def started_producer(app: faust.App) -> AIOKafkaProducer:
    """The app's own aiokafka producer, started if it was not yet."""
    return (await app.maybe_start_producer())._ensure_producer()


@lru_cache(maxsize=65_536)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives `key`. Cached: aiokafka's
    murmur2 is pure Python, and the same aggregates come again and again."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def send_batches(producer: AIOKafkaProducer, topic: str, records: Iterable[Record], *,
                       last_alone: bool = False) -> dict[int, int]:
    """Send (partition, key, value) records, in order within each partition, and wait for
    every acknowledgement. Returns the offset of the last record sent to each partition.

    `last_alone` sends each partition's last record in a batch of its own, after the others:
    the embedded tansu broker reports a partition's end offset as its last batch's base offset
    + 1, and Faust recovers a table's changelog only up to that end. It costs one round trip.
    """
    batches: dict[int, BatchBuilder] = {}
    acks: list[tuple[int, asyncio.Future]] = []

    async def send(partition: int, batch: BatchBuilder) -> None:
        acks.append((batch.record_count(),
                     await producer.send_batch(batch, topic, partition=partition)))

    held: dict[int, tuple[bytes, bytes]] = {}  # each partition's latest record, if last_alone
    for partition, key, value in records:  # no coroutine per record: most appends just append
        if last_alone:
            previous = held.get(partition)
            held[partition] = key, value
            if previous is None:
                continue
            key, value = previous
        batch = batches.get(partition) or batches.setdefault(partition, producer.create_batch())
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
            await send(partition, batch)
            batch = batches[partition] = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    for partition, batch in batches.items():
        await send(partition, batch)
    for partition, (key, value) in held.items():
        batch = producer.create_batch()
        batch.append(key=key, value=value, timestamp=None)
        await send(partition, batch)
    last: dict[int, int] = {}
    for (count, _), sent in zip(acks, await asyncio.gather(*(ack for _, ack in acks)),
                                strict=True):
        last[sent.partition] = max(last.get(sent.partition, -1), sent.offset + count - 1)
    return last
