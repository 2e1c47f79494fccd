"""Readiness: may this worker take traffic? Unlike `/health` (the process is up and started),
`/ready` asks its dependencies now: the broker answers a metadata request, PostgreSQL answers a
query, and the read-model tables have recovered from their changelogs (no rebalance under way).
A failing check names itself and says why, so a 503 tells the operator where to look.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import asdict, dataclass

import asyncpg
from aiokafka import AIOKafkaClient


@dataclass(frozen=True)
class CheckResult:
    name: str
    ok: bool
    detail: str = ""


Check = Callable[[], Awaitable[CheckResult]]


class BrokerCheck:
    """A metadata round trip on a client of its own (the app's clients retry silently)."""

    name = "broker"

    def __init__(self, bootstrap_servers: str, timeout_s: float):
        self.bootstrap_servers = bootstrap_servers
        self.timeout_s = timeout_s
        self.client: AIOKafkaClient | None = None

    async def __call__(self) -> CheckResult:
        try:
            async with asyncio.timeout(self.timeout_s):
                if self.client is None:
                    client = AIOKafkaClient(bootstrap_servers=self.bootstrap_servers,
                                            request_timeout_ms=int(self.timeout_s * 1000))
                    try:
                        await client.bootstrap()
                    except BaseException:
                        await client.close()
                        raise
                    self.client = client
                metadata = await self.client.fetch_all_metadata()
        except Exception as error:
            return CheckResult(self.name, False, _why(error, self.timeout_s))
        return CheckResult(self.name, True, f"{len(metadata.brokers())} broker(s)")

    async def close(self) -> None:
        if self.client is not None:
            await self.client.close()
            self.client = None


class DatabaseCheck:
    """A query on the worker's pool, answered within the timeout or given up.

    Given up, not cancelled and awaited: a cancelled query's connection goes back to the pool
    only once the server answers, or after the pool's command timeout (30 s), and the probe
    would wait for that. The abandoned query finishes in the background."""

    name = "postgres"

    def __init__(self, pool: Callable[[], asyncpg.Pool | None], timeout_s: float):
        self.pool = pool
        self.timeout_s = timeout_s
        self._abandoned: set[asyncio.Task] = set()  # referenced until done

    async def __call__(self) -> CheckResult:
        pool = self.pool()
        if pool is None:
            return CheckResult(self.name, False, "connection pool not started yet")
        query = asyncio.ensure_future(pool.fetchval("SELECT 1"))
        done, _ = await asyncio.wait([query], timeout=self.timeout_s)
        if not done:
            self._abandon(query)
            return CheckResult(self.name, False, _why(TimeoutError(), self.timeout_s))
        if query.exception() is not None:
            return CheckResult(self.name, False, _why(query.exception(), self.timeout_s))
        return CheckResult(self.name, True)

    def _abandon(self, query: asyncio.Future) -> None:
        query.cancel()
        self._abandoned.add(query)
        query.add_done_callback(self._abandoned.discard)
        query.add_done_callback(lambda done: done.cancelled() or done.exception())  # retrieved


def tables_check(recovered: Callable[[], str | None]) -> Check:
    """`recovered` returns None when the tables are recovered, else what is still pending."""

    async def check() -> CheckResult:
        pending = recovered()
        return CheckResult("tables", pending is None, pending or "recovered")

    return check


async def readiness(checks: Sequence[Check]) -> tuple[bool, dict[str, dict]]:
    """Run every check at once; ready only when all pass."""
    results = await asyncio.gather(*(check() for check in checks))
    report = {result.name: {k: v for k, v in asdict(result).items() if k != "name"}
              for result in results}
    return all(result.ok for result in results), report


def _why(error: BaseException, timeout_s: float) -> str:
    if isinstance(error, TimeoutError):
        return f"no answer within {timeout_s:g}s"
    return f"{type(error).__name__}: {error}"
