"""PostgreSQL connections: one pool per process, JSON and UUID codecs, retries on transient
errors."""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

import asyncpg
import orjson

log = logging.getLogger(__name__)
T = TypeVar("T")

# SQLSTATE classes worth retrying: connection exceptions, serialization failures and deadlocks,
# server shutting down or starting up, insufficient resources.
TRANSIENT_SQLSTATE_PREFIXES = ("08", "40001", "40P01", "57P", "53")


def is_transient(error: BaseException) -> bool:
    if isinstance(error, (OSError, asyncio.TimeoutError, asyncpg.InterfaceError)):
        return True
    if isinstance(error, asyncpg.PostgresConnectionError):
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 8,
    base_delay: float = 0.05,
    max_delay: float = 2.0,
    what: str = "database operation",
) -> T:
    """Run `operation`, retrying transient errors with exponential backoff and full jitter."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            delay = random.uniform(0, min(max_delay, base_delay * 2**attempt))
            log.warning("%s failed (%s: %s), retry %d/%d in %.2fs", what,
                        type(error).__name__, error, attempt, attempts - 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _init_connection(connection: asyncpg.Connection) -> None:
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", format="text",
        encoder=lambda value: orjson.dumps(value).decode(), decoder=orjson.loads,
    )
    await connection.set_type_codec(
        "uuid", schema="pg_catalog", format="text", encoder=str, decoder=str
    )


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, command_timeout: float = 30.0
) -> asyncpg.Pool:
    async def connect() -> asyncpg.Pool:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout,
            init=_init_connection,
        )

    return await with_retries(connect, attempts=20, what="connecting to PostgreSQL")
