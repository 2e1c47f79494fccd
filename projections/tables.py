"""The projections' Faust tables, declared once: one table per projection and generation.

Keys are raw UTF-8 strings, so a record's key in the changelog is byte-for-byte the key of its
domain events, and Faust's key routing (`app.table_route`) hashes it to the partition, hence the
worker, that owns it. (Faust's own tables serialize str keys as JSON, which hashes differently.)
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import faust

from projections.projection import Projection

ROCKSDB_OPTIONS = {  # modest per-partition buffers: several tables x partitions per worker
    "write_buffer_size": 8 * 1024 * 1024,
    "block_cache_size": 32 * 1024 * 1024,
    "block_cache_compressed_size": 8 * 1024 * 1024,
}


class RawKeyTable(faust.Table):
    """A table whose str keys are stored and sent as their UTF-8 bytes."""

    def _serializer_from_type(self, typ: object) -> object:
        return "raw" if typ is str else super()._serializer_from_type(typ)


@dataclass(frozen=True)
class ProjectionTable:
    projection: Projection
    generation: int
    table: faust.Table

    @property
    def name(self) -> str:
        return self.projection.name

    @property
    def changelog_topic(self) -> str:
        return self.table.changelog_topic.get_topic_name()


def table_name(projection_name: str, generation: int) -> str:
    return f"{projection_name}-g{generation}"


def changelog_topic(app_id: str, projection_name: str, generation: int) -> str:
    """Faust's name for a table's changelog topic."""
    return f"{app_id}-{table_name(projection_name, generation)}-changelog"


class ProjectionTables(Mapping[str, ProjectionTable]):
    def __init__(self, tables: Mapping[str, ProjectionTable]):
        self._tables = dict(tables)

    def __getitem__(self, name: str) -> ProjectionTable:
        return self._tables[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._tables)

    def __len__(self) -> int:
        return len(self._tables)

    def serving(self, collection: str) -> ProjectionTable | None:
        return next((t for t in self._tables.values()
                     if t.projection.collection == collection), None)

    def with_view(self, view: str) -> ProjectionTable | None:
        return next((t for t in self._tables.values() if view in t.projection.views), None)


def declare_tables(app: faust.App, projections: Mapping[str, Projection],
                   generations: Mapping[str, int], partitions: int) -> ProjectionTables:
    rocksdb = str(app.conf.store).startswith("rocksdb")

    def declare(projection: Projection) -> ProjectionTable:
        generation = generations.get(projection.name, 1)
        table = app.tables.add(RawKeyTable(
            app,
            name=table_name(projection.name, generation),
            beacon=app.tables.beacon,
            partitions=partitions,
            key_type=str,
            options=dict(ROCKSDB_OPTIONS) if rocksdb else None,
            help=projection.description,
        ))
        return ProjectionTable(projection, generation, table)

    return ProjectionTables({name: declare(p) for name, p in projections.items()})
