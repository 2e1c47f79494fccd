"""Builders shared by the domain unit tests: sample envelopes, commands and changes.

Pure helpers (no fixtures) so that hypothesis tests can use them too.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from domain.changes import ChangeKind, ChangePosition, RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.providers.salesforce import SalesforceAdapter, commands_from_envelope

SAMPLES = Path(__file__).parents[2] / "app" / "samples" / "salesforce"
SAMPLE_NAMES = sorted(path.stem for path in SAMPLES.glob("*.json"))

# After every sample's commitTimestamp (all in November 2025), so ordering checks pass.
RECEIVED_AT = datetime(2025, 12, 1, tzinfo=UTC)
CORRELATION_ID = "corr-0001"
ADAPTER = SalesforceAdapter()
ADAPTERS = {"salesforce": ADAPTER}


def load_sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def header_of(envelope: Mapping[str, Any]) -> dict[str, Any]:
    """The ChangeEventHeader of an Event Relay sample (mutable, for tests that alter it)."""
    return envelope["detail"]["payload"]["ChangeEventHeader"]


def commands_of(
    envelope: Mapping[str, Any], *, received_at: datetime = RECEIVED_AT, raw_size: int = 0
) -> list[ProcessCRMEventCommand]:
    return commands_from_envelope(
        envelope, correlation_id=CORRELATION_ID, received_at=received_at, raw_size=raw_size
    )


def command_of(envelope: Mapping[str, Any], **kwargs: Any) -> ProcessCRMEventCommand:
    commands = commands_of(envelope, **kwargs)
    assert len(commands) == 1, f"expected one command, got {len(commands)}"
    return commands[0]


def sample_command(name: str, **kwargs: Any) -> ProcessCRMEventCommand:
    return command_of(load_sample(name), **kwargs)


def sample_change(name: str) -> RecordChange:
    return ADAPTER.translate(sample_command(name))


def changed_sample(name: str, **header: Any) -> dict[str, Any]:
    """A deep copy of a sample with some header values replaced."""
    envelope = copy.deepcopy(load_sample(name))
    header_of(envelope).update(header)
    return envelope


def make_change(
    kind: ChangeKind,
    commit_timestamp: int,
    fields: Mapping[str, Any] | None = None,
    *,
    transaction_key: str = "tx",
    sequence_number: int = 1,
    external_id: str = "001EXT",
    aggregate_type: str = "client",
    entity: str = "Account",
    change_origin: str = "com/salesforce/api/rest/64.0",
) -> RecordChange:
    """A provider-neutral change; the source event id names its position, so it is unique."""
    position = ChangePosition(commit_timestamp, transaction_key, sequence_number)
    return RecordChange(
        kind=kind,
        aggregate_type=aggregate_type,
        provider="salesforce",
        entity=entity,
        external_id=external_id,
        source_event_id=f"salesforce:{commit_timestamp}-{transaction_key}-{sequence_number}",
        position=position,
        occurred_at=datetime.fromtimestamp(commit_timestamp / 1000, tz=UTC),
        fields=dict(fields or {}),
        change_origin=change_origin,
        correlation_id=CORRELATION_ID,
    )
