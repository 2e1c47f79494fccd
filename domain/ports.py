"""Ports: what the domain needs from the outside world, as small protocols.

Implementations live in `app/` (PostgreSQL, Salesforce) and in tests (in-memory fakes).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from domain.aggregates.record import CRMRecordAggregate
from domain.changes import RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import ValidationProblem
from domain.events import DomainEvent


class ProviderAdapter(Protocol):
    """Translates one provider's payloads into domain changes (anti-corruption layer)."""

    provider: str

    def technical_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]: ...

    def business_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]: ...

    def aggregate_type(self, entity: str) -> str: ...

    def translate(self, command: ProcessCRMEventCommand) -> RecordChange: ...

    def map_record(
        self, entity: str, record: Mapping[str, Any] | None
    ) -> dict[str, Any] | None: ...


@runtime_checkable
class RecordInEvent(Protocol):
    """An adapter whose events carry the whole record (Pipedrive's `data`): a record never seen
    before is recorded from the event itself, with no call to the CRM."""

    def record_in_event(self, command: ProcessCRMEventCommand) -> dict[str, Any] | None: ...


class CRMRecordReader(Protocol):
    """Reads a record's current state from the CRM; None when the record no longer exists."""

    async def fetch_record(self, entity: str, external_id: str) -> Mapping[str, Any] | None: ...


class IdentityMap(Protocol):
    """Gives each (provider, entity, external id) one stable aggregate id."""

    async def aggregate_ids(
        self, keys: Sequence[tuple[str, str, str]]
    ) -> dict[tuple[str, str, str], str]: ...


class EventStore(Protocol):
    async def load(self, aggregate_type: str, aggregate_id: str) -> CRMRecordAggregate: ...

    async def append(
        self, aggregate_id: str, events: Sequence[DomainEvent], expected_version: int
    ) -> None: ...

    async def events_of(self, aggregate_id: str) -> list[DomainEvent]: ...
