"""A privacy deletion in the PostgreSQL event store: the record's earlier events lose their data
in the erasure's own transaction, its snapshots go, and nothing else changes."""

from __future__ import annotations

from dataclasses import replace

import pytest
from event_store_support import append_request, history, metadata, new_id

from app.event_store import AppendRequest, PostgresEventStore
from domain.aggregates import ClientAggregate
from domain.aggregates.record import replay
from domain.events import Erased


@pytest.fixture
def store(pool):
    return PostgresEventStore(pool, snapshot_every=100)


def erasure(aggregate_id: str, version: int) -> Erased:
    before = history(aggregate_id, 1, first_version=version)[0]
    return Erased(aggregate_id=aggregate_id, aggregate_type="client", version=version,
                  occurred_at=before.occurred_at, data={}, metadata=metadata(version))


async def stored_data(pool, aggregate_id: str) -> list[dict]:
    rows = await pool.fetch("SELECT data FROM events WHERE aggregate_id = $1 ORDER BY version",
                            aggregate_id)
    return [row["data"] for row in rows]


async def test_an_erasure_empties_every_earlier_event_and_drops_the_snapshot(store, pool):
    erased, kept = new_id(), new_id()
    aggregate = replay(ClientAggregate(erased), history(erased, 120))
    await store.append_batch([append_request(erased, 120, snapshot_at=120)])
    await store.append_batch([append_request(kept, 120, snapshot_at=120)])

    [stored] = await store.append(erased, [erasure(erased, 121)], expected_version=120)

    assert stored.event.data == {} and stored.position > 0
    assert await stored_data(pool, erased) == [{}] * 121
    assert await pool.fetchval("SELECT count(*) FROM snapshots WHERE aggregate_id = $1",
                               erased) == 0
    assert await stored_data(pool, kept) == [e.data for e in history(kept, 120)]
    assert await pool.fetchval("SELECT count(*) FROM snapshots WHERE aggregate_id = $1",
                               kept) == 1
    loaded = await store.load("client", erased)
    aggregate.apply(stored.event)
    assert loaded.snapshot() == aggregate.snapshot()
    assert loaded.deleted and loaded.fields == {} and loaded.version == 121


async def test_events_erased_in_their_own_batch_are_stored_and_published_without_values(
        store, pool):
    aggregate_id = new_id()
    events = [*history(aggregate_id, 3), erasure(aggregate_id, 4)]

    stored = await store.append_batch([AppendRequest(aggregate_id, "client", 0, events)])

    assert [s.event.data for s in stored] == [{}, {}, {}, {}]  # what the publisher sends
    assert [s.event.event_id for s in stored] == [e.event_id for e in events]
    assert await stored_data(pool, aggregate_id) == [{}, {}, {}, {}]
    assert [s.event.data for s in await store.unpublished()] == [{}, {}, {}, {}]


async def test_a_snapshot_due_with_the_erasure_is_of_the_erased_record(store, pool):
    aggregate_id = new_id()
    await store.append(aggregate_id, history(aggregate_id, 99), expected_version=0)
    aggregate = replay(ClientAggregate(aggregate_id), history(aggregate_id, 99))
    erased = erasure(aggregate_id, 100)
    aggregate.apply(erased)

    await store.append_batch([AppendRequest(aggregate_id, "client", 99, [erased],
                                            snapshot=aggregate.snapshot())])

    state = await pool.fetchval("SELECT state FROM snapshots WHERE aggregate_id = $1",
                                aggregate_id)
    assert state["version"] == 100 and state["fields"] == {} and state["deleted"] is True
    assert (await store.load("client", aggregate_id)).snapshot() == aggregate.snapshot()


async def test_events_after_an_erasure_keep_their_values(store, pool):
    aggregate_id = new_id()
    restored = replace(history(aggregate_id, 1, first_version=3)[0], data={"name": "Back"})
    await store.append_batch([AppendRequest(aggregate_id, "client", 0, [
        *history(aggregate_id, 1), erasure(aggregate_id, 2), restored])])

    assert await stored_data(pool, aggregate_id) == [{}, {}, {"name": "Back"}]
