"""The command handler with the real PostgreSQL event store and identity map, and in-memory
stand-ins for the Kafka sides (publisher, dead letters)."""

from __future__ import annotations

import asyncio
import logging

import orjson
import pytest
from aiokafka.errors import KafkaTimeoutError
from event_store_support import (
    account_message,
    history,
    new_id,
    snapshot_row_locked,
    wait_for_lock_waiters,
)
from prometheus_client import REGISTRY

from app.aggregate_cache import AggregateCache
from app.command_handler import CommandHandler, Provider
from app.dead_letters import InboundMessage
from app.event_store import AppendRequest, PostgresEventStore
from app.identity_map import PostgresIdentityMap
from domain.aggregates import ClientAggregate, replay
from domain.errors import ConcurrencyError
from domain.providers import salesforce


class RecordingPublisher:
    def __init__(self):
        self.published = []

    async def publish(self, events):
        self.published += events

    def versions(self):
        return [stored.event.version for stored in self.published]


class RecordingDeadLetters:
    def __init__(self):
        self.letters = []

    async def send(self, dead_letters):
        self.letters += dead_letters


def make_handler(pool, *, max_retries=5, snapshot_every=100) -> CommandHandler:
    provider = Provider(salesforce.SalesforceAdapter(), salesforce.commands_from_envelope)
    return CommandHandler(
        providers={"salesforce": provider},
        store=PostgresEventStore(pool, snapshot_every=snapshot_every),
        identities=PostgresIdentityMap(pool),
        publisher=RecordingPublisher(),
        dead_letters=RecordingDeadLetters(),
        cache=AggregateCache(100),
        max_retries=max_retries,
    )


async def events_of_record(handler, record_id="001Hs00003FqYbKIAV"):
    ids = await handler.identities.aggregate_ids([("salesforce", "Account", record_id)])
    return await handler.store.events_of(ids[("salesforce", "Account", record_id)])


async def outbox_size(pool) -> int:
    return await pool.fetchval("SELECT count(*) FROM outbox")


async def test_changes_are_stored_published_in_order_and_cleared_from_the_outbox(pool):
    handler = make_handler(pool)

    result = await handler.handle([account_message("create", 1, correlation_id="corr-7"),
                                   account_message("update", 2, correlation_id="corr-7")])

    stored = await events_of_record(handler)
    assert [s.event.event_type for s in stored] == ["Created", "Updated"]
    assert handler.publisher.versions() == [1, 2]
    assert [s.position for s in result.stored] == [s.position for s in stored]
    assert {s.event.metadata.correlation_id for s in stored} == {"corr-7"}
    assert await outbox_size(pool) == 0 and handler.dead_letters.letters == []


def held_until(released: asyncio.Event, call):
    """`call`, made to wait for `released` first (a slow broker, a slow database)."""
    async def held(*args):
        await released.wait()
        return await call(*args)

    return held


async def test_the_agents_publication_runs_behind_its_next_batch_one_at_a_time(pool):
    """The batch returns once its events are committed; the next batch's publication waits for
    it (each aggregate's order on the topic), and its outbox rows are not taken for leftovers."""
    handler = make_handler(pool)
    broker_acknowledges = asyncio.Event()
    handler.publisher.publish = held_until(broker_acknowledges, handler.publisher.publish)
    first = await handler.handle([account_message("create", 1)], wait_for_publication=False)
    assert len(first.stored) == 1 and handler.publisher.versions() == []
    assert await outbox_size(pool) == 1  # committed: the outbox has it whatever happens next
    second = asyncio.create_task(
        handler.handle([account_message("update", 2)], wait_for_publication=False))
    await asyncio.sleep(0.1)
    assert not second.done()  # recorded, waiting for the first publication before its own

    broker_acknowledges.set()
    await asyncio.wait_for(second, 5)
    await handler.publication_done()
    assert await handler.relay_outbox(older_than_s=0) == 0
    assert handler.publisher.versions() == [1, 2]
    assert await outbox_size(pool) == 0


