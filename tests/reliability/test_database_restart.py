"""PostgreSQL restarted (and down for seconds) while 2,000 events flow through the running
service: the worker retries, stays up, and stores and publishes every change exactly once."""

from __future__ import annotations

import asyncio
import collections
import time

import asyncpg
import pytest
from service_process import ServiceProcess, wait_for
from stream_fixtures import (
    bootstrap_of,
    change_stream,
    produce,
    published_events,
    stored_counts,
    stored_events,
)
from test_database_retries import own_database

RECORDS, UPDATES = 400, 4  # 2,000 source events
DOWN_S = 3.0


@pytest.fixture
def fresh_database(postgres):
    """A database of its own, dropped over a connection opened after the restarts."""
    with asyncio.Runner() as runner:
        manager = own_database(postgres[0])
        dsn = runner.run(manager.__aenter__())
        try:
            yield dsn
        finally:
            runner.run(manager.__aexit__(None, None, None))


def test_postgres_restarts_mid_stream_lose_and_duplicate_nothing(
        broker_url, fresh_database, postgres):
    server_dsn, server = postgres
    service = ServiceProcess(broker_url, fresh_database, COMMAND_BATCH_SIZE="50").start()
    bootstrap = bootstrap_of(broker_url)
    stream = change_stream(RECORDS, UPDATES)
    processed_at_outages = []
    try:
        asyncio.run(produce(bootstrap, service.topics["inbound"], stream))
        for outage in range(2):
            wait_for(lambda n=outage: asyncio.run(stored_counts(fresh_database))[1]
                     > (n + 1) * len(stream) // 5, timeout=60, interval=0.1)
            processed_at_outages.append(asyncio.run(stored_counts(fresh_database))[1])
            if server is not None:
                server.stop("fast")  # a restart with downtime, as an upgrade or failover does
                time.sleep(DOWN_S)
                server.restart()
            else:  # an external server: drop the service's connections instead
                asyncio.run(terminate_connections(server_dsn, fresh_database))
            assert service.process.poll() is None, service.log()[-3000:]
        print(f"\nPostgreSQL restarts at {processed_at_outages} of {len(stream)} stored")
        assert all(n < len(stream) for n in processed_at_outages), processed_at_outages

        wait_for(lambda: asyncio.run(stored_counts(fresh_database))[1] == len(stream),
                 timeout=120, interval=0.5)
        events = asyncio.run(stored_events(fresh_database))
        assert len(events) == len(stream)  # one Created or Updated per source event
        sources = collections.Counter(row["source"] for row in events)
        assert len(sources) == len(stream) and set(sources.values()) == {1}

        def all_published() -> bool:
            published = {e["event_id"] for e in asyncio.run(
                published_events(bootstrap, service.topics["domain_events"]))}
            return {row["event_id"] for row in events} <= published

        assert wait_for(all_published, timeout=60, interval=2)
        assert service.process.poll() is None  # retried through it all, never crashed
        log = service.log()
        assert "), retry 1/" in log  # the outage was felt, and retried
        print(f"PostgreSQL restarts: {len(stream)} sent, {len(stream) - len(sources)} lost, "
              f"{sum(sources.values()) - len(sources)} duplicated")
    finally:
        service.stop()


async def terminate_connections(server_dsn: str, database_dsn: str) -> None:
    name = database_dsn.rpartition("/")[2]
    admin = await asyncpg.connect(server_dsn)
    try:
        await admin.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                            "WHERE datname = $1 AND pid <> pg_backend_pid()", name)
    finally:
        await admin.close()
