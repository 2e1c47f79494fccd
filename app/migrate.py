"""Versioned schema migrations, applied at start.

Idempotent (each file runs once, recorded in `schema_migrations`), serialised across workers by an
advisory lock; a database newer than this code refuses to start.
"""

from __future__ import annotations

import logging
import re
from importlib import resources

import asyncpg

log = logging.getLogger(__name__)

MIGRATION_LOCK = 72_443_001  # advisory lock id: one migrator at a time


class SchemaTooNew(RuntimeError):
    pass


def migration_files() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every bundled migration, in version order."""
    found = []
    for entry in resources.files("app.schema").iterdir():
        match = re.fullmatch(r"(\d{4})_(.+)\.sql", entry.name)
        if match:
            found.append((int(match[1]), match[2], entry.read_text()))
    return sorted(found)


async def migrate(connection: asyncpg.Connection) -> int:
    """Apply pending migrations; return the schema version now in the database."""
    migrations = migration_files()
    known = migrations[-1][0] if migrations else 0
    async with connection.transaction():
        await connection.execute("SELECT pg_advisory_xact_lock($1)", MIGRATION_LOCK)
        await connection.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations ("
            " version integer PRIMARY KEY, name text NOT NULL,"
            " applied_at timestamptz NOT NULL DEFAULT now())"
        )
        current = await connection.fetchval(
            "SELECT coalesce(max(version), 0) FROM schema_migrations"
        )
        if current > known:
            raise SchemaTooNew(
                f"the database schema is at version {current}, but this code knows only up to "
                f"{known}: upgrade crm-events before starting it against this database"
            )
        for version, name, sql in migrations:
            if version > current:
                log.info("applying migration %04d_%s", version, name)
                await connection.execute(sql)
                await connection.execute(
                    "INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", version, name
                )
    return max(current, known)
