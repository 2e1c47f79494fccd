"""The projection agent: a consumer of domain events, separate from the command agents, that
applies every event to every projection's table, a batch at a time (each key written once per
batch and partition: see `projections.projector.BatchPlan`)."""

from __future__ import annotations

import asyncio
import logging
import weakref
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from functools import partial
from typing import Any

import faust
import orjson
from faust import streams as faust_streams
from faust.types import TP

from app import metrics
from app.batch_send import started_producer
from app.stream_batches import acknowledger, batches
from app.structured_logging import correlated
from projections.advances import TableAdvances
from projections.entry import VersionGap
from projections.projector import BatchPlan, Delivery, Written
from projections.table_writes import ChangelogWrites, DirectWrites, TableWrites
from projections.tables import ProjectionTable, ProjectionTables

log = logging.getLogger(__name__)

HistoryReader = Callable[[str], Awaitable[list[Mapping[str, Any]]]]

LAST_FLUSH_WAIT_S = 10.0


class ConsumedOffsets:
    """The last domain-events offset this worker processed, per partition (for the lag)."""

    def __init__(self) -> None:
        self.by_partition: dict[int, int] = {}

    def processed(self, partition: int, offset: int) -> None:
        self.by_partition[partition] = offset

    def lag(self, consumer: Any, topic: faust.TopicT, partitions: set[int]) -> dict[str, int]:
        """Events on the topic not yet processed here, per partition (as far as known)."""
        lags = {}
        for partition in partitions:
            tp = TP(topic.get_topic_name(), partition)
            highwater = consumer.highwater(tp)
            processed = self.by_partition.get(partition)
            if processed is None:
                processed = (getattr(consumer, "_committed_offset", {}).get(tp) or 0) - 1
            if highwater is not None:
                lags[str(partition)] = max(0, highwater - processed - 1)
        return lags


def register_projection_agent(app: faust.App, domain_events: faust.TopicT,
                              tables: ProjectionTables, history: HistoryReader,
                              consumed: ConsumedOffsets, batch_size: int = 500,
                              batch_within_s: float = 0.01, kept_per_table: int = 20_000,
                              advances: TableAdvances | None = None) -> None:
    """`advances` hears of every write into a table (reads waiting for a version wake)."""
    writes = ChangelogWrites(partial(started_producer, app), kept_per_table)
    partials = WrittenPartials(writes, advances.written if advances else None)
    forget_on_rebalance(app, writes)

    @app.agent(domain_events, name="project-domain-events")
    async def project_domain_events(stream: faust.StreamT) -> None:
        acknowledge = acknowledger(stream)
        flushing: asyncio.Future | None = None  # the last batch's changelog, then its acks

        async def flush_then_acknowledge(events: Sequence[faust.EventT]) -> None:
            await writes.flush()  # retries until sent: the events wait for their changelog
            acknowledge(events)
            for event in events:
                consumed.processed(event.message.partition, event.message.offset)

        try:
            async for events in batches(stream, batch_size, batch_within_s, ack_on_next=False):
                for partition, (last, run) in _runs_by_partition(events).items():
                    with correlated(((e.get("metadata") or {}).get("correlation_id") or "")
                                    for e, _ in run), processing(last):
                        for table in tables.values():
                            await project_run(table, partition, run, history, partials)
                # The batch is in the tables (and the read API) already. A small batch's
                # changelog goes behind the next batch (waiting for it was latency); a large
                # one is waited for, while the next fills (smaller batches would cost more per
                # event). One flush at a time, so the changelog keeps its order.
                if flushing is not None:
                    await flushing
                flushing = asyncio.ensure_future(flush_then_acknowledge(events))
                if len(events) * 2 >= batch_size:
                    await flushing
        finally:
            if flushing is not None:
                # the last batch's changelog, then its acks; a broker outage (the flush retries
                # until sent) must not hold the shutdown: the batch, unacked, comes again
                await asyncio.wait([flushing], timeout=LAST_FLUSH_WAIT_S)
                flushing.cancel()


Run = list[tuple[Mapping[str, Any], Delivery]]


def forget_on_rebalance(app: faust.App, writes: ChangelogWrites) -> None:
    """A partition this worker gets back may have been written by another meanwhile."""

    async def forget(app: faust.App, partitions: set[TP], **kwargs: Any) -> None:
        writes.forget()

    app.on_partitions_revoked.connect(forget)
    app.on_partitions_assigned.connect(forget)


