"""How an operator command ends when it cannot go on: one line saying what failed and why (a
setting, PostgreSQL, Kafka) and a non-zero exit, never a traceback; and the quick connection
checks that let it fail so before doing any work."""

from __future__ import annotations

import contextlib
import logging
import sys
from collections.abc import Iterator
from typing import NoReturn

import asyncpg
from aiokafka.errors import KafkaConnectionError, KafkaError
from pydantic import ValidationError

from app.settings import Settings

CONNECT_TIMEOUT_S = 10.0


def fail(message: str, exit_code: int = 1) -> NoReturn:
    print(message, file=sys.stderr)
    raise SystemExit(exit_code)


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"]).upper()
            where = f"{variable}: " if variable else ""  # a rule across settings names them
            print(f"configuration error: {where}{problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


class CommandFailed(Exception):
    """Ends a command with its message, on one line, and `exit_code`."""

    exit_code = 1


class ConfigurationError(CommandFailed):
    exit_code = 2

    def __init__(self, variable: str, problem: str):
        super().__init__(f"configuration error: {variable}: {problem}")


class ServiceUnreachable(CommandFailed):
    """PostgreSQL or Kafka did not answer; the message says which, and why."""


def describe(error: BaseException) -> str:
    """`Type: message`, as aiokafka's errors already print themselves; a timeout that says
    nothing, as one."""
    name, text = type(error).__name__, str(error)
    if not text:
        return "timed out" if isinstance(error, TimeoutError) else name
    return text if text.startswith(name) else f"{name}: {text}"


@contextlib.contextmanager
def failures_in_one_line() -> Iterator[None]:
    """A bad setting, or PostgreSQL or Kafka failing a command, ends it with one line (exit 2 or
    1), as `status --database` does: the operator needs what failed and why, not a traceback."""
    try:
        yield
    except CommandFailed as error:
        fail(str(error), error.exit_code)
    except KafkaConnectionError as error:
        fail(f"broker unreachable: {describe(error)}")
    except KafkaError as error:
        fail(f"broker error: {describe(error)}")
    except asyncpg.PostgresError as error:  # the server refused: a login, a database, a table
        fail(f"database error: {describe(error)}")


async def connect_database(settings: Settings) -> asyncpg.Connection:
    """A connection, or a one-line failure within seconds: the service's pool retries for half a
    minute, which suits a server restarting under a worker, not an operator at a prompt."""
    try:
        return await asyncpg.connect(settings.postgres_dsn, timeout=CONNECT_TIMEOUT_S)
    except ValueError as error:  # asyncpg could not parse the DSN
        raise ConfigurationError("DATABASE_URL", str(error)) from None
    except OSError as error:  # refused, no such host, timed out
        unset = " (DATABASE_URL is unset: is `crm-events run` running?)"
        raise ServiceUnreachable(f"database unreachable: {describe(error)}"
                                 f"{unset if settings.embedded_postgres else ''}") from error


async def check_broker(settings: Settings) -> None:
    """Fail before any work when Kafka does not answer (a rebuild would first fold the whole
    event store)."""
    from aiokafka.admin import AIOKafkaAdminClient

    from projections.rebuild import bootstrap_servers

    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap_servers(settings.broker_url),
                                request_timeout_ms=int(CONNECT_TIMEOUT_S * 1000))
    try:
        with _quiet("aiokafka"):  # its own ERROR line would come before ours, saying less
            await admin.start()
    except ValueError as error:  # a port that is not a number
        raise ConfigurationError("KAFKA_BROKER_URL", str(error)) from None
    except KafkaError as error:
        unset = " (KAFKA_BROKER_URL is unset: is `crm-events run` running?)"
        raise ServiceUnreachable(f"broker unreachable: {describe(error)}"
                                 f"{unset if settings.embedded_broker else ''}") from error
    finally:
        await admin.close()


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    logger = logging.getLogger(logger_name)
    level = logger.level
    logger.setLevel(logging.CRITICAL)
    try:
        yield
    finally:
        logger.setLevel(level)


async def check_services(settings: Settings) -> None:
    connection = await connect_database(settings)
    await connection.close()
    await check_broker(settings)
