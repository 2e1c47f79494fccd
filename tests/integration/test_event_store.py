"""The PostgreSQL event store against a real database: concurrency, idempotency, metadata,
snapshots, replay and global order."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from event_store_support import (
    append_request,
    history,
    new_id,
    snapshot_row_locked,
    wait_for_lock_waiters,
)

from app.db import create_pool
from app.event_store import AppendRequest, DuplicateSourceEvents, PostgresEventStore
from domain.aggregates import ClientAggregate
from domain.aggregates.record import replay
from domain.errors import ConcurrencyError


@pytest.fixture
def store(pool):
    return PostgresEventStore(pool, snapshot_every=100)


async def test_appended_events_load_back_as_the_aggregate(store):
    aggregate_id = new_id()
    stored = await store.append(aggregate_id, history(aggregate_id, 3), expected_version=0)

    client = await store.load("client", aggregate_id)

    assert [s.event.version for s in stored] == [1, 2, 3]
    assert client.version == 3 and client.exists
    assert client.fields == {"name": "Acme", "industry": "industry 3", "f2": 2, "f3": 3}


async def test_appending_at_a_stale_version_names_expected_and_actual_versions(store):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 2), expected_version=0)

    with pytest.raises(ConcurrencyError) as conflict:
        await store.append(aggregate_id, history(aggregate_id, 1, first_version=2), 1)

    assert (conflict.value.expected_version, conflict.value.actual_version) == (1, 2)
    assert f"aggregate {aggregate_id}: expected version 1, actual version 2" in str(conflict.value)
    assert len(await store.events_of(aggregate_id)) == 2


async def test_appending_ahead_of_the_stored_version_is_a_conflict_not_a_gap(store):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 2), expected_version=0)

    with pytest.raises(ConcurrencyError) as conflict:
        await store.append(aggregate_id, history(aggregate_id, 1, first_version=6), 5)

    assert (conflict.value.expected_version, conflict.value.actual_version) == (5, 2)


async def test_events_must_follow_the_expected_version_without_gaps(store):
    aggregate_id = new_id()
    events = history(aggregate_id, 3)
    with pytest.raises(ValueError, match=r"versions \[1, 2\]"):
        await store.append(aggregate_id, [events[0], events[2]], expected_version=0)


async def test_of_writers_racing_at_one_version_exactly_one_wins_each_round(store):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 1), expected_version=0)

    for version in range(1, 6):
        outcomes = await asyncio.gather(*(
            store.append(aggregate_id, history(aggregate_id, 1, first_version=version + 1),
                         expected_version=version)
            for _ in range(4)), return_exceptions=True)
        conflicts = [o for o in outcomes if isinstance(o, ConcurrencyError)]
        assert len(conflicts) == 3, outcomes
        assert all(c.actual_version == version + 1 for c in conflicts)

    assert [s.event.version for s in await store.events_of(aggregate_id)] == [1, 2, 3, 4, 5, 6]


async def test_a_source_event_already_processed_stores_nothing(store):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 1), 0, source_event_id="sf:e1")

    with pytest.raises(DuplicateSourceEvents) as duplicate:
        await store.append(aggregate_id, history(aggregate_id, 1, first_version=2), 1,
                           source_event_id="sf:e1")

    assert duplicate.value.source_event_ids == {"sf:e1"}
    assert await store.processed(["sf:e1", "sf:other"]) == {"sf:e1"}
    assert len(await store.events_of(aggregate_id)) == 1


async def test_a_failed_append_releases_its_source_event_claim(store):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 1), 0)
    with pytest.raises(ConcurrencyError):  # decided on a stale version 0: rolled back
        await store.append(aggregate_id, history(aggregate_id, 1), 0, source_event_id="sf:e2")

    assert await store.processed(["sf:e2"]) == set()
    await store.append(aggregate_id, history(aggregate_id, 1, first_version=2), 1,
                       source_event_id="sf:e2")
    assert await store.processed(["sf:e2"]) == {"sf:e2"}


async def test_two_concurrent_appends_of_one_source_event_store_it_once(store, pool,
                                                                         fresh_database):
    first, second = new_id(), new_id()
    await store.append_batch([append_request(first, 1, snapshot_at=1)])

    async with snapshot_row_locked(fresh_database, first):
        # Claims the source event, inserts its event, then waits on the locked snapshot row:
        # the claim is made but not committed.
        holding = asyncio.create_task(store.append_batch(
            [append_request(first, 1, first_version=2, source="sf:same", snapshot_at=2)]))
        await wait_for_lock_waiters(pool, 1)
        racing = asyncio.create_task(store.append_batch(
            [append_request(second, 1, source="sf:same")]))
        await wait_for_lock_waiters(pool, 2)  # the second claim waits for the first to decide
    await holding

    with pytest.raises(DuplicateSourceEvents):
        await racing
    assert [s.event.version for s in await store.events_of(first)] == [1, 2]
    assert await store.events_of(second) == []


async def test_events_carry_correlation_causation_and_global_position(store):
    one, two = new_id(), new_id()
    stored = []
    for version in (1, 2):
        for aggregate_id, correlation in ((one, "corr-one"), (two, "corr-two")):
            event = history(aggregate_id, 1, first_version=version,
                            correlation_id=correlation)[0]
            stored += await store.append(aggregate_id, [event], version - 1)

    positions = [s.position for s in stored]
    assert positions == sorted(positions) and len(set(positions)) == 4
    reloaded = await store.events_of(one)
    assert [s.position for s in reloaded] == [positions[0], positions[2]]
    metadata = reloaded[1].event.metadata
    assert metadata.correlation_id == "corr-one"
    assert metadata.causation_id == f"salesforce:{one}:2" == metadata.source_event_id
    assert reloaded[1].recorded_at >= reloaded[0].recorded_at
    assert reloaded[1].to_message()["position"] == positions[2]


async def test_snapshot_plus_later_events_equals_a_full_replay(store, pool):
    aggregate_id = new_id()
    aggregate = ClientAggregate(aggregate_id)
    events = history(aggregate_id, 250)
    for start in range(0, 250, 25):
        requested = AppendRequest(aggregate_id, "client", aggregate.version,
                                  events[start:start + 25])
        before = aggregate.version
        replay(aggregate, requested.events)
        if store.snapshot_due(before, aggregate.version):
            requested.snapshot = aggregate.snapshot()
        await store.append_batch([requested])

    snapshot_version = await pool.fetchval(
        "SELECT version FROM snapshots WHERE aggregate_id = $1", aggregate_id)
    loaded = await store.load("client", aggregate_id)
    every_event = [s.event for s in await store.events_of(aggregate_id)]
    full = replay(ClientAggregate(aggregate_id), every_event)

    assert snapshot_version == 200
    assert loaded.version == full.version == 250
    assert loaded.snapshot() == full.snapshot()


async def test_loading_starts_from_the_snapshot(store, pool):
    aggregate_id = new_id()
    events = history(aggregate_id, 5)
    aggregate = replay(ClientAggregate(aggregate_id), events[:3])
    await store.append_batch([
        AppendRequest(aggregate_id, "client", 0, events[:3], snapshot=aggregate.snapshot())])
    await store.append(aggregate_id, events[3:], expected_version=3)
    await pool.execute("UPDATE snapshots SET state = jsonb_set(state, '{fields,name}', "
                       "'\"from the snapshot\"') WHERE aggregate_id = $1", aggregate_id)

    loaded = await store.load("client", aggregate_id)

    assert loaded.fields["name"] == "from the snapshot"  # events 1-3 were not replayed
    assert loaded.fields["industry"] == "industry 5" and loaded.version == 5


async def test_read_all_streams_every_event_in_global_order_from_any_position(store):
    ids = [new_id() for _ in range(3)]
    for version in range(1, 11):
        for aggregate_id in ids:
            await store.append(aggregate_id, history(aggregate_id, 1, first_version=version),
                               version - 1)

    everything = [s async for s in store.read_all(page_size=7)]
    positions = [s.position for s in everything]
    middle = positions[13]
    rest = [s async for s in store.read_all(middle, page_size=7)]

    assert len(everything) == 30 and positions == sorted(positions)
    assert [s.position for s in rest] == positions[14:]
    assert [s.event.version for s in everything if s.event.aggregate_id == ids[1]] == list(
        range(1, 11))


async def test_a_batch_stores_each_event_as_given_numbered_in_the_batchs_order(store):
    """The batch's data and metadata go as one JSON array each: every event must get its own,
    and positions must follow the order of the batch (each aggregate's versions)."""
    ids = [new_id() for _ in range(3)]
    requests = [append_request(aggregate_id, 40) for aggregate_id in ids]
    given = [event for request in requests for event in request.events]

    stored = await store.append_batch(requests)
    read = [s async for s in store.read_all()]

    assert [s.event.event_id for s in stored] == [e.event_id for e in given]
    assert [s.position for s in stored] == sorted(s.position for s in stored)
    assert [(s.event.event_id, s.position) for s in read] == [
        (s.event.event_id, s.position) for s in stored]
    assert [(s.event.data, s.event.metadata) for s in read] == [
        (dict(e.data), e.metadata) for e in given]


async def test_an_append_answers_the_stored_position_and_recorded_at_in_any_time_zone(
        fresh_database):
    """The append's answer comes back as one JSON value (`app.event_store_queries`): each
    event's position and recorded_at must be those stored, to the microsecond and in UTC, also
    for a session whose time zone is not UTC (JSON writes a timestamp in it)."""
    separator = "&" if "?" in fresh_database else "?"
    pool = await create_pool(f"{fresh_database}{separator}timezone=Asia/Kolkata", min_size=1)
    try:
        store = PostgresEventStore(pool)
        stored = await store.append_batch([append_request(new_id(), 3),
                                           append_request(new_id(), 2)])
        async with pool.acquire() as connection:
            rows = await connection.fetch("SELECT event_id::text, position, recorded_at, "
                                          "current_setting('TimeZone') AS zone FROM events")
    finally:
        await pool.close()

    assert {row["zone"] for row in rows} == {"Asia/Kolkata"}
    assert {s.event.event_id: (s.position, s.recorded_at) for s in stored} == {
        row["event_id"]: (row["position"], row["recorded_at"]) for row in rows}
    assert {s.recorded_at.utcoffset() for s in stored} == {timedelta(0)}


async def test_a_batch_append_and_a_batch_load_each_take_one_connection(pool):
    counting = CountingPool(pool)
    store = PostgresEventStore(counting)
    requests = [append_request(new_id(), 5) for _ in range(20)]

    await store.append_batch(requests)
    appended_with = counting.acquired
    loaded = await store.load_many({r.aggregate_id: "client" for r in requests})

    assert appended_with == 1 and counting.acquired == 2
    assert {a.version for a in loaded.values()} == {5}


class CountingPool:
    def __init__(self, pool):
        self.pool = pool
        self.acquired = 0

    def acquire(self):
        self.acquired += 1
        return self.pool.acquire()

    def __getattr__(self, name):
        return getattr(self.pool, name)
