"""The /ready checks against the real broker and PostgreSQL, and against closed ports."""

from __future__ import annotations

import asyncio
import time

import asyncpg
import pytest
from yarl import URL

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


class StallingRelay:
    """A TCP relay to PostgreSQL that can stop relaying: a server that hangs, as a frozen one."""

    def __init__(self, target: URL):
        self.target = target
        self.flowing = asyncio.Event()
        self.flowing.set()
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> StallingRelay:
        self.server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.flowing.set()
        self.server.close()

    @property
    def dsn(self) -> str:
        port = self.server.sockets[0].getsockname()[1]
        return str(self.target.with_host("127.0.0.1").with_port(port))

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        up_reader, up_writer = await asyncio.open_connection(self.target.host, self.target.port)

        async def pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
            while data := await source.read(65536):
                await self.flowing.wait()
                sink.write(data)
                await sink.drain()
            sink.close()

        await asyncio.gather(pipe(reader, up_writer), pipe(up_reader, writer),
                             return_exceptions=True)


async def test_a_hung_database_is_reported_within_the_timeout_not_the_command_timeout(
        fresh_database):
    async with StallingRelay(URL(fresh_database)) as relay:
        pool = await asyncpg.create_pool(relay.dsn, min_size=1, max_size=2, command_timeout=8)
        try:
            check = DatabaseCheck(lambda: pool, timeout_s=1)
            assert (await check()).ok
            relay.flowing.clear()  # PostgreSQL stops answering

            started = time.monotonic()
            result = await check()
            took = time.monotonic() - started

            assert not result.ok and result.detail == "no answer within 1s"
            assert took < 3, took  # the pool's cancelled query would hold it for 8 s
            relay.flowing.set()
            assert (await check()).ok  # the abandoned query finishes; the pool serves again
        finally:
            relay.flowing.set()
            await pool.close()
