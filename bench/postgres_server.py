"""The PostgreSQL every section runs on: DATABASE_URL's server, or an embedded one in a
temporary directory; each section gets a database of its own."""

from __future__ import annotations

import asyncio
import contextlib
import os
import tempfile
import uuid
from collections.abc import Iterator
from pathlib import Path

import asyncpg

from app.embedded import EmbeddedPostgres, free_port


@contextlib.contextmanager
def benchmark_server() -> Iterator[str]:
    """The server DSN (its maintenance database)."""
    if os.environ.get("DATABASE_URL"):
        yield os.environ["DATABASE_URL"]
        return
    with tempfile.TemporaryDirectory(prefix="crm-bench-") as directory:
        server = EmbeddedPostgres(Path(directory) / "pg", free_port()).start()
        try:
            yield server.dsn
        finally:
            server.stop("immediate")


@contextlib.contextmanager
def new_database(server_dsn: str, prefix: str) -> Iterator[str]:
    """A new, empty database on the server, dropped afterwards."""
    name = f"{prefix}_{uuid.uuid4().hex[:8]}"
    asyncio.run(_admin(server_dsn, f'CREATE DATABASE "{name}"'))
    try:
        yield f"{server_dsn.rpartition('/')[0]}/{name}"
    finally:
        asyncio.run(_admin(server_dsn, f'DROP DATABASE "{name}" WITH (FORCE)'))


async def _admin(server_dsn: str, statement: str) -> None:
    connection = await asyncpg.connect(server_dsn)
    try:
        await connection.execute(statement)
    finally:
        await connection.close()
