"""What every CRM webhook endpoint does once it knows the sender: read the body within the size
limit, and produce the events to the provider's inbound topic, answering only after the broker
acknowledged them all.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

import faust
from faust.web import Request

from app import tracing

JSON_TYPES = ("application/json",)


async def read_body(request: Request, limit: int) -> bytes | None:
    """The raw body (signatures cover its exact bytes), or None when larger than `limit`."""
    if (request.content_length or 0) > limit:
        return None
    chunks, size = [], 0
    async for chunk in request.content.iter_any():
        size += len(chunk)
        if size > limit:
            return None
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass(frozen=True)
class Intake:
    """One accepted request: when it arrived and the correlation id its events carry."""

    provider: str
    correlation_id: str
    received_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def of(cls, request: Request, provider: str) -> Intake:
        return cls(provider, request.headers.get("X-Correlation-ID") or str(uuid.uuid4()))

    @property
    def headers(self) -> dict[str, bytes]:
        """With the bridge span's trace context, so the command's spans join its trace."""
        return tracing.inject({"correlation-id": self.correlation_id.encode()[:255],
                               "received-at": self.received_at.encode(),
                               "provider": self.provider.encode()})

    def answer(self, **details: object) -> dict[str, object]:
        return {"status": "accepted", "received_at": self.received_at,
                "correlation_id": self.correlation_id, **details}


async def produce_acked(inbound: faust.TopicT, intake: Intake,
                        messages: Sequence[tuple[str, bytes]], timeout: float) -> None:
    """Send (key, value) pairs with the intake's headers; raise unless all are acknowledged
    within `timeout` (the caller answers 503, and the provider retries).

    Straight through the app's producer (the partitioner, acks and connection `Topic.send`
    uses), without the per-message future and callback chain `Topic.send` adds: the bridge
    does little else per request."""
    producer = await inbound.app.maybe_start_producer()
    headers = intake.headers

    async def send_all() -> None:
        sends = [await producer.send(inbound.get_topic_name(), key.encode(), value,
                                     partition=None, timestamp=None, headers=headers)
                 for key, value in messages]
        await asyncio.gather(*sends)

    await asyncio.wait_for(send_all(), timeout)
