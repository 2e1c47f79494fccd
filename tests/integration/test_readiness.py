"""The /ready checks against the real broker and PostgreSQL, and against closed ports."""

from __future__ import annotations

import asyncpg
import pytest

from app.embedded import free_port
from app.readiness import BrokerCheck, DatabaseCheck, readiness, tables_check
from projections.rebuild import bootstrap_servers


@pytest.fixture
async def broker_check(broker_url):
    check = BrokerCheck(bootstrap_servers(broker_url), timeout_s=5)
    yield check
    await check.close()


async def test_ready_when_broker_postgres_and_tables_all_answer(broker_check, pool):
    ready, report = await readiness([broker_check, DatabaseCheck(lambda: pool, 5),
                                     tables_check(lambda: None)])
    assert ready
    assert report == {"broker": {"ok": True, "detail": "1 broker(s)"},
                      "postgres": {"ok": True, "detail": ""},
                      "tables": {"ok": True, "detail": "recovered"}}


async def test_not_ready_names_the_database_when_postgres_is_unreachable(broker_check):
    # min_size=0: the pool connects on first use, as a worker's pool reconnects after an outage
    closed = await asyncpg.create_pool(f"postgresql://postgres@127.0.0.1:{free_port()}/x",
                                       min_size=0, max_size=1)
    try:
        ready, report = await readiness([broker_check, DatabaseCheck(lambda: closed, 2),
                                         tables_check(lambda: None)])
    finally:
        await closed.close()
    assert not ready
    assert report["broker"]["ok"] and report["tables"]["ok"]
    assert report["postgres"]["ok"] is False
    assert report["postgres"]["detail"].startswith("ConnectionRefusedError")


async def test_not_ready_names_the_broker_when_no_broker_answers(pool):
    check = BrokerCheck(f"127.0.0.1:{free_port()}", timeout_s=2)
    try:
        ready, report = await readiness([check, DatabaseCheck(lambda: pool, 5)])
    finally:
        await check.close()
    assert not ready
    assert report["broker"]["ok"] is False
    assert "Unable to bootstrap" in report["broker"]["detail"]
    assert report["postgres"] == {"ok": True, "detail": ""}


async def test_not_ready_while_the_pool_or_the_tables_are_not_there_yet():
    ready, report = await readiness([DatabaseCheck(lambda: None, 1),
                                     tables_check(lambda: "tables recovering")])
    assert not ready
    assert report == {"postgres": {"ok": False, "detail": "connection pool not started yet"},
                      "tables": {"ok": False, "detail": "tables recovering"}}
