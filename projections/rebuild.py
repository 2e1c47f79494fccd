"""Rebuilds a projection from the event store into a new generation of its table, while the
service keeps serving the current one.

1. Fold: every event of the projection's aggregate types, in global order from the event store,
   goes through the same planner as the live agent (`projector.BatchPlan`, in runs of the same
   size), into a dict. Each record goes to the partition its domain events go to (the
   producer's murmur2 of the aggregate id), so the rebuilt table is co-partitioned with the
   domain-events topic exactly like the live one.
2. Write: the folded keys are produced to the changelog topic of table `<name>-g<n+1>`, a topic
   no running worker reads (workers serve `<name>-g<n>`), created compacted if missing.
3. Record: generation n+1 is registered in PostgreSQL as `built`, through the last position
   folded (`projections.generations`).
4. Switch: restarting the workers makes them declare `<name>-g<n+1>`, which Faust recovers from
   the changelog written in step 2. Events recorded after the rebuild's last position were
   consumed by generation n only, so the first worker to start on n+1 republishes them to the
   domain-events topic (`catch_up`) before marking it `live`; the agent applies them to the new
   table, and every other projection ignores them as duplicates (aggregate versions).

Nothing is lost between steps: an event recorded while the fold runs is either folded (its
position is at most the last folded one) or republished by the catch-up (it is after it), and
applying an event twice changes nothing. Generation n is left in place, so a switch can be
undone by deleting generation n+1's row and restarting.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.client import AIOKafkaClient
from aiokafka.cluster import ClusterMetadata
from aiokafka.errors import TopicAlreadyExistsError

from app.batch_send import partition_for, send_batches
from projections import event_feed, generations
from projections.projection import Projection
from projections.projector import (
    BatchPlan,
    Delivery,
    Written,
    is_record_key,
    partition_key,
    tally_of,
)
from projections.tables import changelog_topic
from projections.totals import sum_totals

Progress = Callable[[int], None]  # called with the number of events folded since the last call
PROGRESS_EVERY = 5_000
FOLD_BATCH = 500  # events per partition run, like the live agent's PROJECTION_BATCH_SIZE


@dataclass(frozen=True)
class RebuildReport:
    projection: str
    generation: int
    events: int
    keys: int
    built_through: int
    fold_s: float
    write_s: float

    @property
    def events_per_s(self) -> float:
        return self.events / max(self.fold_s + self.write_s, 1e-9)

    def summary(self) -> str:
        return (f"{self.projection}: generation {self.generation} built from {self.events:,} "
                f"events through position {self.built_through:,} into {self.keys:,} keys in "
                f"{self.fold_s + self.write_s:.2f}s ({self.events_per_s:,.0f} events/s; "
                f"fold {self.fold_s:.2f}s, write {self.write_s:.2f}s)")


def bootstrap_servers(broker_url: str) -> str:
    """A Faust broker URL (kafka://h1:9092;h2:9092) as Kafka clients take it (h1:9092,h2:9092)."""
    hosts = broker_url.replace(";", ",").split(",")
    return ",".join(host.strip().removeprefix("kafka://") for host in hosts)


async def every_topic(bootstrap: str) -> ClusterMetadata:
    """The metadata of every topic, on a client of its own: asking for one topic alone may make
    the broker create it."""
    client = AIOKafkaClient(bootstrap_servers=bootstrap)
    await client.bootstrap()
    try:
        return await client.fetch_all_metadata()
    finally:
        await client.close()


async def fold(projection: Projection, pool: asyncpg.Pool, partitions: int,
               progress: Progress | None = None) -> tuple[dict[str, dict[str, Any]], int, int]:
    """(the table's keys and values, events folded, last position folded).

    The records are folded without their tally, and each partition's totals added up from its
    records' final entries at the end: what the live agent keeps up event by event (a partial's
    totals are the sum of its visible records' tallies) is one addition per record here (moving
    a bucket at every event made the benchmark's rebuild 37% slower: bench/read_side_bench.py)."""
    table: dict[str, dict[str, Any]] = {}
    events = last = pending = 0
    placed: dict[str, int] = {}
    folding = PartitionBatches(_untallied(projection), table)
    async for event in event_feed.messages_after(pool, 0,
                                                 aggregate_types=projection.aggregate_types):
        aggregate_id = event["aggregate_id"]
        partition = placed.get(aggregate_id)
        if partition is None:
            partition = placed[aggregate_id] = partition_for(aggregate_id, partitions)
        folding.apply(event, partition)
        events += 1
        last = event["position"]
        pending += 1
        if progress is not None and pending == PROGRESS_EVERY:
            progress(pending)
            pending = 0
    folding.flush()
    _add_up_totals(projection, table)
    if progress is not None and pending:
        progress(pending)
    return table, events, last


def _untallied(projection: Projection) -> Projection:
    return replace(projection, tally=None, views={}) if projection.tally else projection


def _add_up_totals(projection: Projection, table: dict[str, dict[str, Any]]) -> None:
    """Each partition's partial gets the sum of its records' tallies."""
    if projection.tally is None:
        return
    records: dict[int, list[dict[str, Any]]] = {}
    for key, entry in table.items():
        if is_record_key(key):
            records.setdefault(entry["partition"], []).append(entry)
    for partition, entries in records.items():
        key = partition_key(partition)
        # tallies made and dropped one at a time: kept, their many small dicts would set the
        # garbage collector walking the whole folded table
        tallies = (tally_of(projection, entry) for entry in entries)
        table[key] = {**table[key], "totals": sum_totals(tallies)}


class PartitionBatches:
    """Folds events into `table` the way the live agent projects them: a `BatchPlan` per
    partition over runs of up to FOLD_BATCH events, each key written once per run."""

    def __init__(self, projection: Projection, table: dict[str, dict[str, Any]]):
        self.projection, self.table = projection, table
        self.plans: dict[int, tuple[BatchPlan, int]] = {}
        self.last_written: dict[int, Written] = {}
        self.deliveries: dict[int, Delivery] = {}  # one each: a rebuild has no Kafka offsets

    def apply(self, event: dict[str, Any], partition: int) -> None:
        plan, count = self.plans.get(partition) or (self._plan(partition), 0)
        delivery = self.deliveries.get(partition)
        if delivery is None:
            delivery = self.deliveries[partition] = Delivery(partition)
        plan.apply(event, delivery)  # the store's history has no gaps
        if count + 1 == FOLD_BATCH:
            self._write(partition, plan)
        else:
            self.plans[partition] = (plan, count + 1)

    def flush(self) -> None:
        for partition, (plan, _) in list(self.plans.items()):
            self._write(partition, plan)

    def _plan(self, partition: int) -> BatchPlan:
        return BatchPlan(self.projection, self.table.get, partition,
                         self.last_written.get(partition))

    def _write(self, partition: int, plan: BatchPlan) -> None:
        writes, written = plan.writes()
        self.table.update(writes)
        if written is not None:
            self.last_written[partition] = written
        self.plans.pop(partition, None)


async def open_changelog(bootstrap: str, topic: str, partitions: int,
                         replication_factor: int = 1) -> AIOKafkaProducer:
    """The changelog topic, created compacted if missing, and a started producer for it."""
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic, partitions, replication_factor,
                                            topic_configs={"cleanup.policy": "compact"})])
    except TopicAlreadyExistsError:
        pass
    finally:
        await admin.close()
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=20,
                                max_batch_size=512 * 1024)
    await producer.start()
    return producer


