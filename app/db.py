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
    """Would the same operation succeed later? Lost connections, a server restarting, a
    serialization failure: yes. Bad SQL, a violated constraint, a bad argument: never."""
    if isinstance(error, OSError):  # refused or reset connections, and timeouts
        return True
    if isinstance(error, asyncpg.InterfaceError):
        # "connection is closed" and the like; its subclasses (bad arguments, client
        # configuration, unsupported features) are the caller's mistakes.
        return type(error) is asyncpg.InterfaceError
    if isinstance(error, asyncpg.exceptions.InternalClientError):
        # A stale statement cache, or a pooled connection the server terminated while idle
        # (asyncpg issue #1069: "cannot switch to state ..."); the pool discards that connection.
        return True
    sqlstate = getattr(error, "sqlstate", None) or ""
    return sqlstate.startswith(TRANSIENT_SQLSTATE_PREFIXES)


def backoff_delay(attempt: int, *, base_delay: float = 0.05, max_delay: float = 2.0) -> float:
    """Exponential backoff with equal jitter: between half and all of min(max, base * 2^n).

    Half is kept so that the retries of one operation span a known minimum time (about 5.5 s
    over 10 attempts): enough to outlast a server restart, however the dice fall.
    """
    cap = min(max_delay, base_delay * 2**attempt)
    return cap / 2 + random.uniform(0, cap / 2)


async def with_retries(
    operation: Callable[[], Awaitable[T]],
    *,
    attempts: int = 10,
    what: str = "database operation",
) -> T:
    """Run `operation`, retrying transient errors with backoff; anything else raises at once."""
    for attempt in range(1, attempts + 1):
        try:
            return await operation()
        except Exception as error:
            if attempt == attempts or not is_transient(error):
                raise
            delay = backoff_delay(attempt)
            log.warning("%s failed (%s: %s), retry %d/%d in %.2fs", what,
                        type(error).__name__, error, attempt, attempts - 1, delay)
            await asyncio.sleep(delay)
    raise AssertionError("unreachable")


async def _init_connection(connection: asyncpg.Connection) -> None:
    # jsonb's binary form is a version byte and the JSON text: no str round trip.
    await connection.set_type_codec(
        "jsonb", schema="pg_catalog", format="binary",
        encoder=lambda value: b"\x01" + orjson.dumps(value),
        decoder=lambda data: orjson.loads(data[1:]),
    )
    await connection.set_type_codec(
        "uuid", schema="pg_catalog", format="text", encoder=str, decoder=str
    )


async def _keep_session(connection: asyncpg.Connection) -> None:
    """What a released connection needs beyond the rollback of an open transaction (which the
    pool always does): nothing. The service sets no session state (no SET, LISTEN, advisory
    lock or cursor outside a transaction), and asyncpg's default reset query cost a round
    trip on every release, several per command batch."""


async def create_pool(
    dsn: str, *, min_size: int = 2, max_size: int = 10, command_timeout: float = 30.0
) -> asyncpg.Pool:
    async def connect() -> asyncpg.Pool:
        return await asyncpg.create_pool(
            dsn, min_size=min_size, max_size=max_size, command_timeout=command_timeout,
            init=_init_connection, reset=_keep_session,
        )

    return await with_retries(connect, attempts=20, what="connecting to PostgreSQL")
