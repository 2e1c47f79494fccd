"""The read-model tables, declared once: one current-state table per aggregate type, and an
index from (provider, external id) to aggregate id."""

from __future__ import annotations

from dataclasses import dataclass

import faust

AGGREGATE_TYPES = ("client", "contact", "deal")


@dataclass(frozen=True)
class ReadModelTables:
    views: dict[str, faust.Table]  # aggregate type -> table of current state by aggregate id
    external_ids: faust.Table  # "type:provider:external id" -> aggregate id

    def view_table(self, aggregate_type: str) -> faust.Table:
        return self.views[aggregate_type]


def declare_tables(app: faust.App, partitions: int) -> ReadModelTables:
    def table(name: str) -> faust.Table:
        schema = faust.Schema(key_serializer="json", value_serializer="json")
        return app.Table(name, partitions=partitions, schema=schema)

    return ReadModelTables(
        views={kind: table(f"{kind}s") for kind in AGGREGATE_TYPES},
        external_ids=table("external-ids"),
    )


def external_id_key(aggregate_type: str, provider: str, external_id: str) -> str:
    return f"{aggregate_type}:{provider}:{external_id}"
