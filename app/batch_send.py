"""Producing many messages at once: whole batches per partition (`send_batch`), one future
per batch instead of one per message, which cost more than the rest of the send."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from functools import lru_cache

from aiokafka import AIOKafkaProducer
from aiokafka.partitioner import murmur2
from aiokafka.producer.message_accumulator import BatchBuilder


@lru_cache(maxsize=65_536)
def partition_for(key: str, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2) gives `key`. Cached: aiokafka's
    murmur2 is pure Python, and the same aggregates come again and again."""
    return (murmur2(key.encode()) & 0x7FFFFFFF) % partitions


async def send_batches(producer: AIOKafkaProducer, topic: str,
                       records: Iterable[tuple[int, bytes, bytes]]) -> dict[int, int]:
    """Send (partition, key, value) records, in order within each partition, and wait for
    every acknowledgement. Returns the offset of the last record sent to each partition."""
    batches: dict[int, BatchBuilder] = {}
    acks = []
    for partition, key, value in records:
        batch = batches.get(partition) or batches.setdefault(partition, producer.create_batch())
        if batch.append(key=key, value=value, timestamp=None) is None:  # full: send it
            acks.append((batch.record_count(),
                         await producer.send_batch(batch, topic, partition=partition)))
            batch = batches[partition] = producer.create_batch()
            batch.append(key=key, value=value, timestamp=None)
    for partition, batch in batches.items():
        acks.append((batch.record_count(),
                     await producer.send_batch(batch, topic, partition=partition)))
    last: dict[int, int] = {}
    for (count, _), sent in zip(acks, await asyncio.gather(*(ack for _, ack in acks)), strict=True):
        last[sent.partition] = max(last.get(sent.partition, -1), sent.offset + count - 1)
    return last
