"""Kafka sides of the command handler: domain events out, dead letters out."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import faust
import orjson

from app.dead_letters import DeadLetter
from app.event_store import StoredEvent


class DomainEventPublisher:
    """Sends stored events keyed by aggregate id (per-aggregate order) and awaits every ack."""

    def __init__(self, topic: faust.TopicT):
        self.topic = topic

    async def publish(self, events: Sequence[StoredEvent]) -> None:
        sends = [
            await self.topic.send(key=stored.event.aggregate_id.encode(),
                                  value=orjson.dumps(stored.to_message()))
            for stored in events
        ]
        await asyncio.gather(*sends)


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
