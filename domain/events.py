"""Domain events: the facts recorded in a CRM record's history."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, ClassVar

from domain.changes import ChangePosition, RecordChange
from domain.ids import new_id


@dataclass(frozen=True)
class EventMetadata:
    correlation_id: str
    causation_id: str
    provider: str
    external_id: str
    source_event_id: str
    transaction_key: str
    sequence_number: int
    commit_timestamp: int
    change_origin: str
    broadcast: bool = True

    @classmethod
    def for_change(cls, change: RecordChange, *, broadcast: bool) -> EventMetadata:
        return cls(
            correlation_id=change.correlation_id,
            causation_id=change.source_event_id,
            provider=change.provider,
            external_id=change.external_id,
            source_event_id=change.source_event_id,
            transaction_key=change.position.transaction_key,
            sequence_number=change.position.sequence_number,
            commit_timestamp=change.position.commit_timestamp,
            change_origin=change.change_origin,
            broadcast=broadcast,
        )

    @property
    def position(self) -> ChangePosition:
        return ChangePosition(self.commit_timestamp, self.transaction_key, self.sequence_number)


@dataclass(frozen=True, kw_only=True)
class DomainEvent:
    """Something that happened to an aggregate, at a version of its history."""

    event_type: ClassVar[str] = "DomainEvent"

    aggregate_id: str
    aggregate_type: str
    version: int
    occurred_at: datetime
    data: Mapping[str, Any]
    metadata: EventMetadata
    event_id: str = field(default_factory=new_id)

    def to_dict(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "aggregate_id": self.aggregate_id,
            "aggregate_type": self.aggregate_type,
            "version": self.version,
            "occurred_at": self.occurred_at.isoformat(),
            "data": dict(self.data),
            "metadata": dict(vars(self.metadata)),  # flat: no deep copy (asdict's) needed
        }


@dataclass(frozen=True, kw_only=True)
class Created(DomainEvent):
    """The record came into existence with these fields."""

    event_type: ClassVar[str] = "Created"


@dataclass(frozen=True, kw_only=True)
class Updated(DomainEvent):
    """These fields changed; a None value means the field was cleared."""

    event_type: ClassVar[str] = "Updated"


@dataclass(frozen=True, kw_only=True)
class Deleted(DomainEvent):
    """The record was deleted in the CRM (it may come back)."""

    event_type: ClassVar[str] = "Deleted"


@dataclass(frozen=True, kw_only=True)
class Undeleted(DomainEvent):
    """The record was restored from the CRM's recycle bin."""

    event_type: ClassVar[str] = "Undeleted"


@dataclass(frozen=True, kw_only=True)
class Erased(DomainEvent):
    """The record was deleted for privacy: every value its history held is erased (the events
    before this one keep what happened and when, without data)."""

    event_type: ClassVar[str] = "Erased"


EVENT_TYPES: dict[str, type[DomainEvent]] = {
    cls.event_type: cls for cls in (Created, Updated, Deleted, Undeleted, Erased)
}


def without_erased_values(events: Sequence[DomainEvent]) -> list[DomainEvent]:
    """The events as they are stored and published: an event followed by an erasure of its
    record keeps no data."""
    erased_before = {e.aggregate_id: e.version for e in events if isinstance(e, Erased)}
    if not erased_before:
        return list(events)
    return [replace(e, data={})
            if e.version < erased_before.get(e.aggregate_id, 0) and e.data else e
            for e in events]


def event_from_dict(raw: Mapping[str, Any]) -> DomainEvent:
    """Rebuild a domain event from its stored or published form."""
    event_class = EVENT_TYPES[raw["event_type"]]
    occurred_at = raw["occurred_at"]
    if isinstance(occurred_at, str):
        occurred_at = datetime.fromisoformat(occurred_at)
    return event_class(
        event_id=str(raw["event_id"]),
        aggregate_id=str(raw["aggregate_id"]),
        aggregate_type=raw["aggregate_type"],
        version=raw["version"],
        occurred_at=occurred_at,
        data=raw["data"],
        metadata=EventMetadata(**raw["metadata"]),
    )
