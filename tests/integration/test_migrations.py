"""Versioned schema migrations at start: applied once, safe to race, and a database newer than
the code refuses to start."""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import asyncpg
import pytest
from infrastructure import database_dsn, unique_name

from app.migrate import SchemaTooNew, migrate, migration_files
from app.runtime import Runtime
from app.settings import Settings

LATEST = migration_files()[-1][0]


@pytest.fixture
async def empty_database(postgres):
    server_dsn, _ = postgres
    name = unique_name("migrations")
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    yield database_dsn(server_dsn, name)
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


async def test_migrations_are_numbered_without_gaps():
    assert [version for version, _, _ in migration_files()] == list(range(1, LATEST + 1))


async def test_migrating_twice_applies_each_migration_once(empty_database):
    connection = await asyncpg.connect(empty_database)
    try:
        assert await migrate(connection) == LATEST
        assert await migrate(connection) == LATEST
        applied = await connection.fetch("SELECT version FROM schema_migrations")
        tables = await connection.fetchval(
            "SELECT count(*) FROM pg_tables WHERE tablename = ANY($1::text[])",
            ["events", "outbox", "snapshots", "processed_source_events", "identities"])
    finally:
        await connection.close()
    assert [row[0] for row in applied] == list(range(1, LATEST + 1))
    assert tables == 5


async def test_workers_starting_together_migrate_once(empty_database):
    connections = [await asyncpg.connect(empty_database) for _ in range(3)]
    try:
        versions = await asyncio.gather(*(migrate(c) for c in connections))
        applied = await connections[0].fetchval("SELECT count(*) FROM schema_migrations")
    finally:
        for connection in connections:
            await connection.close()
    assert versions == [LATEST] * 3
    assert applied == LATEST


async def test_a_database_newer_than_the_code_is_refused_with_both_versions(fresh_database):
    connection = await asyncpg.connect(fresh_database)
    try:
        await connection.execute(
            "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
            LATEST + 1)
        with pytest.raises(SchemaTooNew, match=rf"at version {LATEST + 1}.*only up to {LATEST}"):
            await migrate(connection)
    finally:
        await connection.close()


async def test_the_runtime_migrates_at_start_with_a_pool_sized_by_settings(empty_database):
    runtime = _runtime(empty_database, db_pool_min=1, db_pool_max=3, snapshot_every=7)
    await runtime.on_start()
    try:
        assert runtime.pool.get_min_size() == 1 and runtime.pool.get_max_size() == 3
        assert runtime.store.snapshot_every == 7
        assert await runtime.pool.fetchval("SELECT max(version) FROM schema_migrations") == LATEST
    finally:
        await runtime.on_stop()


async def test_the_runtime_refuses_to_start_on_a_newer_schema(fresh_database):
    connection = await asyncpg.connect(fresh_database)
    await connection.execute(
        "INSERT INTO schema_migrations (version, name) VALUES ($1, 'from_the_future')",
        LATEST + 1)
    await connection.close()
    runtime = _runtime(fresh_database)
    try:
        with pytest.raises(SchemaTooNew, match="upgrade crm-events"):
            await runtime.on_start()
    finally:
        await runtime.on_stop()


def _runtime(dsn: str, **settings) -> Runtime:
    topics = SimpleNamespace(inbound={}, domain_events=None, dead_letter=None)
    return Runtime(Settings(database_url=dsn, kafka_broker_url="kafka://unused:9092", **settings),
                   topics)


async def test_upgrading_a_version_1_database_keeps_its_unpublished_events(empty_database):
    connection = await asyncpg.connect(empty_database)
    try:
        version, name, sql = migration_files()[0]
        await connection.execute("CREATE TABLE schema_migrations (version integer PRIMARY KEY,"
                                 " name text NOT NULL, applied_at timestamptz DEFAULT now())")
        await connection.execute(sql)
        await connection.execute("INSERT INTO schema_migrations VALUES ($1, $2)", version, name)
        aggregate_id = await connection.fetchval(
            "INSERT INTO events (event_id, aggregate_id, aggregate_type, version, event_type, "
            "occurred_at, data, metadata) VALUES (gen_random_uuid(), gen_random_uuid(), "
            "'client', 1, 'Created', now(), '{}', '{}') RETURNING aggregate_id")
        await connection.execute("INSERT INTO outbox (position) SELECT position FROM events")

        assert await migrate(connection) == LATEST
        waiting = await connection.fetch("SELECT aggregate_id FROM outbox")
    finally:
        await connection.close()
    assert [row[0] for row in waiting] == [aggregate_id]
