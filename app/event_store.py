"""The PostgreSQL event store: append with optimistic concurrency, idempotent per source event,
snapshots, replay, global order, and a transactional outbox for publishing.

Why an outbox, and not a publisher tailing `events` by position (the "gap problem"):
every event takes its global `position` from an identity sequence when it is *inserted*, but
transactions *commit* in their own order. A transaction holding position 7 can commit after one
holding position 8. A tailer that sends "everything after the last position I sent" reads 8,
remembers 8, and never looks at 7 again once 7 commits: an event committed and never published.
Here the append transaction also writes each new position to `outbox`. An unpublished event is a
row that exists, whatever its position; it becomes visible exactly when its events commit, and is
deleted only after the broker acknowledged it. There is no high-water mark to skip past it.
`read_all` serves rebuilds (everything committed when read), not live tailing.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson

from app import metrics, tracing
from app.db import with_retries
from app.event_store_queries import (
    CLAIM_SOURCE_EVENTS,
    CURRENT_VERSIONS,
    ERASE_HISTORIES,
    EVENTS_AFTER,
    EVENTS_OF,
    EVENTS_PAGE,
    INSERT_EVENTS,
    MARK_PUBLISHED,
    PROCESSED,
    UNPUBLISHED,
    UNPUBLISHED_BEFORE,
    UPSERT_SNAPSHOTS,
    erasures,
    event_rows,
    stored_at,
)
from domain.aggregates import AGGREGATE_TYPES, CRMRecordAggregate
from domain.errors import ConcurrencyError
from domain.events import DomainEvent, event_from_dict, without_erased_values


class DuplicateSourceEvents(Exception):
    """Some source events of a batch were already processed (by another worker, or before)."""

    def __init__(self, source_event_ids: set[str]):
        self.source_event_ids = source_event_ids
        super().__init__(f"already processed: {sorted(source_event_ids)}")


@dataclass(frozen=True)
class StoredEvent:
    event: DomainEvent
    position: int
    recorded_at: datetime

    def to_message(self) -> dict[str, Any]:
        return {**self.event.to_dict(), "position": self.position,
                "recorded_at": self.recorded_at.isoformat()}

    def to_json(self) -> bytes:
        """`to_message()` encoded, without building it first (publishing's hot path): orjson
        writes datetimes as `isoformat()` does and the metadata dataclass field by field."""
        event = self.event
        return orjson.dumps({
            "event_id": event.event_id,
            "event_type": event.event_type,
            "aggregate_id": event.aggregate_id,
            "aggregate_type": event.aggregate_type,
            "version": event.version,
            "occurred_at": event.occurred_at,
            "data": event.data,
            "metadata": event.metadata,
            "position": self.position,
            "recorded_at": self.recorded_at,
        }, default=dict)  # a data mapping other than a dict


@dataclass
class AppendRequest:
    """New events for one aggregate, the version they were decided on, and their causes."""

    aggregate_id: str
    aggregate_type: str
    expected_version: int
    events: list[DomainEvent] = field(default_factory=list)
    source_event_ids: list[str] = field(default_factory=list)
    snapshot: dict[str, Any] | None = None

    def check_follows_expected_version(self) -> None:
        """The events must be this aggregate's next versions, without gaps."""
        wanted = list(range(self.expected_version + 1,
                            self.expected_version + 1 + len(self.events)))
        found = [e.version for e in self.events if e.aggregate_id == self.aggregate_id]
        if found != wanted:
            raise ValueError(f"aggregate {self.aggregate_id}: events must have versions {wanted} "
                             f"of this aggregate, got {[e.version for e in self.events]}")


class PostgresEventStore:
    def __init__(self, pool: asyncpg.Pool, *, snapshot_every: int = 100, retries: int = 10):
        self.pool = pool
        self.snapshot_every = snapshot_every
        self.retries = retries

    # -- writing -----------------------------------------------------------------------------

    async def append(
        self,
        aggregate_id: str,
        events: Sequence[DomainEvent],
        expected_version: int,
        source_event_id: str | None = None,
    ) -> list[StoredEvent]:
        aggregate_type = events[0].aggregate_type if events else ""
        request = AppendRequest(aggregate_id, aggregate_type, expected_version, list(events),
                                [source_event_id] if source_event_id else [])
        return await self.append_batch([request])

    async def append_batch(self, requests: Sequence[AppendRequest]) -> list[StoredEvent]:
        """Store every request in one transaction, or none of them.

        Raises ConcurrencyError when an aggregate is not at its expected version, and
        DuplicateSourceEvents when a source event was already processed. Transient errors are
        retried; when the connection broke during COMMIT, the retry first looks whether the
        events are already stored, so an append that did commit is not reported as a conflict.
        """
        for request in requests:
            request.check_follows_expected_version()
        events = without_erased_values(
            [event for request in requests for event in request.events])
        attempts = 0

        async def attempt() -> list[StoredEvent]:
            nonlocal attempts
            attempts += 1
            if attempts > 1 and events and (stored := await self._already_stored(events)):
                return stored
            return await self._append_once(requests, events)

        with tracing.span("event_store.append", {"db.system.name": "postgresql",
                                                  "crm.aggregates": len(requests),
                                                  "crm.events": len(events)}), \
                metrics.APPEND_LATENCY.time():
            return await with_retries(attempt, attempts=self.retries, what="appending events")

    async def _append_once(
        self, requests: Sequence[AppendRequest], events: list[DomainEvent]
    ) -> list[StoredEvent]:
        async with self.pool.acquire() as connection, connection.transaction():
            await self._claim_source_events(connection, requests)
            await self._check_versions(connection, requests)
            try:
                inserted = await connection.fetchval(INSERT_EVENTS, event_rows(events))
            except asyncpg.UniqueViolationError:
                # A concurrent writer committed the same versions after our check.
                await self._raise_conflict(requests)
                raise
            if erased := erasures(events):
                await connection.execute(ERASE_HISTORIES, erased)
            await self._save_snapshots(connection, requests)
        stored = stored_at(inserted)
        return [StoredEvent(event, *stored[event.event_id]) for event in events]

    async def _already_stored(self, events: list[DomainEvent]) -> list[StoredEvent] | None:
        rows = await self.pool.fetch(
            "SELECT event_id, position, recorded_at FROM events WHERE event_id = ANY($1::uuid[])",
            [e.event_id for e in events])
        stored = {row["event_id"]: (row["position"], row["recorded_at"]) for row in rows}
        if len(stored) < len(events):
            return None
        return [StoredEvent(event, *stored[event.event_id]) for event in events]

    async def _claim_source_events(
        self, connection: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> None:
        """Decided in the append transaction: a concurrent claim of the same source event
        waits for ours to commit or roll back, then finds it taken or free."""
        pairs = [(sid, r.aggregate_id) for r in requests for sid in r.source_event_ids]
        if not pairs:
            return
        taken = await connection.fetch(CLAIM_SOURCE_EVENTS, pairs)
        if taken:
            raise DuplicateSourceEvents({row[0] for row in taken})

    async def _check_versions(
        self, connection: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> None:
        writing = [r for r in requests if r.events]
        if not writing:
            return
        actual = await _current_versions(connection, [r.aggregate_id for r in writing])
        for request in writing:
            version = actual.get(request.aggregate_id, 0)
            if version != request.expected_version:
                raise ConcurrencyError(request.aggregate_id, request.expected_version, version)

    async def _raise_conflict(self, requests: Sequence[AppendRequest]) -> None:
        async with self.pool.acquire() as connection:
            actual = await _current_versions(connection, [r.aggregate_id for r in requests])
        for request in requests:
            version = actual.get(request.aggregate_id, 0)
            if request.events and version != request.expected_version:
                raise ConcurrencyError(request.aggregate_id, request.expected_version, version)

    async def _save_snapshots(
        self, connection: asyncpg.Connection, requests: Sequence[AppendRequest]
    ) -> None:
        due = [r for r in requests if r.snapshot is not None]
        if due:
            await connection.execute(
                UPSERT_SNAPSHOTS, [r.aggregate_id for r in due], [r.aggregate_type for r in due],
                [r.snapshot["version"] for r in due], [r.snapshot for r in due],
            )

    def snapshot_due(self, version_before: int, version_after: int) -> bool:
        return version_after // self.snapshot_every > version_before // self.snapshot_every

    # -- reading -----------------------------------------------------------------------------

    async def processed(self, source_event_ids: Iterable[str]) -> set[str]:
        ids = list(source_event_ids)
        if not ids:
            return set()
        rows = await with_retries(lambda: self.pool.fetch(PROCESSED, ids), attempts=self.retries)
        return {row[0] for row in rows}

    async def load(self, aggregate_type: str, aggregate_id: str) -> CRMRecordAggregate:
        return (await self.load_many({aggregate_id: aggregate_type}))[aggregate_id]

    async def load_many(self, types_by_id: dict[str, str]) -> dict[str, CRMRecordAggregate]:
        """Each aggregate from its latest snapshot plus the events after it."""
        return await with_retries(lambda: self._load_many_once(types_by_id),
                                  attempts=self.retries, what="loading aggregates")

    async def _load_many_once(self, types_by_id: dict[str, str]) -> dict[str, CRMRecordAggregate]:
        ids = list(types_by_id)
        async with self.pool.acquire() as connection:
            snapshots = await connection.fetch(
                "SELECT aggregate_id, state FROM snapshots WHERE aggregate_id = ANY($1::uuid[])",
                ids)
            aggregates = {
                row["aggregate_id"]: AGGREGATE_TYPES[types_by_id[row["aggregate_id"]]]
                .from_snapshot(row["state"])
                for row in snapshots
            }
            for aggregate_id, aggregate_type in types_by_id.items():
                aggregates.setdefault(aggregate_id, AGGREGATE_TYPES[aggregate_type](aggregate_id))
            rows = await connection.fetch(EVENTS_AFTER, ids, [aggregates[i].version for i in ids])
        for row in rows:
            aggregates[row["aggregate_id"]].apply(event_from_dict(row))
        return aggregates

    async def events_of(self, aggregate_id: str, after_version: int = 0,
                        limit: int | None = None) -> list[StoredEvent]:
        """The aggregate's events after `after_version`, in version order; at most `limit`."""
        rows = await with_retries(lambda: self.pool.fetch(
            EVENTS_OF, aggregate_id, after_version, limit),
            attempts=self.retries)
        return [_stored(row) for row in rows]

    async def read_all(
        self, from_position: int = 0, *, page_size: int = 5000
    ) -> AsyncIterator[StoredEvent]:
        """Every event after `from_position`, in global order, a page at a time (rebuilds)."""
        position = from_position
        while True:
            rows = await with_retries(lambda p=position: self.pool.fetch(
                EVENTS_PAGE, p, page_size), attempts=self.retries)
            for row in rows:
                yield _stored(row)
            if len(rows) < page_size:
                return
            position = rows[-1]["position"]

    # -- outbox ------------------------------------------------------------------------------

    async def unpublished(
        self, *, older_than_s: float = 0.0, limit: int = 1000
    ) -> list[StoredEvent]:
        """Committed events not yet confirmed on the topic, oldest first."""
        rows = await with_retries(lambda: self.pool.fetch(
            UNPUBLISHED, older_than_s, limit), attempts=self.retries)
        return [_stored(row) for row in rows]

    async def unpublished_before(self, stored: Sequence[StoredEvent]) -> list[StoredEvent]:
        """Events of the same aggregates still in the outbox from earlier (a crash, a broker
        outage): they must reach the topic before these, to keep per-aggregate order."""
        first: dict[str, int] = {}
        for s in stored:
            first[s.event.aggregate_id] = min(s.position, first.get(s.event.aggregate_id,
                                                                    s.position))
        if not first:
            return []
        rows = await with_retries(lambda: self.pool.fetch(
            UNPUBLISHED_BEFORE, list(first.items())), attempts=self.retries)
        return [_stored(row) for row in rows]

    async def mark_published(self, positions: Sequence[int]) -> None:
        if positions:
            await with_retries(lambda: self.pool.execute(MARK_PUBLISHED, list(positions)),
                attempts=self.retries, what="clearing the outbox")


async def _current_versions(connection: asyncpg.Connection, ids: list[str]) -> dict[str, int]:
    versions = await connection.fetchval(CURRENT_VERSIONS, ids) or {}
    return {aggregate_id: version or 0 for aggregate_id, version in versions.items()}


def _stored(row: asyncpg.Record) -> StoredEvent:
    return StoredEvent(event_from_dict(row), row["position"], row["recorded_at"])