async def test_a_stop_gives_up_a_publication_the_broker_never_acknowledges(pool):
    """A broker outage must not hold the shutdown; the outbox keeps the events for the relay."""
    handler = make_handler(pool)
    send = handler.publisher.publish
    handler.publisher.publish = held_until(asyncio.Event(), send)  # never acknowledged
    await handler.handle([account_message("create", 1)], wait_for_publication=False)

    await asyncio.wait_for(handler.stop_publishing(timeout=0.1), 5)

    assert await outbox_size(pool) == 1
    handler.publisher.publish = send  # the broker is back at the next start
    assert await handler.relay_outbox(older_than_s=0) == 1
    assert handler.publisher.versions() == [1] and await outbox_size(pool) == 0


async def test_every_waiter_waits_for_the_publication_and_none_cancels_it(pool):
    handler = make_handler(pool)
    release = asyncio.Event()
    handler.store.mark_published = held_until(release, handler.store.mark_published)
    await handler.handle([account_message("create", 1)], wait_for_publication=False)
    relay, stop = (asyncio.create_task(handler.publication_done()) for _ in range(2))
    await asyncio.sleep(0.05)
    assert not relay.done() and not stop.done()
    relay.cancel()  # e.g. the relay timer stopping
    await asyncio.sleep(0.05)
    assert not stop.done()

    release.set()
    await asyncio.wait_for(stop, 5)
    assert await outbox_size(pool) == 0


def commands_counted(outcome: str) -> float:
    return REGISTRY.get_sample_value(
        "crm_commands_processed_total", {"provider": "salesforce", "outcome": outcome}) or 0.0


async def test_a_dead_letters_command_is_counted_before_waiting_for_the_last_publication(pool):
    """A scrape must never see a dead letter whose failed command is not counted yet, even while
    the previous batch's publication holds the next batch (a broker slow to acknowledge)."""
    handler = make_handler(pool)
    broker_acknowledges = asyncio.Event()
    handler.publisher.publish = held_until(broker_acknowledges, handler.publisher.publish)
    await handler.handle([account_message("create", 1)], wait_for_publication=False)
    failed_before = commands_counted("failed")

    undecodable = InboundMessage(provider="salesforce", value=b"{not json", key="k", headers={})
    second = asyncio.create_task(handler.handle([undecodable], wait_for_publication=False))
    await asyncio.sleep(0.1)
    assert not second.done()  # waiting for the first batch's publication
    assert [letter.stage for letter in handler.dead_letters.letters] == ["decode"]
    assert commands_counted("failed") == failed_before + 1

    broker_acknowledges.set()
    await asyncio.wait_for(second, 5)


async def test_a_change_holding_a_nul_character_is_refused_and_the_batch_goes_on(pool):
    """PostgreSQL stores no U+0000: the change is a validation dead letter naming the cause,
    not a failed batch retried and parked as `unexpected`."""
    handler = make_handler(pool)
    with_nul = account_message("create", 1)
    envelope = orjson.loads(with_nul.value)
    envelope["detail"]["payload"]["Description"] = "before \x00 after"
    with_nul = InboundMessage(provider="salesforce", value=orjson.dumps(envelope),
                              key=with_nul.key, headers=with_nul.headers)
    assert b"\\u0000" in with_nul.value
    escaped_text = account_message("create", 2, record_id="001Hs00003FqYbKXXX")
    envelope = orjson.loads(escaped_text.value)
    envelope["detail"]["payload"]["Description"] = "a backslash, then u0000: \\u0000"
    escaped_text = InboundMessage(provider="salesforce", value=orjson.dumps(envelope),
                                  key="001Hs00003FqYbKXXX", headers=escaped_text.headers)

    result = await handler.handle([with_nul, escaped_text])

    [letter] = result.dead_letters
    assert letter.stage == "validation" and "NUL character" in letter.reason
    assert letter.problems[0].field == "body"
    assert [s.event.metadata.external_id for s in result.stored] == ["001Hs00003FqYbKXXX"]


async def test_the_same_event_three_times_in_one_batch_counts_two_duplicates(pool):
    handler = make_handler(pool)
    recorded_before, duplicates_before = commands_counted("recorded"), commands_counted(
        "duplicate")
    message = account_message("create", 1)

    result = await handler.handle([message, message, message])

    assert [stored.event.version for stored in result.stored] == [1]
    assert result.duplicates == 2
    assert commands_counted("recorded") == recorded_before + 1
    assert commands_counted("duplicate") == duplicates_before + 2


