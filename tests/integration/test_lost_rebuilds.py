"""A worker's start-up choice of generations, on the real broker and PostgreSQL: a rebuilt
generation whose changelog the broker lost (the embedded broker forgets its topics when it
restarts) is forgotten for the one before it, and one whose changelog holds the rebuild is
served."""

from __future__ import annotations

import asyncio
import logging
import uuid

import pytest
from event_store_support import history
from infrastructure import create_topics

from app.event_store import AppendRequest, PostgresEventStore
from app.service import load_generations
from app.settings import Settings
from projections import generations, rebuild
from projections.catalog import projections
from projections.tables import changelog_topic

PARTITIONS = 4


@pytest.fixture
def settings(broker_url, fresh_database) -> Settings:
    """The service's settings on the test broker and database, with an app id of its own (so
    its changelog topics are its own too)."""
    return Settings(kafka_broker_url=broker_url, database_url=fresh_database,
                    app_id=f"lost-{uuid.uuid4().hex[:8]}", topic_partitions=PARTITIONS)


async def start_up_choice(settings: Settings) -> dict[str, generations.Generation]:
    return await asyncio.to_thread(load_generations, settings)


async def recorded(pool) -> list[tuple[str, int, str]]:
    rows = await pool.fetch("SELECT projection, generation, status FROM projection_generations "
                            "ORDER BY projection, generation")
    return [tuple(row) for row in rows]


@pytest.mark.parametrize("changelog", ["missing", "empty"])
async def test_a_built_generation_without_its_changelog_is_dropped_for_the_previous_one(
        pool, settings, caplog, changelog):
    if changelog == "empty":
        bootstrap = rebuild.bootstrap_servers(settings.broker_url)
        await create_topics(bootstrap, [changelog_topic(settings.app_id, "clients", 2)],
                            PARTITIONS)
    await generations.record_built(pool, "clients", 2, built_through=40, events=40)

    with caplog.at_level(logging.WARNING, logger="projections.lost_rebuilds"):
        chosen = await start_up_choice(settings)

    assert chosen["clients"].number == 1
    assert await recorded(pool) == []
    warning = caplog.records[-1]
    assert warning.levelno == logging.WARNING
    assert "clients: generation 2 is dropped" in warning.getMessage()
    assert "crm-events projections rebuild clients" in warning.getMessage()


async def test_a_lost_built_generation_falls_back_to_the_live_one_before_it(pool, settings):
    """Generation 2 has been served (live), so it stays even though its changelog is gone
    too: the workers' stores hold it. Generation 3 was built and lost before any served it."""
    await generations.record_built(pool, "clients", 2, built_through=10, events=10)
    await generations.mark_live(pool, "clients", 2)
    await generations.record_built(pool, "clients", 3, built_through=20, events=20)

    chosen = await start_up_choice(settings)

    assert (chosen["clients"].number, chosen["clients"].status) == (2, "live")
    assert await recorded(pool) == [("clients", 2, "live")]


async def test_a_built_generation_whose_changelog_holds_the_rebuild_is_served(pool, settings):
    store = PostgresEventStore(pool)
    clients = [str(uuid.uuid4()) for _ in range(3)]
    await store.append_batch([AppendRequest(c, "client", 0, history(c, 2)) for c in clients])
    report = await rebuild.rebuild(projections()["clients"], pool,
                                   bootstrap=rebuild.bootstrap_servers(settings.broker_url),
                                   app_id=settings.app_id, partitions=PARTITIONS)

    chosen = await start_up_choice(settings)

    assert report.events == 6
    assert (chosen["clients"].number, chosen["clients"].status) == (2, "built")
    assert chosen["deals"].number == 1
    assert await recorded(pool) == [("clients", 2, "built")]
