"""Session-wide real infrastructure, and fresh databases and service processes for tests."""

from __future__ import annotations

import contextlib

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


@contextlib.asynccontextmanager
async def new_database(server_dsn: str):
    """A new, migrated database on the shared server; dropped afterwards."""
    name = unique_name("test")
    admin = await asyncpg.connect(server_dsn)
    await admin.execute(f'CREATE DATABASE "{name}"')
    dsn = database_dsn(server_dsn, name)
    connection = await asyncpg.connect(dsn)
    await migrate(connection)
    await connection.close()
    try:
        yield dsn
    finally:
        await admin.execute(f'DROP DATABASE "{name}" WITH (FORCE)')
        await admin.close()


@pytest.fixture
async def fresh_database(postgres):
    async with new_database(postgres[0]) as dsn:
        yield dsn


@pytest.fixture(scope="module")
async def module_database(postgres):
    async with new_database(postgres[0]) as dsn:
        yield dsn


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


@pytest.fixture(scope="module")
def module_service(broker_url, module_database):
    """One service process shared by a module's tests (use distinct record ids per test)."""
    from service_process import ServiceProcess

    process = ServiceProcess(broker_url, module_database).start()
    yield process
    process.stop()


@pytest.fixture(scope="module")
def salesforce():
    """A local fake of Salesforce's REST API that simple-salesforce really calls, empty (a module
    that needs records in it overrides this fixture)."""
    from fake_salesforce import FakeSalesforce

    with FakeSalesforce(api_version="64.0", session_id="x") as fake:
        yield fake


@pytest.fixture(scope="module")
def salesforce_settings(salesforce) -> dict[str, str]:
    """How a module's `salesforce_service` reaches the fake (override to change them)."""
    return salesforce.service_settings()


@pytest.fixture(scope="module")
def salesforce_service(broker_url, module_database, salesforce_settings):
    """One service process shared by a module's tests, reading Salesforce from the fake."""
    from service_process import ServiceProcess

    process = ServiceProcess(broker_url, module_database, **salesforce_settings).start()
    yield process
    process.stop()
