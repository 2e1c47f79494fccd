"""Dead-letter records: what failed, at which stage, why, and the original bytes to replay."""

from __future__ import annotations

import base64
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

from domain.errors import ValidationProblem


@dataclass(frozen=True)
class InboundMessage:
    """One raw record from an inbound topic, as the command agent received it."""

    provider: str
    value: bytes
    key: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    topic: str = ""
    partition: int = -1
    offset: int = -1

    @property
    def correlation_id(self) -> str:
        return self.headers.get("correlation-id", "")


# Where in the worker a message failed (a re-sync request is parked as `resync`).
STAGES = ("decode", "validation", "domain", "crm", "resync", "unexpected")


@dataclass(frozen=True)
class DeadLetter:
    stage: str  # one of STAGES
    reason: str
    message: InboundMessage
    problems: list[ValidationProblem] = field(default_factory=list)
    source_event_id: str = ""
    failed_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    def to_record(self) -> dict[str, Any]:
        message = self.message
        return {
            "stage": self.stage,
            "reason": self.reason,
            "problems": [asdict(problem) for problem in self.problems],
            "provider": message.provider,
            "source_event_id": self.source_event_id,
            "correlation_id": message.correlation_id,
            "failed_at": self.failed_at,
            "origin": {"topic": message.topic, "partition": message.partition,
                       "offset": message.offset, "key": message.key},
            "headers": message.headers,
            # a record without a value (a tombstone) has nothing to replay
            "original_b64": (base64.b64encode(message.value).decode()
                             if message.value is not None else None),
        }
