"""The identity map in PostgreSQL: (provider, entity, external id) -> aggregate UUID.

Race-safe: the primary key decides which UUID wins when two workers see a new record at once.
Mappings never change once made, so they are cached in memory.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence

import asyncpg

from app.db import with_retries
from domain.ids import new_id

Key = tuple[str, str, str]


LOOKUP = ("SELECT i.provider, i.entity, i.external_id, i.aggregate_id FROM identities i "
          "JOIN unnest($1::text[], $2::text[], $3::text[]) AS k(provider, entity, external_id) "
          "USING (provider, entity, external_id)")

# The keys go as one JSON array of [provider, entity, external id, id to mint], and the
# answer comes back as one (see `app.event_store_queries` for why).
ASSIGN = """
WITH wanted AS (
    SELECT k->>0 AS provider, k->>1 AS entity, k->>2 AS external_id, (k->>3)::uuid AS aggregate_id
    FROM jsonb_array_elements($1::jsonb) AS k
), minted AS (
    INSERT INTO identities (provider, entity, external_id, aggregate_id)
    SELECT * FROM wanted ON CONFLICT DO NOTHING
    RETURNING provider, entity, external_id, aggregate_id
)
SELECT jsonb_agg(jsonb_build_array(provider, entity, external_id, aggregate_id, minted)) FROM (
    SELECT provider, entity, external_id, aggregate_id, true AS minted FROM minted
    UNION ALL
    SELECT i.provider, i.entity, i.external_id, i.aggregate_id, false FROM identities i
    JOIN wanted USING (provider, entity, external_id)
) AS found
"""


def _columns(keys: Sequence[Key]) -> tuple[list[str], list[str], list[str]]:
    return [k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys]


class Identities(dict[Key, str]):
    """Aggregate ids by key, and the ids this call minted: a new aggregate has no history yet,
    so it needs no load."""

    def __init__(self, found: dict[Key, str], minted: set[str]):
        super().__init__(found)
        self.minted = minted


class PostgresIdentityMap:
    def __init__(self, pool: asyncpg.Pool, *, cache_size: int = 100_000):
        self.pool = pool
        self.cache_size = cache_size
        self._cache: OrderedDict[Key, str] = OrderedDict()

    async def aggregate_ids(self, keys: Sequence[Key]) -> Identities:
        found = {key: self._cache[key] for key in keys if key in self._cache}
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        minted: set[str] = set()
        if missing:
            assigned, minted = await with_retries(lambda: self._assign(missing),
                                                  what="identity map")
            found.update(assigned)
            for key in missing:
                self._remember(key, found[key])
        return Identities(found, minted)

    async def _assign(self, keys: list[Key]) -> tuple[dict[Key, str], set[str]]:
        """One statement: the rows this call inserted (RETURNING) and those that existed. A key
        another worker inserted while this statement ran is in neither (its snapshot predates
        that commit): it is read again."""
        async with self.pool.acquire() as connection:
            rows = await connection.fetchval(ASSIGN, [[*key, new_id()] for key in keys]) or []
            found = {(row[0], row[1], row[2]): row[3] for row in rows}
            raced = [key for key in keys if key not in found]
            if raced:
                found.update({(row[0], row[1], row[2]): row[3]
                              for row in await connection.fetch(LOOKUP, *_columns(raced))})
        return found, {row[3] for row in rows if row[4]}

    def _remember(self, key: Key, aggregate_id: str) -> None:
        self._cache[key] = aggregate_id
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
