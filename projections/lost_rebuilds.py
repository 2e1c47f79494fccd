"""Rebuilt generations whose table the broker lost before any worker served them.

Until a worker serves it, a rebuilt generation's table exists only in its changelog topic
(`rebuild.py`). The embedded broker keeps its topics in memory, so restarting `crm-events run`
after a rebuild loses that topic: a worker switching to the generation recovered an empty table
and answered 404 for nearly every record, though PostgreSQL holds them all. Such a generation is
forgotten at start instead, and the newest one before it served (the worker's store or its
changelog holds that one); the rebuild has to be run again. A live generation is never forgotten:
workers have served it, so their stores hold its table whatever the broker lost.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import asyncpg
from aiokafka import AIOKafkaConsumer, TopicPartition

from projections.generations import Generation, current, forget_built
from projections.rebuild import every_topic
from projections.tables import changelog_topic

log = logging.getLogger(__name__)


async def forget_lost_rebuilds(connection: asyncpg.Connection | asyncpg.Pool,
                               chosen: Mapping[str, Generation], *, bootstrap: str,
                               app_id: str) -> dict[str, Generation]:
    """`chosen` (as `generations.current` picks them), where each built generation whose
    changelog the broker lost is forgotten for the newest generation before it."""
    kept = dict(chosen)
    for name, generation in chosen.items():
        while generation.needs_catch_up:  # older built ones may be lost too
            topic = changelog_topic(app_id, name, generation.number)
            if holds_the_rebuild(generation, await changelog_end(bootstrap, topic)):
                break
            await forget_built(connection, name, generation.number)
            previous = (await current(connection, [name]))[name]
            log.warning("%s: generation %d is dropped: its changelog topic %s is missing or "
                        "empty (a restart of the embedded broker loses its topics); serving "
                        "generation %d. Run `crm-events projections rebuild %s` again",
                        name, generation.number, topic, previous.number, name)
            generation = previous
        kept[name] = generation
    return kept


def holds_the_rebuild(generation: Generation, end: int | None) -> bool:
    """Whether a changelog with `end` records written (None: no such topic) holds the table the
    rebuild wrote: it exists, with records if the rebuild folded any events."""
    return end is not None and (end > 0 or generation.events == 0)


async def changelog_end(bootstrap: str, topic: str) -> int | None:
    """How many records were written to `topic` (its partitions' end offsets added up), or None
    when the broker has no such topic."""
    partitions = await _partitions_of(bootstrap, topic)
    if not partitions:
        return None
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    try:
        await consumer.start()  # in the try: a consumer that failed to start is closed too
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return sum(ends.values())


async def _partitions_of(bootstrap: str, topic: str) -> list[TopicPartition]:
    metadata = await every_topic(bootstrap)
    return [TopicPartition(topic, p) for p in sorted(metadata.partitions_for_topic(topic) or ())]
