"""Kafka sides of the command handler: domain events out, dead letters out."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import faust
import orjson

from app import metrics
from app.batch_send import partition_for, send_batches, started_producer
from app.dead_letters import DeadLetter
from app.event_store import StoredEvent
from app.structured_logging import correlated

log = logging.getLogger(__name__)


class DomainEventPublisher:
    """Sends stored events keyed by aggregate id (per-aggregate order) and awaits every ack.

    Straight through the app's aiokafka producer, in whole batches per partition (the
    partition Kafka's default partitioner gives the aggregate id, as `Topic.send` would): Faust's
    `Topic.send` wraps every message in futures and a callback chain, and even aiokafka's own
    per-message `send` cost more than the rest of publishing.
    """

    def __init__(self, topic: faust.TopicT):
        self.topic = topic
        self._partitions: int | None = None

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        producer = await started_producer(self.topic.app)
        name = self.topic.get_topic_name()
        if self._partitions is None:
            self._partitions = len(await producer.partitions_for(name))
        partitions = self._partitions
        await send_batches(producer, name, (
            (partition_for(stored.event.aggregate_id, partitions),
             stored.event.aggregate_id.encode(), stored.to_json())
            for stored in events))


class DeadLetterTopic:
    def __init__(self, topic: faust.TopicT):
        self.topic = topic

    async def send(self, dead_letters: Sequence[DeadLetter]) -> None:
        sends = [
            await self.topic.send(key=(letter.source_event_id or letter.stage).encode(),
                                  value=orjson.dumps(letter.to_record()))
            for letter in dead_letters
        ]
        await asyncio.gather(*sends)
        for letter in dead_letters:
            metrics.DEAD_LETTERS.labels(letter.stage).inc()
            with correlated([letter.message.correlation_id]):
                log.warning("dead-lettered %s at stage %s: %s",
                            letter.source_event_id or f"{letter.message.topic}:"
                            f"{letter.message.partition}:{letter.message.offset}",
                            letter.stage, letter.reason)
