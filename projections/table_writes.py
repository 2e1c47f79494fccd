"""A projection batch's table writes: into the local store at once, into the changelog in one
round per batch; and its reads, from what this worker wrote when it can.

Faust's `table[key] = value` sends each changelog message on its own through the producer
buffer and `Topic.send_soon` (a future and a callback chain per message, and a RocksDB write of
the persisted offset per acknowledgement): under steady load that was a fifth of the worker's
time. Here the batch's messages go out in whole batches per partition, in the order they were
written, their acknowledgements are awaited together, and each partition's persisted offset is
written once. The messages are the ones Faust would send (raw key, JSON value, the partition of
the domain event), so recovery and standbys read them as usual; each partition's last one goes
in a batch of its own (see `send_batches`), or the embedded broker would hide the batch's tail
from recovery.

Reads: a table read through Faust is two RocksDB reads (`in`, then the get) and a JSON decode,
and the agent reads each record's entry and each partition's partial once per table and batch,
nearly always what it wrote itself. While this worker owns a partition nobody else writes its
keys, so the values it wrote or read are kept (a bounded number per table) and forgotten on
every rebalance: a partition may have been written elsewhere since. They are kept encoded:
tens of thousands of decoded entries, each a tree of dicts, made every full garbage collection
walk them all (the latency run's p99 284 ms instead of 159 ms); bytes are not tracked.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, Protocol

import faust
import orjson
from aiokafka import AIOKafkaProducer
from faust.stores.base import SerializedStore
from faust.types import TP
from rocksdict import WriteBatch

from app import metrics
from app.batch_send import Record, send_batches
from projections.projector import Write

log = logging.getLogger(__name__)

MAX_BACKOFF_S = 10.0


class TableWrites(Protocol):
    def read(self, table: Any, key: str) -> Mapping[str, Any] | None: ...

    def write(self, table: Any, partition: int, writes: Sequence[Write]) -> None: ...

    async def flush(self) -> None: ...


class DirectWrites:
    """Plain mapping access (tests over dicts, and anything without a changelog)."""

    def read(self, table: Any, key: str) -> Mapping[str, Any] | None:
        return table.get(key)

    def write(self, table: Any, partition: int, writes: Sequence[Write]) -> None:
        for key, value in writes:
            table[key] = value

    async def flush(self) -> None:
        return None


class ChangelogWrites:
    """The projection agent's access to Faust tables: writes go to the store now (later reads
    see them) and to the changelog on `flush`; reads come from the values kept when they can.
    A read of a key not kept must happen inside the event context of the key's partition
    (RocksDB takes the partition from Faust's current event)."""

    def __init__(self, producer: Callable[[], Awaitable[AIOKafkaProducer]],
                 kept_per_table: int = 20_000):
        self._producer = producer
        self._pending: dict[str, list[Record]] = {}  # by changelog topic, in write order
        self._tables: dict[str, faust.Table] = {}
        self._kept: dict[str, dict[str, bytes]] = {}  # by changelog topic, encoded
        self._kept_per_table = kept_per_table

    def read(self, table: faust.Table, key: str) -> Mapping[str, Any] | None:
        kept = self._kept_of(table)
        encoded = kept.get(key)
        if encoded is None:
            encoded = self._stored(table, key)
            if encoded is None:
                return None
            self._keep(kept, key, encoded)
        return orjson.loads(encoded)

    def write(self, table: faust.Table, partition: int, writes: Sequence[Write]) -> None:
        """Write keys of one partition of `table`, in order."""
        encoded = [(key.encode(), orjson.dumps(value)) for key, value in writes]
        store = table.data
        if isinstance(store, SerializedStore):  # RocksDB: the bytes the changelog gets
            # One write (one write-ahead log append) instead of Faust's Store._set per key,
            # which also looks up the current event and indexes the key each time.
            batch = WriteBatch(raw_mode=True)
            for key, value in encoded:
                batch.put(key, value)
            store._db_for_partition(partition).write(batch)
        else:
            for key, value in writes:
                store[key] = value
        topic = table.changelog_topic.get_topic_name()
        self._tables[topic] = table
        self._pending.setdefault(topic, []).extend(
            (partition, key, value) for key, value in encoded)
        kept = self._kept.setdefault(topic, {})
        for (key, _), (_, value) in zip(writes, encoded, strict=True):
            self._keep(kept, key, value)

    def forget(self) -> None:
        """Forget every value kept (on a rebalance)."""
        self._kept.clear()

    def _kept_of(self, table: faust.Table) -> dict[str, bytes]:
        return self._kept.setdefault(table.changelog_topic.get_topic_name(), {})

    def _keep(self, kept: dict[str, bytes], key: str, encoded: bytes) -> None:
        kept.pop(key, None)  # the least recently kept go first
        kept[key] = encoded
        if len(kept) > self._kept_per_table:
            del kept[next(iter(kept))]

    @staticmethod
    def _stored(table: faust.Table, key: str) -> bytes | None:
        store = table.data
        if isinstance(store, SerializedStore):
            return store._get(key.encode())
        value = store.get(key)
        return None if value is None else orjson.dumps(value)

    async def flush(self) -> None:
        """Send everything written since the last flush. A broker outage holds the batch (and so
        the projection) here until it is sent: the local store already has the writes, and
        the domain events are not acknowledged before their changelog is."""
        pending, self._pending = self._pending, {}
        delay = 0.2
        while pending:
            try:
                await self._send(pending)
                return
            except Exception:
                metrics.PROJECTION_CHANGELOG_FAILURES.inc()
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
