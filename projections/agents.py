"""The projection agent: a consumer of domain events, separate from the command agents, that
applies every event to every projection's table."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
import orjson
from faust.types import TP

from app.structured_logging import correlated
from projections.entry import VersionGap
from projections.projector import Delivery, plan, plan_repair
from projections.tables import ProjectionTable, ProjectionTables

log = logging.getLogger(__name__)

HistoryReader = Callable[[str], Awaitable[list[Mapping[str, Any]]]]


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
                              consumed: ConsumedOffsets) -> None:
    @app.agent(domain_events, name="project-domain-events")
    async def project_domain_events(stream: faust.StreamT) -> None:
        async for event in stream.events():
            message = event.message
            delivery = Delivery(message.partition, message.offset)
            try:
                domain_event = orjson.loads(event.value)
            except orjson.JSONDecodeError:
                log.error("skipping undecodable domain event at %s:%s", message.partition,
                          message.offset)
            else:
                metadata = domain_event.get("metadata") or {}
                with correlated([metadata.get("correlation_id") or ""]):
                    for table in tables.values():
                        await project_safely(table, domain_event, delivery, history)
            consumed.processed(message.partition, message.offset)


async def project_safely(table: ProjectionTable, event: Mapping[str, Any], delivery: Delivery,
                         history: HistoryReader) -> None:
    """Apply one event; a failure is logged, and the record's next event repairs it (its
    version gap is replayed from the event store)."""
    try:
        await project(table, event, delivery, history)
    except Exception:
        log.exception("%s: event %s of %s not applied", table.name, event.get("version"),
                      event.get("aggregate_id"))


async def project(table: ProjectionTable, event: Mapping[str, Any], delivery: Delivery,
                  history: HistoryReader) -> None:
    store = table.table
    try:
        writes = plan(table.projection, store.get, event, delivery)
    except VersionGap as gap:
        log.warning("%s: repairing from the event store", gap)
        records = await history(event["aggregate_id"])
        writes = plan_repair(table.projection, store.get, records, event, delivery)
    for key, value in writes:  # no await between reading and writing: one step of the loop
        store[key] = value
