"""Prometheus metrics of the service, defined once; call sites only increment or observe.

Lags are not counted as they happen but read when Prometheus scrapes (`LagGauges`): a gauge set
per partition would keep reporting partitions a rebalance moved to another worker.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping

from prometheus_client import REGISTRY, Counter, Histogram
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from app.dead_letters import STAGES

OUTCOMES = ("recorded", "duplicate", "failed")

BRIDGE_EVENTS = Counter(
    "crm_bridge_events_received",
    "Provider events POSTed to the bridge, by provider and HTTP status answered "
    "(202 = acked by the broker)",
    ["provider", "status"],
)
COMMANDS_PROCESSED = Counter(
    "crm_commands_processed",
    "Commands (one per source event and record) handled by the command agent, by outcome: "
    "recorded, duplicate (already processed) or failed (dead-lettered)",
    ["provider", "outcome"],
)
COMMANDS_FAILED = Counter(
    "crm_commands_failed",
    "Inbound messages or commands that failed, by stage (decode, validation, domain, crm, "
    "resync, unexpected); each one is also a dead letter",
    ["provider", "stage"],
)
COMMAND_BATCH_ERRORS = Counter(
    "crm_command_batch_errors",
    "Command batches that raised and were retried, by exception type",
    ["reason"],
)
DEAD_LETTERS = Counter(
    "crm_dead_letters",
    "Records sent to the dead-letter topic (acked by the broker), by stage",
    ["stage"],
)
APPEND_LATENCY = Histogram(
    "crm_event_store_append_seconds",
    "Time to append one batch of events to the event store (one transaction, retries included)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0),
)
OFFSETS_SKIPPED = Counter(
    "crm_consumer_offsets_skipped",
    "Offsets skipped between two deliveries of a partition, which Faust counts as done: on the "
    "service's topics (no compaction, no transactions) records fetched and never processed",
    ["topic"],
)
PUBLISH_FAILURES = Counter(
    "crm_publish_failures",
    "Publications of committed events that failed (the events stay in the outbox for the "
    "relay), by path: a command batch's own, or the outbox relay's",
    ["path"],
)
PROJECTION_CHANGELOG_FAILURES = Counter(
    "crm_projection_changelog_failures",
    "Sends of a projection batch's table changelog that failed and are retried (the batch's "
    "domain events stay unacknowledged meanwhile, and the projection waits)",
)
PROJECTION_EVENTS_SKIPPED = Counter(
    "crm_projection_events_skipped",
    "Records on the domain-events topic the projections cannot read (not a JSON object with an "
    "aggregate id, type, event type, version and metadata): skipped, not the service's",
)
CONCURRENCY_CONFLICTS = Counter(
    "crm_concurrency_conflicts",
    "Appends refused because an aggregate was not at the expected version (then reloaded)",
)


def start_at_zero(providers: Iterable[str], topics: Iterable[str] = ()) -> None:
    """Export the counters' known series at 0 from the start: Prometheus' `increase()` and
    `rate()` miss a series' first jump from absent to 1, so an alert on "anything above 0"
    would miss the first failure of every new process."""
    for provider in providers:
        BRIDGE_EVENTS.labels(provider, "202")
        for outcome in OUTCOMES:
            COMMANDS_PROCESSED.labels(provider, outcome)
        for stage in STAGES:
            COMMANDS_FAILED.labels(provider, stage)
    for stage in STAGES:
        DEAD_LETTERS.labels(stage)
    for path in ("batch", "relay"):
        PUBLISH_FAILURES.labels(path)
    for topic in topics:
        OFFSETS_SKIPPED.labels(topic)


# One lag reading per label set: {("topic", "partition"): events behind}
LagReading = Callable[[], Mapping[tuple[str, str], int]]


class LagGauges(Collector):
    """Consumer and projection lag, read from the running worker at scrape time."""

    def __init__(self) -> None:
        self.consumer_lag: LagReading = dict
        self.projection_lag: LagReading = dict

    def watch(self, consumer_lag: LagReading, projection_lag: LagReading) -> None:
        self.consumer_lag, self.projection_lag = consumer_lag, projection_lag

    def collect(self) -> Iterable[GaugeMetricFamily]:
        consumer = GaugeMetricFamily(
            "crm_consumer_lag",
            "Messages on a partition this worker owns that are not yet processed and committed",
            labels=["topic", "partition"])
        for (topic, partition), lag in sorted(self.consumer_lag().items()):
            consumer.add_metric([topic, partition], lag)
        projection = GaugeMetricFamily(
            "crm_projection_lag_events",
            "Domain events on a partition this worker owns not yet applied to the read models",
            labels=["topic", "partition"])
        for (topic, partition), lag in sorted(self.projection_lag().items()):
            projection.add_metric([topic, partition], lag)
        yield consumer
        yield projection


LAGS = LagGauges()
REGISTRY.register(LAGS)


def count_commands(provider: str, *, recorded: int, duplicates: int,
                   failed_stages: Iterable[str]) -> None:
    failed = 0
    for stage in failed_stages:
        COMMANDS_FAILED.labels(provider, stage).inc()
        failed += 1
    for outcome, count in zip(OUTCOMES, (recorded, duplicates, failed), strict=True):
        if count:
            COMMANDS_PROCESSED.labels(provider, outcome).inc(count)