async def write_changelog(producer: AIOKafkaProducer, topic: str,
                          table: dict[str, dict[str, Any]]) -> None:
    """A rebuild writes every key at once: per-message sends would cost more than folding."""
    await send_batches(producer, topic, ((value["partition"], key.encode(), orjson.dumps(value))
                                         for key, value in table.items()), last_alone=True)


async def rebuild(projection: Projection, pool: asyncpg.Pool, *, bootstrap: str, app_id: str,
                  partitions: int, replication_factor: int = 1,
                  progress: Progress | None = None) -> RebuildReport:
    generation = (await generations.current(pool, [projection.name]))[projection.name].number + 1
    topic = changelog_topic(app_id, projection.name, generation)
    started = time.perf_counter()
    # the topic and the producer get ready while the events are folded
    opening = asyncio.ensure_future(open_changelog(bootstrap, topic, partitions,
                                                   replication_factor))
    try:
        table, events, built_through = await fold(projection, pool, partitions, progress)
    except BaseException:
        if not opening.cancel() and opening.exception() is None:  # opened already: close it
            await opening.result().stop()
        raise
    folded = time.perf_counter()
    producer = await opening
    try:
        await write_changelog(producer, topic, table)
    finally:
        await producer.stop()
    written = time.perf_counter()
    await generations.record_built(pool, projection.name, generation, built_through, events)
    return RebuildReport(projection.name, generation, events, len(table), built_through,
                         folded - started, written - folded)


async def catch_up(projection: Projection, generation: generations.Generation,
                   pool: asyncpg.Pool, events_after: Callable[[int], Any],
                   publish: Callable[[list[Any]], Any], batch_size: int = 1000) -> int:
    """Step 4: republish the events recorded after a new generation was built, then mark it
    live. `events_after(position)` yields stored events; `publish` sends a batch of them to the
    domain-events topic. Returns how many were republished."""
    republished = 0
    batch: list[Any] = []
    async for stored in events_after(generation.built_through):
        if stored.event.aggregate_type in projection.aggregate_types:
            batch.append(stored)
        if len(batch) >= batch_size:
            await publish(batch)
            republished, batch = republished + len(batch), []
    if batch:
        await publish(batch)
        republished += len(batch)
    await generations.mark_live(pool, projection.name, generation.number)
    return republished
