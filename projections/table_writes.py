"""A projection batch's table writes: into the local store at once, into the changelog in one
round per batch.

Faust's `table[key] = value` sends each changelog message on its own through the producer
buffer and `Topic.send_soon` (a future and a callback chain per message, and a RocksDB write of
the persisted offset per acknowledgement): under steady load that was a fifth of the worker's
time. Here the batch's messages go out in whole batches per partition, in the order they were
written, their acknowledgements are awaited together, and each partition's persisted offset is
written once. The messages are the ones Faust would send (raw key, JSON value, the partition of
the domain event), so recovery and standbys read them as usual; each partition's last one goes
in a batch of its own (see `send_batches`), or the embedded broker would hide the batch's tail
from recovery.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any, Protocol

import faust
import orjson
from aiokafka import AIOKafkaProducer
from faust.stores.base import SerializedStore
from faust.types import TP

from app.batch_send import Record, send_batches

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


class TableWrites(Protocol):
    def set(self, table: Any, partition: int, key: str, value: dict[str, Any]) -> None: ...

    async def flush(self) -> None: ...


class DirectWrites:
    """Plain mapping assignment (tests over dicts, and anything without a changelog)."""

    def set(self, table: Any, partition: int, key: str, value: dict[str, Any]) -> None:
        table[key] = value

    async def flush(self) -> None:
        return None


class ChangelogWrites:
    """Writes to Faust tables: the store now (later reads see them), the changelog on `flush`.
    The local store must be set inside the event context of `partition` (RocksDB takes the
    partition from Faust's current event)."""

    def __init__(self, producer: Callable[[], Awaitable[AIOKafkaProducer]]):
        self._producer = producer
        self._pending: dict[str, list[Record]] = {}  # by changelog topic, in write order
        self._tables: dict[str, faust.Table] = {}

    def set(self, table: faust.Table, partition: int, key: str, value: dict[str, Any]) -> None:
        encoded_key, encoded_value = key.encode(), orjson.dumps(value)
        store = table.data
        if isinstance(store, SerializedStore):  # RocksDB: the bytes the changelog gets
            store._set(encoded_key, encoded_value)
        else:
            store[key] = value
        topic = table.changelog_topic.get_topic_name()
        self._tables[topic] = table
        self._pending.setdefault(topic, []).append((partition, encoded_key, encoded_value))

    async def flush(self) -> None:
        """Send everything set since the last flush. A broker outage holds the batch (and so
        the projection) here until it is sent: the local store already has the writes, and
        the domain events are not acknowledged before their changelog is."""
        pending, self._pending = self._pending, {}
        delay = 0.2
        while pending:
            try:
                await self._send(pending)
                return
            except Exception:
                log.exception("changelog writes of %d tables not sent; retrying in %.1fs",
                              len(pending), delay)
                await asyncio.sleep(delay)
                delay = min(MAX_BACKOFF_S, delay * 2)

    async def _send(self, pending: dict[str, list[Record]]) -> None:
        producer = await self._producer()
        sent = await asyncio.gather(*(send_batches(producer, topic, records, last_alone=True)
                                      for topic, records in pending.items()))
        for topic, last_offsets in zip(pending, sent, strict=True):
            store = self._tables[topic].data
            for partition, offset in last_offsets.items():
                store.set_persisted_offset(TP(topic, partition), offset)
