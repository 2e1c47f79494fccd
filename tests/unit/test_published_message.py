"""What the publisher sends for a stored event is `to_message()` encoded, byte for byte."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from types import MappingProxyType

import orjson
import pytest

from app.event_store import StoredEvent
from domain.events import Created, Deleted, EventMetadata, Updated

METADATA = EventMetadata(
    correlation_id="corr-1", causation_id="salesforce:evt-1:001", provider="salesforce",
    external_id="001", source_event_id="salesforce:evt-1:001", transaction_key="tx-1",
    sequence_number=3, commit_timestamp=1_764_000_000_000, change_origin="com/salesforce/api",
    broadcast=False,
)
ON_THE_SECOND = datetime(2026, 11, 26, 9, 0, tzinfo=UTC)
WITH_MICROSECONDS = datetime(2026, 11, 26, 9, 0, 1, 120, tzinfo=timezone(timedelta(hours=2)))


@pytest.mark.parametrize("event", [
    Created(aggregate_id="a1", aggregate_type="client", version=1, occurred_at=ON_THE_SECOND,
            data={"name": "Acme", "billing_address.city": "Lyon", "employees": 12,
                  "revenue": 1.5, "active": True, "parent": None, "tags": ["a", "é"]},
            metadata=METADATA),
    Updated(aggregate_id="a1", aggregate_type="client", version=2,
            occurred_at=WITH_MICROSECONDS, data=MappingProxyType({"industry": "Energy"}),
            metadata=METADATA),
    Deleted(aggregate_id="a1", aggregate_type="client", version=3, occurred_at=ON_THE_SECOND,
            data={}, metadata=METADATA),
])
@pytest.mark.parametrize("recorded_at", [ON_THE_SECOND, WITH_MICROSECONDS])
def test_the_published_bytes_are_the_message_encoded(event, recorded_at):
    stored = StoredEvent(event, 42, recorded_at)

    assert stored.to_json() == orjson.dumps(stored.to_message())
