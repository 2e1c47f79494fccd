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


class PostgresIdentityMap:
    def __init__(self, pool: asyncpg.Pool, *, cache_size: int = 100_000):
        self.pool = pool
        self.cache_size = cache_size
        self._cache: OrderedDict[Key, str] = OrderedDict()

    async def aggregate_ids(self, keys: Sequence[Key]) -> dict[Key, str]:
        found = {key: self._cache[key] for key in keys if key in self._cache}
        missing = list(dict.fromkeys(key for key in keys if key not in found))
        if missing:
            found.update(await with_retries(lambda: self._assign(missing), what="identity map"))
            for key in missing:
                self._remember(key, found[key])
        return found

    async def _assign(self, keys: list[Key]) -> dict[Key, str]:
        columns = ([k[0] for k in keys], [k[1] for k in keys], [k[2] for k in keys])
        async with self.pool.acquire() as connection:
            await connection.execute(
                "INSERT INTO identities (provider, entity, external_id, aggregate_id) "
                "SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::uuid[]) "
                "ON CONFLICT DO NOTHING",
                *columns, [new_id() for _ in keys],
            )
            rows = await connection.fetch(
                "SELECT i.provider, i.entity, i.external_id, i.aggregate_id FROM identities i "
                "JOIN unnest($1::text[], $2::text[], $3::text[]) "
                "AS k(provider, entity, external_id) "
                "USING (provider, entity, external_id)",
                *columns,
            )
        return {(row[0], row[1], row[2]): row[3] for row in rows}

    def _remember(self, key: Key, aggregate_id: str) -> None:
        self._cache[key] = aggregate_id
        if len(self._cache) > self.cache_size:
            self._cache.popitem(last=False)
