"""Rebuilding from PostgreSQL: the feed is the event store's own message form, and folding it
gives what the live agent builds from the domain-events topic (duplicates and all)."""

from __future__ import annotations

import random
import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from app.db import create_pool
from app.event_store import AppendRequest, PostgresEventStore
from domain.events import Created, Deleted, EventMetadata, Updated
from projections import event_feed, generations
from projections.catalog import projections
from projections.entry import VersionGap
from projections.projector import Delivery, is_record_key, plan, plan_repair
from projections.rebuild import fold, partition_for
from projections.totals import rows, sum_totals

PARTITIONS = 4
START = datetime(2026, 1, 1, tzinfo=UTC)


def history(rng: random.Random, aggregate_type: str, updates: int) -> list:
    aggregate_id = str(uuid.uuid4())

    def meta(version: int, broadcast: bool = True) -> EventMetadata:
        return EventMetadata("corr", f"src-{aggregate_id}-{version}", "salesforce",
                             f"ext-{aggregate_id[:8]}", f"src-{aggregate_id}-{version}", "tx",
                             version, 1_763_700_000_000 + version, "test", broadcast)

    def fields() -> dict:
        return ({"status": rng.choice(["Active", "Prospect"]),
                 "industry": rng.choice(["Tech", "Retail"])} if aggregate_type == "client"
                else {"stage": rng.choice(["Open", "Won"]), "amount": rng.randint(1, 999) / 4})

    events = [Created(aggregate_id=aggregate_id, aggregate_type=aggregate_type, version=1,
                      occurred_at=START, data={"name": "n", **fields()}, metadata=meta(1))]
    for version in range(2, updates + 2):
        kind = Deleted if rng.random() < 0.1 else Updated
        events.append(kind(aggregate_id=aggregate_id, aggregate_type=aggregate_type,
                           version=version, occurred_at=START + timedelta(seconds=version),
                           data=fields(), metadata=meta(version, rng.random() < 0.8)))
    return events


async def seed(pool, records: int = 60) -> PostgresEventStore:
    rng = random.Random(11)
    store = PostgresEventStore(pool)
    requests = [AppendRequest(events[0].aggregate_id, events[0].aggregate_type, 0, events)
                for events in (history(rng, rng.choice(["client", "deal"]), rng.randint(0, 5))
                               for _ in range(records))]
    await store.append_batch(requests)
    return store


async def test_the_feed_yields_what_the_event_store_publishes(pool):
    store = await seed(pool)

    fed = [message async for message in event_feed.messages_after(pool, 0, page_size=7)]

    assert fed == [stored.to_message() async for stored in store.read_all(0)]
    deals = [m async for m in event_feed.messages_after(pool, 0, aggregate_types={"deal"})]
    assert deals == [m for m in fed if m["aggregate_type"] == "deal"]


async def test_the_feed_writes_times_as_the_event_store_in_any_session_time_zone(
        fresh_database):
    """The feed writes its times in SQL (`event_feed.ISOFORMAT_IN_UTC`): the same text as
    `isoformat()` in UTC, with or without microseconds, whatever the session's time zone."""
    separator = "&" if "?" in fresh_database else "?"
    pool = await create_pool(f"{fresh_database}{separator}timezone=America/St_Johns",
                             min_size=1)
    try:
        store = PostgresEventStore(pool)
        rng = random.Random(5)
        events = history(rng, "client", 3)
        times = [START, START + timedelta(microseconds=1), START + timedelta(milliseconds=500),
                 START + timedelta(days=200, seconds=1, microseconds=999_999)]
        events = [replace(event, occurred_at=at) for event, at in zip(events, times, strict=True)]
        await store.append_batch([AppendRequest(events[0].aggregate_id, "client", 0, events)])

        fed = [message async for message in event_feed.messages_after(pool, 0)]
        published = [stored.to_message() async for stored in store.read_all(0)]
    finally:
        await pool.close()

    assert [m["occurred_at"] for m in fed] == [at.isoformat() for at in times] == [
        "2026-01-01T00:00:00+00:00", "2026-01-01T00:00:00.000001+00:00",
        "2026-01-01T00:00:00.500000+00:00", "2026-07-20T00:00:01.999999+00:00"]
    assert fed == published


async def test_a_rebuilt_table_equals_the_live_one_fed_duplicates_out_of_order(pool):
    store = await seed(pool)
    published = [stored.to_message() async for stored in store.read_all(0)]
    by_aggregate: dict[str, list] = {}
    for message in published:
        by_aggregate.setdefault(message["aggregate_id"], []).append(message)
    rng = random.Random(5)
    delivered = published + rng.sample(published, len(published) // 3)
    rng.shuffle(delivered)

    for name in ("clients", "deals"):  # records, and the totals of the aggregate views
        projection = projections()[name]
        live: dict = {}
        for offset, message in enumerate(delivered):
            delivery = Delivery(partition_for(message["aggregate_id"], PARTITIONS), offset)
            try:
                writes = plan(projection, live.get, message, delivery)
            except VersionGap:
                writes = plan_repair(projection, live.get, by_aggregate[message["aggregate_id"]],
                                     message, delivery)
            for key, value in writes:
                live[key] = value

        rebuilt, events, last = await fold(projection, pool, PARTITIONS)

        assert events == sum(m["aggregate_type"] in projection.aggregate_types
                             for m in published)
        assert last == max(m["position"] for m in published
                           if m["aggregate_type"] in projection.aggregate_types)
        assert records(rebuilt) == records(live)
        for dimension in set(projection.views.values()):
            assert totals(rebuilt, dimension) == totals(live, dimension)
            assert totals(rebuilt, dimension), f"{name}: no {dimension} rows to compare"


async def test_generations_start_at_one_and_the_newest_built_one_wins(pool):
    assert (await generations.current(pool, ["clients"]))["clients"].number == 1

    await generations.record_built(pool, "clients", 2, built_through=10, events=10)
    await generations.record_built(pool, "clients", 3, built_through=20, events=20)
    newest = (await generations.current(pool, ["clients", "deals"]))

    assert (newest["clients"].number, newest["clients"].built_through) == (3, 20)
    assert newest["clients"].needs_catch_up and newest["deals"].number == 1
    await generations.mark_live(pool, "clients", 3)
    assert not (await generations.current(pool, ["clients"]))["clients"].needs_catch_up


def records(table: dict) -> dict:
    return {key: value for key, value in table.items() if is_record_key(key)}


def totals(table: dict, dimension: str) -> list:
    return rows(sum_totals(v["totals"] for k, v in table.items()
                           if k.startswith("~partition/")), dimension)