def large_update(n: int, **fields: str) -> InboundMessage:
    message = account_message("update", n)
    envelope = orjson.loads(message.value)
    envelope["detail"]["payload"].update(fields)
    envelope["detail"]["payload"]["ChangeEventHeader"]["changedFields"] = list(fields)
    return InboundMessage(provider="salesforce", value=orjson.dumps(envelope), key=message.key,
                          headers=message.headers)


async def test_a_change_that_would_make_the_record_too_large_for_a_message_is_refused(pool):
    """Stored, it could never be published (nor its read-model entry written): it is parked
    before the commit, and the record's later changes go on."""
    handler = make_handler(pool)
    handler.max_message_bytes = 400_000  # 183,616 bytes left for the fields (half of 367,232)
    await handler.handle([account_message("create", 1),
                          large_update(2, Industry="i" * 100_000)])

    refused = await handler.handle([large_update(3, Name="n" * 100_000)])
    later = await handler.handle([account_message("update", 4)])

    assert [letter.stage for letter in refused.dead_letters] == ["domain"]
    assert "bytes" in refused.dead_letters[0].reason and refused.stored == []
    assert [e.event.version for e in later.stored] == [3]
    assert [e.event.version for e in await events_of_record(handler)] == [1, 2, 3]


async def test_many_changes_under_64_kb_growing_a_record_past_a_message_are_refused_at_the_limit(
        pool):
    """Each change is small; together they would make the record too large: the change that
    would cross the limit is parked, the earlier ones and the later small ones are recorded."""
    handler = make_handler(pool)
    handler.max_message_bytes = 400_000  # 183,616 bytes left for the fields
    text = "x" * 40_000
    await handler.handle([account_message("create", 1)])
    growing = [await handler.handle([large_update(n, **{name: text})]) for n, name in
               enumerate(["Description", "Industry", "Website", "Type"], start=2)]

    crossing = large_update(6, Phone=text)
    refused = await handler.handle([crossing])
    later = await handler.handle([account_message("update", 7)])

    assert len(crossing.value) < 65_536
    assert [len(result.stored) for result in growing] == [1, 1, 1, 1]
    assert [letter.stage for letter in refused.dead_letters] == ["domain"]
    assert "the record with this change takes" in refused.dead_letters[0].reason
    assert refused.stored == [] and [e.event.version for e in later.stored] == [6]
    assert [e.event.version for e in await events_of_record(handler)] == [1, 2, 3, 4, 5, 6]


async def test_a_failed_publication_is_counted_and_its_events_stay_in_the_outbox(pool):
    handler = make_handler(pool)

    async def broker_down(events):
        raise KafkaTimeoutError()

    handler.publisher.publish = broker_down
    failures = REGISTRY.get_sample_value("crm_publish_failures_total", {"path": "batch"}) or 0

    await handler.handle([account_message("create", 1)])

    assert REGISTRY.get_sample_value("crm_publish_failures_total",
                                      {"path": "batch"}) == failures + 1
    assert await outbox_size(pool) == 1


async def test_a_redelivered_message_changes_nothing(pool):
    handler = make_handler(pool)
    await handler.handle([account_message("create", 1), account_message("update", 2)])

    again = await handler.handle([account_message("update", 2)])

    assert again.duplicates == 1 and again.stored == []
    assert len(await events_of_record(handler)) == 2
    assert handler.publisher.versions() == [1, 2]


async def test_a_stale_cached_aggregate_is_reloaded_and_the_change_retried(pool, caplog):
    first, second = make_handler(pool), make_handler(pool)
    await first.handle([account_message("create", 1)])  # `first` caches version 1
    await second.handle([account_message("update", 2)])  # version 2, unknown to `first`

    with caplog.at_level(logging.WARNING, logger="app.command_handler"):
        result = await first.handle([account_message("update", 3)])

    assert [s.event.version for s in result.stored] == [3]
    assert "expected version 1, actual version 2" in caplog.text
    stored = await events_of_record(first)
    assert [s.event.data.get("industry") for s in stored[1:]] == ["Industry 2", "Industry 3"]


async def test_a_conflict_beyond_the_retry_limit_is_raised_and_stores_nothing(pool):
    first, second = make_handler(pool, max_retries=0), make_handler(pool)
    await first.handle([account_message("create", 1)])
    await second.handle([account_message("update", 2)])

    with pytest.raises(ConcurrencyError):
        await first.handle([account_message("update", 3)])

    assert len(await events_of_record(first)) == 2
    assert first.cache.get((await events_of_record(first))[0].event.aggregate_id) is None


