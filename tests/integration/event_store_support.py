"""Builders and PostgreSQL helpers shared by the event store and command handler tests."""

from __future__ import annotations

import asyncio
import contextlib
import copy
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import orjson
from service_process import load_sample

from app.dead_letters import InboundMessage
from app.event_store import AppendRequest
from domain.aggregates import ClientAggregate, CRMRecordAggregate
from domain.aggregates.record import replay
from domain.events import Created, DomainEvent, EventMetadata, Updated

BASE_MS = 1_763_700_000_000  # November 2025, after every sample


def new_id() -> str:
    return str(uuid.uuid4())


def metadata(n: int, *, correlation_id: str = "corr-1", source: str | None = None
             ) -> EventMetadata:
    source = source or f"salesforce:evt-{n}:001EXT"
    return EventMetadata(
        correlation_id=correlation_id, causation_id=source, provider="salesforce",
        external_id="001EXT", source_event_id=source, transaction_key=f"tx-{n}",
        sequence_number=1, commit_timestamp=BASE_MS + n, change_origin="test",
    )


def history(aggregate_id: str, count: int, *, first_version: int = 1,
            correlation_id: str = "corr-1") -> list[DomainEvent]:
    """A client's events: Created at version 1, then Updates changing `industry`."""
    events: list[DomainEvent] = []
    for version in range(first_version, first_version + count):
        kind, data = (Created, {"name": "Acme", "industry": "start"}) if version == 1 else (
            Updated, {"industry": f"industry {version}", f"f{version % 7}": version})
        events.append(kind(
            aggregate_id=aggregate_id, aggregate_type="client", version=version,
            occurred_at=datetime.fromtimestamp((BASE_MS + version) / 1000, UTC), data=data,
            metadata=metadata(version, correlation_id=correlation_id,
                              source=f"salesforce:{aggregate_id}:{version}")))
    return events


def append_request(aggregate_id: str, count: int, *, first_version: int = 1,
                   source: str | None = None, snapshot_at: int | None = None) -> AppendRequest:
    """A client's `history` as one append, with its snapshot at version `snapshot_at`."""
    events = history(aggregate_id, count, first_version=first_version)
    request = AppendRequest(aggregate_id, "client", first_version - 1, events,
                            [source] if source else [])
    if snapshot_at is not None:
        aggregate: CRMRecordAggregate = replay(ClientAggregate(aggregate_id),
                                               history(aggregate_id, snapshot_at))
        request.snapshot = aggregate.snapshot()
    return request


def account_message(kind: str, n: int, record_id: str = "001Hs00003FqYbKIAV",
                    correlation_id: str = "corr-1") -> InboundMessage:
    """A Salesforce Account change as the command agent receives it; `n` orders changes."""
    envelope = copy.deepcopy(load_sample("account_create" if kind == "create"
                                         else "account_update"))
    envelope["id"] = f"evt-{record_id}-{n}"
    payload = envelope["detail"]["payload"]
    header = payload["ChangeEventHeader"]
    header.update(recordIds=[record_id], commitTimestamp=BASE_MS + n, transactionKey=f"tx-{n}")
    if kind == "update":
        payload["Industry"] = f"Industry {n}"
    return InboundMessage(provider="salesforce", value=orjson.dumps(envelope), key=record_id,
                          headers={"correlation-id": correlation_id})


async def lock_waiters(connection: asyncpg.Connection) -> int:
    return await connection.fetchval(
        "SELECT count(*) FROM pg_stat_activity "
        "WHERE datname = current_database() AND wait_event_type = 'Lock'")


async def wait_for_lock_waiters(connection: asyncpg.Connection, count: int) -> None:
    for _ in range(500):
        if await lock_waiters(connection) >= count:
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"fewer than {count} transactions waiting for a lock after 5 s")


@contextlib.asynccontextmanager
async def snapshot_row_locked(dsn: str, aggregate_id: str) -> AsyncIterator[asyncpg.Connection]:
    """Hold the aggregate's snapshot row. An append that saves a snapshot of it then stops,
    with its events inserted (its positions taken) but not committed, until the block ends."""
    connection = await asyncpg.connect(dsn)
    try:
        transaction = connection.transaction()
        await transaction.start()
        locked = await connection.fetchval(
            "SELECT count(*) FROM (SELECT 1 FROM snapshots WHERE aggregate_id = $1 FOR UPDATE) s",
            uuid.UUID(aggregate_id))
        assert locked == 1, "the aggregate needs a snapshot row to lock"
        yield connection
        await transaction.rollback()
    finally:
        await connection.close()
