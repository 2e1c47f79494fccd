"""Session-wide real infrastructure, and a fresh database per test that needs one."""

from __future__ import annotations

import asyncpg
import pytest
from infrastructure import database_dsn, kafka_broker, postgres_server, unique_name

from app.db import create_pool
from app.migrate import migrate


@pytest.fixture(scope="session")
def broker_url():
    with kafka_broker() as url:
        yield url


@pytest.fixture(scope="session")
def postgres():
    """(server DSN, embedded server or None)."""
    with postgres_server() as server:
        yield server


@pytest.fixture
async def fresh_database(postgres):
    """A new, migrated database on the shared server; dropped afterwards."""
    server_dsn, _ = postgres
    name = unique_name("test")
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_dsn(server_dsn, name)
    connection = await asyncpg.connect(dsn)
    await migrate(connection)
    await connection.close()
    yield dsn
    await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
    await admin.close()


@pytest.fixture
async def pool(fresh_database):
    pool = await create_pool(fresh_database, min_size=1, max_size=10)
    yield pool
    await pool.close()


@pytest.fixture
def service(broker_url, fresh_database):
    """The whole service, running as a real process on the test broker and database."""
    from service_process import ServiceProcess

    process = ServiceProcess(broker_url, fresh_database).start()
    yield process
    process.stop()
