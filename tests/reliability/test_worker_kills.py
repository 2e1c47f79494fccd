"""Worker killed with SIGKILL five times while 10,000 events flow (at random shares of them
stored): nothing lost, nothing duplicated, read models equal a rebuild from the event store,
every committed event published."""

from __future__ import annotations

import asyncio
import collections
import random

import httpx
from service_process import ServiceProcess, wait_for
from stream_fixtures import (
    bootstrap_of,
    change_stream,
    produce,
    published_events,
    stored_counts,
    stored_events,
)

# 2,000 creates + 8,000 updates = 10,000 source events; each kill lands once the worker has
# stored a share of them (it stores thousands a second here: a fixed sleep could miss the stream)
RECORDS, UPDATES = 2000, 4
KILL_SHARES = ((0.05, 0.15), (0.20, 0.30), (0.35, 0.45), (0.50, 0.60), (0.65, 0.75))


def test_five_sigkills_while_streaming_lose_and_duplicate_nothing(broker_url, fresh_database):
    service = ServiceProcess(broker_url, fresh_database, COMMAND_BATCH_SIZE="25").start()
    bootstrap = bootstrap_of(broker_url)
    stream = change_stream(RECORDS, UPDATES)
    asyncio.run(produce(bootstrap, service.topics["inbound"], stream))
    rng = random.Random(20261125)
    processed_at_kills = []
    try:
        for low, high in KILL_SHARES:
            target = int(rng.uniform(low, high) * len(stream))
            wait_for(lambda target=target: asyncio.run(stored_counts(fresh_database))[1] >= target,
                     timeout=60, interval=0.01)
            service.kill()
            processed_at_kills.append(asyncio.run(stored_counts(fresh_database))[1])
            service.start()
        # the kills really landed while the stream was being processed
        assert all(0 < n < len(stream) for n in processed_at_kills), processed_at_kills
        try:
            wait_for(lambda: asyncio.run(stored_counts(fresh_database))[1] == len(stream),
                     timeout=120, interval=0.5)
        except AssertionError as stuck:  # what the worker was doing when it stopped short
            raise AssertionError(
                f"{stuck}: stored {asyncio.run(stored_counts(fresh_database))} of {len(stream)}, "
                f"kills at {processed_at_kills}; worker log:\n{service.log()[-8000:]}") from stuck
        events = asyncio.run(stored_events(fresh_database))

        assert len(events) == len(stream)  # one Created or Updated per source event
        sources = collections.Counter(row["source"] for row in events)
        assert len(sources) == len(stream) and set(sources.values()) == {1}
        # no fetched record went undelivered (Faust would count it done: app/kafka_transport.py)
        assert "skipped between deliveries" not in service.log()
        assert_every_committed_event_published(bootstrap, service, events)
        assert_read_models_equal_a_rebuild(service, events)
        print(f"\nSIGKILL x{len(KILL_SHARES)} at {processed_at_kills} stored: {len(stream)} sent, "
              f"{len(stream) - len(sources)} lost, {sum(sources.values()) - len(sources)} "
              "duplicated")
    finally:
        service.stop()


def assert_every_committed_event_published(bootstrap, service, events):
    def all_published():
        published = {e["event_id"] for e in asyncio.run(
            published_events(bootstrap, service.topics["domain_events"]))}
        return {row["event_id"] for row in events} <= published

    assert wait_for(all_published, timeout=60, interval=2)


def assert_read_models_equal_a_rebuild(service, events):
    aggregate_ids = sorted({row["aggregate_id"] for row in events})
    assert len(aggregate_ids) == RECORDS
    with service.client() as http:
        def views_caught_up():
            return all(view(http, a) and view(http, a)["version"] == UPDATES + 1
                       for a in aggregate_ids)

        wait_for(views_caught_up, timeout=60, interval=1)
        for aggregate_id in aggregate_ids:
            history = http.get(f"/aggregates/{aggregate_id}/events").json()["events"]
            current = view(http, aggregate_id)
            assert current["version"] == history[-1]["version"] == UPDATES + 1
            assert current["fields"] == fold_fields(history)
            assert current["fields"]["employees"] == UPDATES


def fold_fields(history: list[dict]) -> dict:
    """The record's fields rebuilt independently from the stored history."""
    fields: dict = {}
    for event in history:
        fields.update(event["data"])
    return fields


def view(http: httpx.Client, aggregate_id: str):
    response = http.get(f"/clients/{aggregate_id}")
    return response.json() if response.status_code == 200 else None
