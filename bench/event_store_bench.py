"""Our PostgreSQL event store: appends, commands (load, decide, append) and loads with snapshots.

Commands use the real command path's pieces: `load_many` (snapshot plus later events, no cache),
`services.record_change`, then an append at the expected version claiming the source event.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
import uuid
from datetime import UTC, datetime

import asyncpg

from app.db import create_pool
from app.event_store import AppendRequest, PostgresEventStore
from app.migrate import migrate
from bench.figures import Figure, median, rate
from bench.postgres_server import new_database
from domain import services
from domain.aggregates import ClientAggregate, CRMRecordAggregate
from domain.changes import ChangeKind, ChangePosition, RecordChange
from domain.events import DomainEvent

REPEATS = 3
SINGLE_APPENDS = 1500
CONCURRENT_WRITERS = 16
COMMANDS = 1000
COMMAND_BATCH = 100
BATCH_CALLS, AGGREGATES_PER_CALL, EVENTS_PER_AGGREGATE = 20, 100, 10
LONG_HISTORY, SHORT_HISTORY, LOADS = 10_000, 10, 200
BASE_MS = 1_763_700_000_000
_TICKS = itertools.count(1)


def run(server_dsn: str) -> list[Figure]:
    with new_database(server_dsn, "bench_ours") as dsn:
        return asyncio.run(_run(dsn))


async def _run(dsn: str) -> list[Figure]:
    connection = await asyncpg.connect(dsn)
    await migrate(connection)
    await connection.close()
    pool = await create_pool(dsn, min_size=2, max_size=CONCURRENT_WRITERS)
    store = PostgresEventStore(pool, snapshot_every=100)
    measurements = [
        lambda: single_appends(store),
        lambda: concurrent_single_appends(store),
        lambda: commands_one_at_a_time(store),
        lambda: commands_batched(store),
        lambda: commands_batched(store, cached=True),
        lambda: batched_appends(store),
    ]
    try:
        figures = [median([await measure() for _ in range(REPEATS)]) for measure in measurements]
        return figures + await load_times(store)
    finally:
        await pool.close()


async def single_appends(store: PostgresEventStore) -> Figure:
    aggregates = await created_aggregates(store, 100)
    plans = planned_updates(aggregates, SINGLE_APPENDS)
    started = time.perf_counter()
    for aggregate_id, events in plans:
        await store.append(aggregate_id, events, events[0].version - 1)
    return rate("ours.single_appends", "ours (a) single-event appends, 1 writer",
                SINGLE_APPENDS, time.perf_counter() - started, note="one transaction each")


async def concurrent_single_appends(store: PostgresEventStore) -> Figure:
    aggregates = await created_aggregates(store, CONCURRENT_WRITERS * 8)
    writers = [planned_updates(aggregates[i::CONCURRENT_WRITERS], SINGLE_APPENDS // 4)
               for i in range(CONCURRENT_WRITERS)]

    async def write(plans: list[tuple[str, list[DomainEvent]]]) -> None:
        for aggregate_id, events in plans:
            await store.append(aggregate_id, events, events[0].version - 1)

    started = time.perf_counter()
    await asyncio.gather(*(write(plans) for plans in writers))
    return rate("ours.single_appends_concurrent",
                f"ours (a) single-event appends, {CONCURRENT_WRITERS} writers",
                sum(len(p) for p in writers), time.perf_counter() - started,
                note="commits share fsyncs")


async def commands_one_at_a_time(store: PostgresEventStore) -> Figure:
    ids = [a.id for a in await created_aggregates(store, 100, history=10)]
    started = time.perf_counter()
    for n in range(COMMANDS):
        aggregate = await store.load("client", ids[n % len(ids)])
        events = services.record_change(aggregate, update(aggregate.id, n))
        await store.append(aggregate.id, events, aggregate.version - len(events),
                           source_event_id=f"one:{aggregate.id}:{n}")
    return rate("ours.commands_one_at_a_time", "ours (b) load+decide+append, one at a time",
                COMMANDS, time.perf_counter() - started, "commands/s", "no cache")


async def commands_batched(store: PostgresEventStore, *, cached: bool = False) -> Figure:
    ids = [a.id for a in await created_aggregates(store, 1000, history=10)]
    memory: dict[str, CRMRecordAggregate] = {}
    started = time.perf_counter()
    for first in range(0, COMMANDS * 5, COMMAND_BATCH):
        batch = {ids[(first + i) % len(ids)]: first + i for i in range(COMMAND_BATCH)}
        missing = {aid: "client" for aid in batch if aid not in memory}
        aggregates = {**memory, **await store.load_many(missing)} if missing else memory
        requests = []
        for aggregate_id, n in batch.items():
            aggregate = aggregates[aggregate_id]
            before = aggregate.version
            events = services.record_change(aggregate, update(aggregate_id, n))
            requests.append(AppendRequest(aggregate_id, "client", before, events,
                                          [f"batch:{aggregate_id}:{n}"]))
            if store.snapshot_due(before, aggregate.version):
                requests[-1].snapshot = aggregate.snapshot()
        await store.append_batch(requests)
        if cached:
            memory.update(aggregates)
    key, label, note = (("ours.commands_batched_cached", "ours (b) commands, batches of 100, "
                         "aggregate cache", "loads only on a cache miss") if cached else
                        ("ours.commands_batched", "ours (b) load+decide+append, batches of 100",
                         "the command handler's path; no cache"))
    return rate(key, label, COMMANDS * 5, time.perf_counter() - started, "commands/s", note)


async def batched_appends(store: PostgresEventStore) -> Figure:
    calls = []
    for _ in range(BATCH_CALLS):
        requests = []
        for _ in range(AGGREGATES_PER_CALL):
            aggregate = ClientAggregate(str(uuid.uuid4()))
            requests.append(AppendRequest(aggregate.id, "client", 0,
                                          decided_history(aggregate, EVENTS_PER_AGGREGATE)))
        calls.append(requests)
    started = time.perf_counter()
    for requests in calls:
        await store.append_batch(requests)
    return rate("ours.batched_appends", f"ours (c) batched appends, "
                f"{AGGREGATES_PER_CALL * EVENTS_PER_AGGREGATE} events per call",
                BATCH_CALLS * AGGREGATES_PER_CALL * EVENTS_PER_AGGREGATE,
                time.perf_counter() - started)


async def load_times(store: PostgresEventStore) -> list[Figure]:
    [long] = await created_aggregates(store, 1, history=LONG_HISTORY)
    [short] = await created_aggregates(store, 1, history=SHORT_HISTORY)
    long_ms, short_ms = await median_load_ms(store, long.id), await median_load_ms(store, short.id)
    return [
        Figure("ours.load_ms_10000_events", "ours load, 10,000 events of history", long_ms, "ms",
               "median; latest snapshot + later events"),
        Figure("ours.load_ms_10_events", "ours load, 10 events of history", short_ms, "ms",
               "median"),
        Figure("ours.load_ratio_10000_vs_10", "load time 10,000 vs 10 events (target <= 2x)",
               long_ms / short_ms, "x"),
    ]


async def median_load_ms(store: PostgresEventStore, aggregate_id: str) -> float:
    timings = []
    for _ in range(LOADS):
        started = time.perf_counter()
        await store.load("client", aggregate_id)
        timings.append(time.perf_counter() - started)
    return statistics.median(timings) * 1000


# -- building histories ------------------------------------------------------------------------

async def created_aggregates(store: PostgresEventStore, count: int, *, history: int = 1
                             ) -> list[ClientAggregate]:
    """New aggregates with `history` events each, stored with snapshots as the handler takes."""
    aggregates = [ClientAggregate(str(uuid.uuid4())) for _ in range(count)]
    for aggregate in aggregates:
        for start in range(0, history, 1000):
            before = aggregate.version
            events = decided_history(aggregate, min(1000, history - start))
            request = AppendRequest(aggregate.id, "client", before, events)
            if store.snapshot_due(before, aggregate.version):
                request.snapshot = aggregate.snapshot()
            await store.append_batch([request])
    return aggregates


def decided_history(aggregate: CRMRecordAggregate, count: int) -> list[DomainEvent]:
    """`count` more events for the aggregate, decided by the domain (created first)."""
    events: list[DomainEvent] = []
    for n in range(aggregate.version, aggregate.version + count):
        change = update(aggregate.id, n) if aggregate.exists else creation(aggregate.id)
        events += services.record_change(aggregate, change)
    return events


def planned_updates(aggregates: list[ClientAggregate], count: int
                    ) -> list[tuple[str, list[DomainEvent]]]:
    """One single-event append per item, round robin over the aggregates, decided up front."""
    plans = []
    for n in range(count):
        aggregate = aggregates[n % len(aggregates)]
        plans.append((aggregate.id, decided_history(aggregate, 1)))
    return plans


def creation(aggregate_id: str) -> RecordChange:
    return _change(ChangeKind.CREATE, aggregate_id, 0, {"name": "Acme", "status": "Active"})


def update(aggregate_id: str, n: int) -> RecordChange:
    return _change(ChangeKind.UPDATE, aggregate_id, n, {"employees": n, "industry": f"i{n}"})


def _change(kind: ChangeKind, aggregate_id: str, n: int, fields: dict) -> RecordChange:
    tick = next(_TICKS)  # every change is later than every earlier one
    return RecordChange(
        kind=kind, aggregate_type="client", provider="salesforce", entity="Account",
        external_id=aggregate_id, source_event_id=f"bench:{aggregate_id}:{tick}",
        position=ChangePosition(BASE_MS + tick, "tx", 1), occurred_at=datetime.now(UTC),
        fields=fields, correlation_id="bench")
