"""Which generation of each projection's table the service serves, kept in PostgreSQL.

Generation 1 of every projection is the one the projection agent fills from the first start.
A rebuild writes generation n+1 (a new table, so a new changelog topic) while the service keeps
serving generation n, and records it here as `built` with the event-store position it was built
through. Workers pick the newest built generation when they start (after `lost_rebuilds` has
forgotten one whose changelog the broker lost); the first worker to start on it republishes the
events recorded after that position (so the new table also gets what the old one consumed
meanwhile; applying them twice changes nothing) and marks it `live`.

The table is created here, idempotently, because only the read side uses it.
"""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

SCHEMA = """
CREATE TABLE IF NOT EXISTS projection_generations (
    projection      text        NOT NULL,
    generation      integer     NOT NULL CHECK (generation > 1),
    built_through   bigint      NOT NULL,
    events          bigint      NOT NULL,
    status          text        NOT NULL CHECK (status IN ('built', 'live')),
    built_at        timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (projection, generation)
)
"""


@dataclass(frozen=True)
class Generation:
    projection: str
    number: int
    built_through: int = 0
    status: str = "live"
    events: int = 0  # how many events the rebuild folded into it

    @property
    def needs_catch_up(self) -> bool:
        return self.status == "built"


async def ensure_schema(connection: asyncpg.Connection | asyncpg.Pool) -> None:
    await connection.execute(SCHEMA)


async def current(connection: asyncpg.Connection | asyncpg.Pool,
                  names: list[str]) -> dict[str, Generation]:
    """The newest built generation of each projection (generation 1 when never rebuilt)."""
    await ensure_schema(connection)
    rows = await connection.fetch(
        "SELECT DISTINCT ON (projection) projection, generation, built_through, status, events "
        "FROM projection_generations ORDER BY projection, generation DESC")
    found = {row["projection"]: Generation(row["projection"], row["generation"],
                                           row["built_through"], row["status"], row["events"])
             for row in rows}
    return {name: found.get(name, Generation(name, 1)) for name in names}


async def record_built(connection: asyncpg.Connection | asyncpg.Pool, projection: str,
                       generation: int, built_through: int, events: int) -> None:
    await ensure_schema(connection)
    await connection.execute(
        "INSERT INTO projection_generations (projection, generation, built_through, events, "
        "status) VALUES ($1, $2, $3, $4, 'built')", projection, generation, built_through, events)


async def mark_live(connection: asyncpg.Connection | asyncpg.Pool, projection: str,
                    generation: int) -> None:
    await connection.execute(
        "UPDATE projection_generations SET status = 'live' "
        "WHERE projection = $1 AND generation = $2", projection, generation)


async def forget_built(connection: asyncpg.Connection | asyncpg.Pool, projection: str,
                       generation: int) -> bool:
    """Delete a generation no worker has served yet, so the one before it is served again.
    A live generation stays: workers hold its table. Whether a row was deleted."""
    deleted = await connection.execute(
        "DELETE FROM projection_generations "
        "WHERE projection = $1 AND generation = $2 AND status = 'built'", projection, generation)
    return deleted == "DELETE 1"
