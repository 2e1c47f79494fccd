"""The process's shared resources, wired in one place and started before the Faust app:
the PostgreSQL pool (schema migrated), the event store, the identity map and the command handler.
"""

from __future__ import annotations

import logging
from typing import Any

import asyncpg
from mode import Service

from app.aggregate_cache import AggregateCache
from app.command_handler import CommandHandler, Provider
from app.db import create_pool
from app.event_store import PostgresEventStore
from app.faust_app import Topics
from app.identity_map import PostgresIdentityMap
from app.kafka_io import DeadLetterTopic, DomainEventPublisher
from app.migrate import migrate
from app.providers import close_crm_clients, crm_providers
from app.settings import Settings

log = logging.getLogger(__name__)


class Runtime(Service):
    def __init__(self, settings: Settings, topics: Topics, **kwargs: Any):
        super().__init__(**kwargs)
        self.settings = settings
        self.topics = topics
        self.pool: asyncpg.Pool | None = None
        self.store: PostgresEventStore | None = None
        self.handler: CommandHandler | None = None
        self.ready = False

    async def on_start(self) -> None:
        s = self.settings
        self.pool = await create_pool(
            s.postgres_dsn, min_size=s.db_pool_min, max_size=s.db_pool_max,
            command_timeout=s.db_command_timeout_s)
        async with self.pool.acquire() as connection:
            version = await migrate(connection)
        log.info("PostgreSQL ready, schema version %d", version)
        self.store = PostgresEventStore(self.pool, snapshot_every=s.snapshot_every)
        self.handler = CommandHandler(
            providers=self._providers(),
            store=self.store,
            identities=PostgresIdentityMap(self.pool),
            publisher=DomainEventPublisher(self.topics.domain_events),
            dead_letters=DeadLetterTopic(self.topics.dead_letter),
            cache=AggregateCache(s.aggregate_cache_size),
            max_retries=s.command_max_retries,
            failpoint=s.failpoint,
            max_message_bytes=s.kafka_producer_max_batch_bytes,
        )

    async def on_stop(self) -> None:
        if self.handler is not None:
            await self.handler.stop_publishing()
            await close_crm_clients(self.handler.providers)
        if self.pool is not None:
            await self.pool.close()

    def _providers(self) -> dict[str, Provider]:
        return crm_providers(self.settings)

    async def history(self, aggregate_id: str, after_version: int = 0,
                      limit: int | None = None) -> list[dict[str, Any]]:
        assert self.store is not None
        return [stored.to_message()
                for stored in await self.store.events_of(aggregate_id, after_version, limit)]

    async def relay_outbox(self, older_than_s: float) -> int:
        """Publish committed events a crash (or a broker outage) left unpublished."""
        assert self.handler is not None
        relayed = await self.handler.relay_outbox(older_than_s)
        if relayed:
            log.info("outbox relay published %d committed events", relayed)
        return relayed
