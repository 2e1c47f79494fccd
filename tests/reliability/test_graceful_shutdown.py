"""SIGTERM while 10,000 events flow: the worker finishes (or gives back) what it is handling,
publishes what it stored, commits the offsets of exactly what it stored, and exits by itself;
after every restart nothing is lost or duplicated."""

from __future__ import annotations

import asyncio
import collections
import random
import signal
import subprocess
import time

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition
from service_process import ServiceProcess, wait_for
from stream_fixtures import (
    bootstrap_of,
    change_stream,
    produce,
    published_events,
    stored_counts,
    stored_events,
)

# 10,000 source events, one inbound message each; each stop lands once the worker has stored a
# share of them (it stores several thousand a second here: a fixed sleep could miss the stream)
RECORDS, UPDATES = 2000, 4
STOP_SHARES = ((0.10, 0.25), (0.40, 0.55), (0.70, 0.80))


def test_sigterm_while_streaming_commits_what_was_stored_and_loses_nothing(
        broker_url, fresh_database):
    service = ServiceProcess(broker_url, fresh_database, COMMAND_BATCH_SIZE="200").start()
    bootstrap = bootstrap_of(broker_url)
    stream = change_stream(RECORDS, UPDATES)
    asyncio.run(produce(bootstrap, service.topics["inbound"], stream))
    rng = random.Random(20261126)
    stops = []
    try:
        for low, high in STOP_SHARES:
            target = int(rng.uniform(low, high) * len(stream))
            wait_for(lambda target=target: asyncio.run(stored_counts(fresh_database))[1] >= target,
                     timeout=60, interval=0.01)
            started = time.monotonic()
            service.process.send_signal(signal.SIGTERM)
            try:
                returncode = service.process.wait(30)
            except subprocess.TimeoutExpired:
                raise AssertionError(
                    f"no exit 30 s after SIGTERM:\n{service.log()[-4000:]}") from None
            stored = asyncio.run(stored_counts(fresh_database))[1]
            stops.append((stored, round(time.monotonic() - started, 1)))
            assert returncode == 0, service.log()[-4000:]
            # every stored change was acknowledged and its offset committed, nothing more
            committed = asyncio.run(committed_offsets(bootstrap, service))
            assert committed == stored, (committed, stored, service.log()[-4000:])
            # every stored event was published before the exit: nothing left to the relay
            assert asyncio.run(outbox_size(fresh_database)) == 0
            service.start()
        print(f"\nSIGTERM stops (source events stored, seconds to exit): {stops}")
        # the stops really landed while the stream was being processed
        assert all(0 < n < len(stream) for n, _ in stops), stops
        wait_for(lambda: asyncio.run(stored_counts(fresh_database))[1] == len(stream),
                 timeout=120, interval=0.5)
        events = asyncio.run(stored_events(fresh_database))
        assert len(events) == len(stream)  # one Created or Updated per source event
        sources = collections.Counter(row["source"] for row in events)
        assert len(sources) == len(stream) and set(sources.values()) == {1}

        def all_published() -> bool:
            published = collections.Counter(e["event_id"] for e in asyncio.run(
                published_events(bootstrap, service.topics["domain_events"])))
            return {row["event_id"] for row in events} <= set(published) and published

        published = wait_for(all_published, timeout=60, interval=2)
        # a graceful stop leaves nothing to publish twice
        assert set(published.values()) == {1}, published.most_common(3)
        print(f"SIGTERM: {len(stream)} sent, {len(stream) - len(sources)} lost, "
              f"{sum(published.values()) - len(published)} published twice")
    finally:
        service.stop()


async def committed_offsets(bootstrap: str, service: ServiceProcess) -> int:
    """Messages of the inbound topic the worker's consumer group has committed, in all."""
    topic = service.topics["inbound"]
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=service.env["APP_ID"],
                                enable_auto_commit=False)
    await consumer.start()
    try:
        await consumer.topics()
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        offsets = [await consumer.committed(tp) for tp in partitions]
    finally:
        await consumer.stop()
    return sum(offset or 0 for offset in offsets)


async def outbox_size(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SELECT count(*) FROM outbox")
    finally:
        await connection.close()