def _runs_by_partition(events: Sequence[faust.EventT]) -> dict[int, tuple[faust.EventT, Run]]:
    """The decodable domain events of a batch, per partition, in offset order, with the
    partition's last Kafka event."""
    runs: dict[int, Run] = {}
    last: dict[int, faust.EventT] = {}
    for event in events:
        message = event.message
        last[message.partition] = event
        domain_event = _readable(event.value)
        if domain_event is None:
            # not the service's (another producer, a bug): nothing to apply, nothing to repair
            log.error("skipping a domain event the projections cannot read at %s:%s",
                      message.partition, message.offset)
            metrics.PROJECTION_EVENTS_SKIPPED.inc()
            continue
        runs.setdefault(message.partition, []).append(
            (domain_event, Delivery(message.partition, message.offset)))
    return {partition: (last[partition], run) for partition, run in runs.items()}


# what a domain event must hold for the projections to place it
REQUIRED_FIELDS = {"aggregate_id": str, "aggregate_type": str, "event_type": str,
                   "version": int, "metadata": dict}


def _readable(value: bytes | None) -> dict[str, Any] | None:
    """The domain event, or None when it is no JSON object with the fields every projection
    relies on."""
    try:
        event = orjson.loads(value) if value is not None else None
    except orjson.JSONDecodeError:
        return None
    if not isinstance(event, dict) or not all(
            isinstance(event.get(name), kind) for name, kind in REQUIRED_FIELDS.items()):
        return None
    return event


@contextmanager
def processing(event: faust.EventT) -> Iterator[None]:
    """Make `event` Faust's current event: its tables and RocksDB store take a key's
    partition from it, and a batch (`app.stream_batches`) has none of its own."""
    token = faust_streams._current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        faust_streams._current_event.reset(token)


class WrittenPartials:
    """Writes batch plans into their tables, and keeps the partial each table partition's last
    plan wrote in this process (a `BatchPlan` then spares the reads that check the entries
    written after it)."""

    def __init__(self, writes: TableWrites | None = None,
                 on_written: Callable[[str], None] | None = None) -> None:
        self._writes = writes or DirectWrites()
        self._on_written = on_written
        self._last: dict[tuple[str, int], Written] = {}

    def plan(self, table: ProjectionTable, partition: int) -> BatchPlan:
        return BatchPlan(table.projection, partial(self._writes.read, table.table), partition,
                         self._last.get((table.name, partition)))

    def write(self, table: ProjectionTable, plan: BatchPlan) -> None:
        """A write that fails is logged; the records' next events repair what it missed."""
        try:
            writes, written = plan.writes()
            if writes:
                self._writes.write(table.table, plan.partition, writes)
        except Exception:
            log.exception("%s: writes of partition %d not applied", table.name, plan.partition)
            return
        if writes and self._on_written is not None:
            self._on_written(table.name)
        if written is not None:
            self._last[(table.name, plan.partition)] = written


async def project_run(table: ProjectionTable, partition: int, run: Run, history: HistoryReader,
                      partials: WrittenPartials) -> None:
    """Apply a partition's run of events, each key written once. A failing event is logged,
    and the record's next event repairs it (its version gap is replayed from the event store).
    Nothing read before an await is written after it: a plan is written before each repair's
    read of the event store, and the next one starts after it."""
    if not any(table.projection.handles(event) for event, _ in run):
        return  # nothing to read or write (e.g. deals, for a run of account changes)
    plan = partials.plan(table, partition)
    for event, delivery in run:
        try:
            plan.apply(event, delivery)
            continue
        except VersionGap as gap:
            log.warning("%s: repairing from the event store", gap)
        except Exception:
            _log_not_applied(table, event)
            continue
        partials.write(table, plan)
        try:
            records = await history(event["aggregate_id"])
        except Exception:
            records = None
            _log_not_applied(table, event)
        plan = partials.plan(table, partition)
        if records is not None:
            try:
                plan.repair(records, event, delivery)
            except Exception:
                _log_not_applied(table, event)
    partials.write(table, plan)
    await asyncio.sleep(0)  # a table's work done: let a command batch's answered query go on


def _log_not_applied(table: ProjectionTable, event: Mapping[str, Any]) -> None:
    log.exception("%s: event %s of %s not applied", table.name, event.get("version"),
                  event.get("aggregate_id"))
