"""The baseline: the `eventsourcing` library (9.x) with its PostgreSQL recorder, on the same
server, doing the same three things as our event store."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlparse

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate, event

from bench.event_store_bench import (
    AGGREGATES_PER_CALL,
    BATCH_CALLS,
    COMMAND_BATCH,
    COMMANDS,
    EVENTS_PER_AGGREGATE,
    REPEATS,
    SINGLE_APPENDS,
)
from bench.figures import Figure, median, rate
from bench.postgres_server import new_database

# Their commands are slower: fewer of them keep the run short without changing the rate.
BASELINE_COMMANDS = COMMANDS // 2


class Client(Aggregate):
    @event("Created")
    def __init__(self, name: str, status: str) -> None:
        self.fields: dict[str, Any] = {"name": name, "status": status}

    @event("Updated")
    def record_update(self, fields: dict[str, Any]) -> None:
        self.fields.update(fields)


class Clients(Application):
    """No snapshots and no aggregate cache: every `get` replays the stored events."""


def run(server_dsn: str) -> list[Figure]:
    with new_database(server_dsn, "bench_eventsourcing") as dsn, application(dsn) as app:
        measurements = [single_appends, commands_one_at_a_time, commands_batched,
                        batched_appends]
        return [median([measure(app) for _ in range(REPEATS)]) for measure in measurements]


@contextmanager
def application(dsn: str) -> Iterator[Clients]:
    url = urlparse(dsn)
    env = {
        "PERSISTENCE_MODULE": "eventsourcing.postgres",
        "POSTGRES_DBNAME": url.path.lstrip("/"),
        "POSTGRES_HOST": url.hostname or "127.0.0.1",
        "POSTGRES_PORT": str(url.port or 5432),
        "POSTGRES_USER": url.username or "postgres",
        "POSTGRES_PASSWORD": url.password or "",
    }
    app = Clients(env={**os.environ, **env})
    try:
        yield app
    finally:
        app.close()


def single_appends(app: Clients) -> Figure:
    clients = created(app, 100)
    started = time.perf_counter()
    for n in range(SINGLE_APPENDS):
        client = clients[n % len(clients)]
        client.record_update({"employees": n})
        app.save(client)
    return rate("eventsourcing.single_appends", "eventsourcing (a) single-event appends, "
                "1 writer", SINGLE_APPENDS, time.perf_counter() - started)


def commands_one_at_a_time(app: Clients) -> Figure:
    ids = [client.id for client in created(app, 100, history=10)]
    started = time.perf_counter()
    for n in range(BASELINE_COMMANDS):
        client = app.repository.get(ids[n % len(ids)])
        client.record_update({"employees": n, "industry": f"i{n}"})
        app.save(client)
    return rate("eventsourcing.commands_one_at_a_time", "eventsourcing (b) load+update+save, "
                "one at a time", BASELINE_COMMANDS, time.perf_counter() - started, "commands/s")


def commands_batched(app: Clients) -> Figure:
    """The library's best: get each aggregate, then save a whole batch in one transaction."""
    ids = [client.id for client in created(app, 1000, history=10)]
    started = time.perf_counter()
    for first in range(0, BASELINE_COMMANDS * 2, COMMAND_BATCH):
        batch: list[Client] = []
        for n in range(first, first + COMMAND_BATCH):
            client = app.repository.get(ids[n % len(ids)])
            client.record_update({"employees": n, "industry": f"i{n}"})
            batch.append(client)
        app.save(*batch)
    return rate("eventsourcing.commands_batched", "eventsourcing (b) load+update, save batches "
                "of 100", BASELINE_COMMANDS * 2, time.perf_counter() - started, "commands/s")


def batched_appends(app: Clients) -> Figure:
    calls = [created_unsaved(AGGREGATES_PER_CALL, EVENTS_PER_AGGREGATE)
             for _ in range(BATCH_CALLS)]
    started = time.perf_counter()
    for clients in calls:
        app.save(*clients)
    return rate("eventsourcing.batched_appends", f"eventsourcing (c) batched appends, "
                f"{AGGREGATES_PER_CALL * EVENTS_PER_AGGREGATE} events per call",
                BATCH_CALLS * AGGREGATES_PER_CALL * EVENTS_PER_AGGREGATE,
                time.perf_counter() - started)


def created(app: Clients, count: int, *, history: int = 1) -> list[Client]:
    clients = created_unsaved(count, history)
    for first in range(0, count, 100):
        app.save(*clients[first:first + 100])
    return clients


def created_unsaved(count: int, history: int) -> list[Client]:
    clients = []
    for _ in range(count):
        client = Client("Acme", "Active")
        for n in range(history - 1):
            client.record_update({"employees": n, "industry": f"i{n}"})
        clients.append(client)
    return clients