async def test_two_handlers_racing_on_one_record_keep_a_gapless_history(pool):
    first, second = make_handler(pool), make_handler(pool)
    await first.handle([account_message("create", 1)])

    for n in range(2, 22, 2):
        await asyncio.gather(first.handle([account_message("update", n)]),
                             second.handle([account_message("update", n + 1)]))

    stored = await events_of_record(first)
    versions = [s.event.version for s in stored]
    sources = [s.event.metadata.source_event_id for s in stored]
    assert versions == list(range(1, len(stored) + 1))
    assert len(sources) == len(set(sources))
    assert await pool.fetchval("SELECT count(*) FROM processed_source_events") == 21
    published = first.publisher.published + second.publisher.published
    # At least once: a handler also sends the other's events still in the outbox before its own.
    assert {s.position for s in published} == {s.position for s in stored}


async def test_events_left_in_the_outbox_are_published_before_the_aggregates_new_ones(pool):
    handler = make_handler(pool)
    await handler.handle([account_message("create", 1)])
    aggregate_id = (await events_of_record(handler))[0].event.aggregate_id
    # Committed but never published: what a crash between commit and publish leaves.
    await handler.store.append(aggregate_id, history(aggregate_id, 1, first_version=2), 1)
    handler.cache.clear()

    await handler.handle([account_message("update", 3)])

    assert handler.publisher.versions() == [1, 2, 3]
    assert await outbox_size(pool) == 0


async def test_an_event_committed_late_with_a_smaller_position_is_still_relayed(
        pool, fresh_database):
    handler = make_handler(pool)
    early, late = new_id(), new_id()
    aggregate = replay(ClientAggregate(early), history(early, 1))
    await handler.store.append_batch([AppendRequest(early, "client", 0, history(early, 1),
                                                    snapshot=aggregate.snapshot())])
    await handler.relay_outbox(older_than_s=0)

    async with snapshot_row_locked(fresh_database, early):
        replay(aggregate, history(early, 1, first_version=2))
        # Takes its position, then waits on the locked snapshot row, uncommitted.
        slow = asyncio.create_task(handler.store.append_batch([AppendRequest(
            early, "client", 1, history(early, 1, first_version=2),
            snapshot=aggregate.snapshot())]))
        await wait_for_lock_waiters(pool, 1)
        [fast] = await handler.store.append(late, history(late, 1), 0)
        relayed_while_open = await handler.relay_outbox(older_than_s=0)
    [slow_event] = await slow

    assert slow_event.position < fast.position  # committed last, numbered first
    assert relayed_while_open == 1
    # A tailer that remembered the highest position it saw would now skip the slow event:
    assert [s async for s in handler.store.read_all(fast.position)] == []
    assert await handler.relay_outbox(older_than_s=0) == 1
    assert [s.event.event_id for s in handler.publisher.published[-2:]] == [
        fast.event.event_id, slow_event.event.event_id]
    assert await outbox_size(pool) == 0


async def test_the_handler_snapshots_every_n_events_and_loads_the_same_aggregate(pool):
    handler = make_handler(pool, snapshot_every=3)
    await handler.handle([account_message("create", 1)])
    for n in range(2, 9):
        await handler.handle([account_message("update", n)])

    stored = await events_of_record(handler)
    aggregate_id = stored[0].event.aggregate_id
    snapshot_version = await pool.fetchval(
        "SELECT version FROM snapshots WHERE aggregate_id = $1", aggregate_id)
    loaded = await handler.store.load("client", aggregate_id)
    full = replay(ClientAggregate(aggregate_id), [s.event for s in stored])

    assert len(stored) == 8 and snapshot_version == 6
    assert loaded.snapshot() == full.snapshot()


async def test_workers_seeing_new_records_at_once_agree_on_their_aggregate_ids(pool):
    keys = [("salesforce", "Account", f"001NEW{i:012d}") for i in range(50)]
    maps = [PostgresIdentityMap(pool) for _ in range(4)]

    assigned = await asyncio.gather(*(m.aggregate_ids(keys[::step]) for m, step in
                                      zip(maps, (1, -1, 1, -1), strict=True)))

    assert all(ids == assigned[0] for ids in assigned)
    assert len(set(assigned[0].values())) == 50
    assert await pool.fetchval("SELECT count(*) FROM identities") == 50
