"""The read side: rebuilding a projection from PostgreSQL into a table, and the read API.

- rebuild: `projections.rebuild.rebuild` of `clients` over 100,000 stored events (fold every
  event through the live agent's planner, write the table's changelog), against reading the
  same events from PostgreSQL without folding (the feed's own ceiling).
- read API: GET /clients/{id} for stored clients, one request at a time over a kept-alive
  connection, served by a service process that recovered the rebuilt table; against GET /health
  on the same server (the web framework's floor).
"""

from __future__ import annotations

import asyncio
import random
import time
import uuid

import asyncpg
import httpx

from app.db import create_pool
from app.event_store import AppendRequest, PostgresEventStore
from app.migrate import migrate
from bench.event_store_bench import decided_history
from bench.figures import Figure, rate
from bench.harness import ServiceProcess, percentile, started_and_settled, wait_for
from bench.postgres_server import new_database
from domain.aggregates import ClientAggregate
from projections import event_feed, rebuild
from projections.catalog import projections

CLIENTS, EVENTS_PER_CLIENT, APPEND_BATCH = 20_000, 5, 500
PARTITIONS = 4
READS = 3_000


def run(server_dsn: str, broker_url: str) -> list[Figure]:
    with new_database(server_dsn, "bench_read_side") as dsn:
        service = ServiceProcess(broker_url, dsn, TOPIC_PARTITIONS=str(PARTITIONS))
        client_ids, figures = asyncio.run(_seed_and_rebuild(dsn, broker_url,
                                                            service.env["APP_ID"]))
        started_and_settled(service)
        try:
            figures += _read_latencies(service, client_ids)
        finally:
            service.stop()
    return figures


async def _seed_and_rebuild(dsn: str, broker_url: str, app_id: str
                            ) -> tuple[list[str], list[Figure]]:
    connection = await asyncpg.connect(dsn)
    await migrate(connection)
    await connection.close()
    pool = await create_pool(dsn, min_size=1, max_size=4)
    try:
        client_ids = await _seed(PostgresEventStore(pool))
        total = CLIENTS * EVENTS_PER_CLIENT
        started = time.perf_counter()
        fed = sum([1 async for _ in event_feed.messages_after(pool, 0)])
        feed_s = time.perf_counter() - started
        report = await rebuild.rebuild(
            projections()["clients"], pool, bootstrap=rebuild.bootstrap_servers(broker_url),
            app_id=app_id, partitions=PARTITIONS)
    finally:
        await pool.close()
    if fed != total or report.events != total or report.keys < CLIENTS:
        raise RuntimeError(f"rebuild saw {report.events} events / {report.keys} keys, "
                           f"feed {fed}; expected {total} events over {CLIENTS} clients")
    note = f"{total:,} events over {CLIENTS:,} clients"
    return client_ids, [
        rate("read_side.feed_events_per_s", "baseline: read the events from PostgreSQL "
             "(feed only, no fold)", total, feed_s, note=note),
        Figure("read_side.rebuild_events_per_s", "rebuild `clients` from PostgreSQL into a "
               "table (fold + changelog write)", report.events_per_s, "events/s",
               f"{note}; fold {report.fold_s:.2f} s, write {report.write_s:.2f} s; target >= "
               f"50,000: {'met' if report.events_per_s >= 50_000 else 'MISSED'}"),
    ]


async def _seed(store: PostgresEventStore) -> list[str]:
    ids = []
    for _ in range(0, CLIENTS, APPEND_BATCH):
        requests = []
        for _ in range(APPEND_BATCH):
            aggregate = ClientAggregate(str(uuid.uuid4()))
            requests.append(AppendRequest(aggregate.id, "client", 0,
                                          decided_history(aggregate, EVENTS_PER_CLIENT)))
            ids.append(aggregate.id)
        stored = await store.append_batch(requests)
        # history that was published long ago: the service must not start by relaying it
        await store.mark_published([event.position for event in stored])
    return ids


def _read_latencies(service: ServiceProcess, client_ids: list[str]) -> list[Figure]:
    sample = random.Random(7).sample(client_ids, READS)
    with service.client() as http:
        wait_for(lambda: http.get(f"/clients/{sample[-1]}").status_code == 200, timeout=120)
        reads = _timed(http, [f"/clients/{client_id}" for client_id in sample])
        health = _timed(http, ["/health"] * READS)
    p99 = percentile(reads, 0.99) * 1000
    note = f"{READS:,} sequential requests, keep-alive, table recovered from the rebuild"
    return [
        Figure("read_side.get_by_id_ms_p50", "read API GET /clients/{id} p50",
               percentile(reads, 0.50) * 1000, "ms", note),
        Figure("read_side.get_by_id_ms_p99", "read API GET /clients/{id} p99", p99, "ms",
               f"target < 10 ms: {'met' if p99 < 10 else 'MISSED'}"),
        Figure("read_side.health_ms_p99", "baseline: GET /health p99, same server",
               percentile(health, 0.99) * 1000, "ms", note),
    ]


def _timed(http: httpx.Client, paths: list[str]) -> list[float]:
    timings = []
    for path in paths:
        started = time.perf_counter()
        response = http.get(path)
        timings.append(time.perf_counter() - started)
        if response.status_code != 200:
            raise RuntimeError(f"GET {path} answered {response.status_code}: {response.text}")
    return timings
