"""Commands: what the outside world asks the domain to do."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from typing import Any


@dataclass(frozen=True)
class ProcessCRMEventCommand:
    """Record one provider change to one CRM record (or one object type, for a re-sync)."""

    provider: str
    event_id: str
    entity: str
    record_id: str | None
    payload: Mapping[str, Any]
    correlation_id: str
    received_at: datetime
    raw_size: int = 0
    extra: Mapping[str, Any] = field(default_factory=dict)

    @cached_property
    def source_event_id(self) -> str:
        """Unique per provider event and record: the key of idempotent processing."""
        return f"{self.provider}:{self.event_id}:{self.record_id or '*'}"
