"""Projection agent: a separate consumer of domain events keeping the read-model tables."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
import orjson

from projections.record_view import VersionGap, apply_event, rebuild
from projections.tables import ReadModelTables, external_id_key

log = logging.getLogger(__name__)

HistoryReader = Callable[[str], Awaitable[list[Mapping[str, Any]]]]


def register_projection_agent(
    app: faust.App, domain_events: faust.TopicT, tables: ReadModelTables, history: HistoryReader
) -> None:
    @app.agent(domain_events, name="project-read-models")
    async def project_read_models(stream: faust.StreamT) -> None:
        async for raw in stream:
            event = orjson.loads(raw)
            await project(tables, event, history)


async def project(tables: ReadModelTables, event: Mapping[str, Any],
                  history: HistoryReader) -> None:
    table = tables.views.get(event["aggregate_type"])
    if table is None:
        log.warning("no view for aggregate type %r", event["aggregate_type"])
        return
    aggregate_id = event["aggregate_id"]
    current = table.get(aggregate_id)
    try:
        view = apply_event(current, event)
    except VersionGap as gap:
        log.warning("%s: repairing from the event store", gap)
        view = rebuild(await history(aggregate_id))
    if view is None:
        return
    table[aggregate_id] = view
    for provider, external_id in view["external_ids"].items():
        key = external_id_key(view["aggregate_type"], provider, external_id)
        if tables.external_ids.get(key) != aggregate_id:
            tables.external_ids[key] = aggregate_id
