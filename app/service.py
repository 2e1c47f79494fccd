"""Assembles the whole service in one process: bridge, command agents, projection agent,
read API, on one Faust app."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import asyncpg
import faust

from app.agents import register_command_agents
from app.bridge import register_bridge
from app.db import with_retries
from app.faust_app import create_app, declare_topics
from app.hubspot_bridge import register_hubspot_bridge
from app.operations_api import register_operations_api
from app.pipedrive_bridge import register_pipedrive_bridge
from app.runtime import Runtime
from app.settings import Settings
from projections import event_feed, rebuild
from projections.advances import TableAdvances
from projections.agents import ConsumedOffsets, register_projection_agent
from projections.catalog import projections
from projections.cluster import Cluster
from projections.generations import Generation
from projections.generations import current as current_generations
from projections.lost_rebuilds import forget_lost_rebuilds
from projections.read_access import ReadAccess
from projections.read_api import register_read_api
from projections.tables import ProjectionTables, declare_tables

log = logging.getLogger(__name__)


def build_service(settings: Settings, generations: Mapping[str, Generation] | None = None
                  ) -> tuple[faust.App, Runtime]:
    """`generations`: the table generation each projection serves (default: the newest built
    one recorded in PostgreSQL)."""
    if generations is None:
        generations = load_generations(settings)
    app = create_app(settings)
    topics = declare_topics(app, settings)
    runtime = Runtime(settings, topics)
    register_bridge(app, topics.inbound["salesforce"], settings)
    register_hubspot_bridge(app, topics.inbound["hubspot"], settings)
    register_pipedrive_bridge(app, topics.inbound["pipedrive"], settings)
    register_command_agents(app, runtime, settings)
    register_read_side(app, runtime, topics.domain_events, settings, generations)
    return app, runtime


def load_generations(settings: Settings) -> dict[str, Generation]:
    """Read before the worker's event loop exists, so on a thread with a loop of its own. A
    rebuilt generation whose changelog the broker lost is forgotten (`lost_rebuilds`)."""

    async def load() -> dict[str, Generation]:
        connection = await with_retries(lambda: asyncpg.connect(settings.postgres_dsn),
                                        attempts=20, what="connecting to PostgreSQL")
        try:
            newest = await current_generations(connection, list(projections()))
            return await forget_lost_rebuilds(
                connection, newest, bootstrap=rebuild.bootstrap_servers(settings.broker_url),
                app_id=settings.app_id)
        finally:
            await connection.close()

    with ThreadPoolExecutor(max_workers=1) as thread:
        return thread.submit(asyncio.run, load()).result()


def register_read_side(app: faust.App, runtime: Runtime, domain_events: faust.TopicT,
                       settings: Settings, generations: Mapping[str, Generation]) -> None:
    catalog = projections()
    tables = declare_tables(app, catalog, {name: g.number for name, g in generations.items()},
                            settings.topic_partitions)
    consumed = ConsumedOffsets()
    advances = table_advances(app)
    register_projection_agent(app, domain_events, tables, runtime.history, consumed,
                              settings.projection_batch_size, settings.projection_batch_within_s,
                              settings.projection_entries_kept, advances)

    async def events_after(position: int, aggregate_types: frozenset[str]) -> int:
        assert runtime.pool is not None
        return await event_feed.count_after(runtime.pool, position, aggregate_types)

    register_read_api(
        app, tables, Cluster(app, settings.topic_partitions), runtime.history,
        events_after=events_after,
        consumer_lag=lambda partitions: consumed.lag(app.consumer, domain_events, partitions),
        is_ready=lambda: runtime.ready, access=ReadAccess(settings.read_keys), advances=advances)
    register_operations_api(app, runtime, settings, consumed)
    _register_catch_up(app, runtime, tables, generations)


def table_advances(app: faust.App) -> TableAdvances:
    """Reads waiting for a version look again when partitions move, and stop waiting when the
    worker stops (its web server would wait for them)."""
    advances = TableAdvances()

    async def moved(app: faust.App, partitions: set, **kwargs: Any) -> None:
        advances.wake_all()

    async def stopping(app: faust.App, **kwargs: Any) -> None:
        advances.stop()

    app.on_partitions_revoked.connect(moved)
    app.on_partitions_assigned.connect(moved)
    app.on_before_shutdown.connect(stopping)
    return advances


def _register_catch_up(app: faust.App, runtime: Runtime, tables: ProjectionTables,
                       generations: Mapping[str, Generation]) -> None:
    rebuilt = [g for g in generations.values() if g.needs_catch_up]
    if not rebuilt:
        return

    @app.task
    async def catch_up_rebuilt_generations() -> None:
        while runtime.handler is None or runtime.store is None or runtime.pool is None:
            await asyncio.sleep(0.1)
        for generation in rebuilt:
            republished = await rebuild.catch_up(
                tables[generation.projection].projection, generation, runtime.pool,
                runtime.store.read_all, runtime.handler.publisher.publish)
            log.info("%s: generation %d is live; republished %d events recorded after its "
                     "rebuild", generation.projection, generation.number, republished)
