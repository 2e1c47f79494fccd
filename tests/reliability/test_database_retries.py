"""Transient PostgreSQL failures (connections lost, the server restarting) are retried with
backoff and jitter, and appends neither fail nor double; permanent errors raise at once."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from datetime import UTC, datetime
from types import SimpleNamespace

import asyncpg
import asyncpg.exceptions as pg
import pytest
from infrastructure import database_dsn, unique_name

from app import db
from app.db import backoff_delay, create_pool, is_transient, with_retries
from app.event_store import PostgresEventStore
from app.migrate import migrate
from domain.events import Created, DomainEvent, EventMetadata, Updated

TRANSIENT = [ConnectionRefusedError(), ConnectionResetError(), TimeoutError(),
             pg.ConnectionDoesNotExistError(), pg.AdminShutdownError(),
             pg.CannotConnectNowError(), pg.SerializationError(), pg.DeadlockDetectedError(),
             pg.TooManyConnectionsError(), asyncpg.InterfaceError("connection is closed"),
             pg.InternalClientError("cannot switch to state 12")]
PERMANENT = [pg.PostgresSyntaxError(), pg.CheckViolationError(), pg.UniqueViolationError(),
             pg.UndefinedTableError(), pg.InvalidTextRepresentationError(),
             pg.DataError("invalid input for query argument $1"), ValueError(), KeyError()]


@pytest.mark.parametrize("error", TRANSIENT, ids=lambda e: type(e).__name__)
def test_connection_loss_restarts_and_serialization_failures_are_transient(error):
    assert is_transient(error)


@pytest.mark.parametrize("error", PERMANENT, ids=lambda e: type(e).__name__)
def test_bad_sql_violated_constraints_and_bad_arguments_are_permanent(error):
    assert not is_transient(error)


def test_backoff_grows_exponentially_within_jitter_bounds_up_to_a_cap():
    for attempt, cap in [(1, 0.1), (2, 0.2), (3, 0.4), (6, 2.0), (9, 2.0)]:
        delays = [backoff_delay(attempt) for _ in range(200)]
        assert all(cap / 2 <= d <= cap for d in delays)
        assert len(set(delays)) > 150  # jittered, so retrying workers do not stampede


async def test_a_permanent_error_is_raised_at_once_without_retrying(monkeypatch):
    sleeps, calls = record_sleeps(monkeypatch), []

    async def violate() -> None:
        calls.append(1)
        raise pg.CheckViolationError("new row violates check constraint")

    with pytest.raises(pg.CheckViolationError):
        await with_retries(violate)
    assert calls == [1] and sleeps == []


async def test_a_transient_error_is_retried_with_growing_delays_until_it_succeeds(monkeypatch):
    sleeps, failures = record_sleeps(monkeypatch), [pg.CannotConnectNowError("starting up")] * 3

    async def flaky() -> str:
        if failures:
            raise failures.pop()
        return "done"

    assert await with_retries(flaky) == "done"
    assert len(sleeps) == 3 and sleeps[0] <= 0.1 and 0.1 <= sleeps[2] <= 0.4


async def test_a_permanent_error_from_the_server_is_not_retried(pool, monkeypatch):
    sleeps = record_sleeps(monkeypatch)
    with pytest.raises(pg.PostgresSyntaxError):
        await with_retries(lambda: pool.fetch("SELEC 1"))
    with pytest.raises(pg.CheckViolationError):
        await with_retries(lambda: pool.execute(
            "INSERT INTO events (event_id, aggregate_id, aggregate_type, version, event_type, "
            "occurred_at, data, metadata) VALUES (gen_random_uuid(), gen_random_uuid(), "
            "'client', 0, 'Created', now(), '{}', '{}')"))
    assert sleeps == []


async def test_appends_survive_connections_killed_mid_stream(pool, fresh_database, caplog):
    store = PostgresEventStore(pool)

    async def kill_connections(admin: asyncpg.Connection) -> None:
        for _ in range(8):
            await asyncio.sleep(0.05)
            await admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                "WHERE datname = current_database() AND pid <> pg_backend_pid()")

    with caplog.at_level(logging.WARNING, logger="app.db"):
        versions = await append_while(store, pool, kill_connections, appends=150,
                                      admin_dsn=fresh_database)

    assert versions == list(range(1, 151))
    assert "appending events failed" in caplog.text  # the disruptions did hit appends


async def test_appends_survive_the_server_restarting_mid_stream(postgres, caplog):
    server_dsn, server = postgres
    async with own_database(server_dsn) as dsn:
        pool = await create_pool(dsn, min_size=1, max_size=4)
        try:
            store = PostgresEventStore(pool)

            async def restart(admin: asyncpg.Connection) -> None:
                await asyncio.sleep(0.3)
                if server is not None:
                    await asyncio.to_thread(server.restart)
                else:  # an external server: drop every connection instead
                    await admin.execute(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = current_database() AND pid <> pg_backend_pid()")

            with caplog.at_level(logging.WARNING, logger="app.db"):
                versions = await append_while(store, pool, restart, appends=400, admin_dsn=dsn)
        finally:
            await pool.close()

    assert versions == list(range(1, 401))
    assert "appending events failed" in caplog.text


async def append_while(store, pool, disrupt, *, appends: int, admin_dsn: str) -> list[int]:
    """Append `appends` single events to one aggregate while `disrupt` runs; return the stored
    versions (each exactly once if no retry doubled or lost an append)."""
    aggregate_id = str(await pool.fetchval("SELECT gen_random_uuid()"))
    admin = await asyncpg.connect(admin_dsn)
    disrupting = asyncio.create_task(disrupt(admin))
    try:
        for version in range(1, appends + 1):
            await store.append(aggregate_id, [event(aggregate_id, version)], version - 1)
        await disrupting
    finally:
        disrupting.cancel()
        with contextlib.suppress(Exception):
            await admin.close()
    return [s.event.version for s in await store.events_of(aggregate_id)]


@contextlib.asynccontextmanager
async def own_database(server_dsn: str):
    """A migrated database whose admin connections do not outlive a server restart."""
    name = unique_name("restart")
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    await admin.close()
    dsn = database_dsn(server_dsn, name)
    connection = await asyncpg.connect(dsn)
    await migrate(connection)
    await connection.close()
    try:
        yield dsn
    finally:
        admin = await db.with_retries(lambda: asyncpg.connect(server_dsn))
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


def record_sleeps(monkeypatch) -> list[float]:
    sleeps: list[float] = []

    async def no_sleep(delay: float) -> None:
        sleeps.append(delay)

    monkeypatch.setattr(db, "asyncio", SimpleNamespace(sleep=no_sleep))  # app.db's only
    return sleeps


def event(aggregate_id: str, version: int) -> DomainEvent:
    kind = Created if version == 1 else Updated
    return kind(
        aggregate_id=aggregate_id, aggregate_type="client", version=version,
        occurred_at=datetime.now(UTC), data={"name": "Acme"} if version == 1 else {"n": version},
        metadata=EventMetadata("corr", f"src-{version}", "salesforce", "001X", f"src-{version}",
                               "tx", version, 1_763_700_000_000 + version, "test"))
