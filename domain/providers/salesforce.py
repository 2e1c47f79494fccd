"""Salesforce Change Data Capture, delivered by EventBridge, translated into domain changes.

Accepts both routes: Event Relay (`detail.payload.ChangeEventHeader`) and AppFlow
(`detail.ChangeEventHeader`).
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.changes import MAX_EPOCH_MS, ChangeKind, ChangePosition, RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import ValidationProblem
from domain.providers.field_mapping import EntityMapping
from domain.providers.salesforce_entities import ENTITIES

PROVIDER = "salesforce"
HEADER = "ChangeEventHeader"

CHANGE_KINDS = {
    "CREATE": ChangeKind.CREATE,
    "UPDATE": ChangeKind.UPDATE,
    "DELETE": ChangeKind.DELETE,
    "UNDELETE": ChangeKind.UNDELETE,
    "GAP_CREATE": ChangeKind.GAP,
    "GAP_UPDATE": ChangeKind.GAP,
    "GAP_DELETE": ChangeKind.GAP,
    "GAP_UNDELETE": ChangeKind.GAP,
    "GAP_OVERFLOW": ChangeKind.RESYNC,
}

# The REST API writes datetimes as `2026-11-20T10:15:29.000+0000`, change events as `...Z`.
REST_DATETIME = re.compile(r"^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?)\+0000$")


def change_payload(envelope: Mapping[str, Any]) -> Mapping[str, Any]:
    """The change (header and fields) from either EventBridge route."""
    detail = envelope.get("detail") or {}
    payload = detail.get("payload")
    return payload if isinstance(payload, Mapping) else detail


def commands_from_envelope(
    envelope: Mapping[str, Any],
    *,
    correlation_id: str,
    received_at: datetime,
    raw_size: int = 0,
    only_record_id: str | None = None,
) -> list[ProcessCRMEventCommand]:
    """One command per record id (a change may touch many records); one for a re-sync."""
    payload = change_payload(envelope)
    header = payload.get(HEADER) or {}
    record_ids = list(header.get("recordIds") or []) or [None]
    if only_record_id is not None and only_record_id in record_ids:
        record_ids = [only_record_id]
    return [
        ProcessCRMEventCommand(
            provider=PROVIDER,
            event_id=str(envelope.get("id") or ""),
            entity=str(header.get("entityName") or ""),
            record_id=record_id,
            payload=payload,
            correlation_id=correlation_id,
            received_at=received_at,
            raw_size=raw_size,
        )
        for record_id in record_ids
    ]


class SalesforceAdapter:
    """The anti-corruption layer for Salesforce CDC."""

    provider = PROVIDER

    def technical_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        header = command.payload.get(HEADER)
        if not isinstance(header, Mapping):
            return [_problem("technical", f"detail.payload.{HEADER}", "missing or not an object")]
        problems = []
        change_type = header.get("changeType")
        if change_type not in CHANGE_KINDS:
            problems.append(_problem("technical", "changeType", f"unknown value {change_type!r}"))
        commit_timestamp = header.get("commitTimestamp")
        if not _is_int(commit_timestamp) or not 0 <= commit_timestamp < MAX_EPOCH_MS:
            problems.append(_problem("technical", "commitTimestamp", "must be epoch milliseconds "
                                     "(before the year 10000)"))
        if not _is_int(header.get("sequenceNumber", 0)):
            problems.append(_problem("technical", "sequenceNumber", "must be an integer"))
        for list_field in ("recordIds", "changedFields", "nulledFields", "diffFields"):
            if not isinstance(header.get(list_field, []), list):
                problems.append(_problem("technical", list_field, "must be a list"))
        if change_type != "GAP_OVERFLOW" and not command.record_id:
            problems.append(_problem("technical", "recordIds", "no record id for this change"))
        return problems

    def business_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        if command.entity not in ENTITIES:
            known = ", ".join(sorted(ENTITIES))
            message = f"{command.entity!r} is not mapped ({known})"
            return [_problem("business", "entityName", message)]
        return []

    def aggregate_type(self, entity: str) -> str:
        return ENTITIES[entity].aggregate_type

    def translate(self, command: ProcessCRMEventCommand) -> RecordChange:
        header = command.payload[HEADER]
        mapping = ENTITIES[command.entity]
        kind = CHANGE_KINDS[header["changeType"]]
        if kind is ChangeKind.UPDATE and _diffs_a_mapped_field(header, mapping):
            # A large text value arrives as a unified diff of its old value, not the value:
            # only the record read back from Salesforce says what it is now, as after a gap.
            kind = ChangeKind.GAP
        values = {k: v for k, v in command.payload.items() if k != HEADER}
        return RecordChange(
            kind=kind,
            aggregate_type=mapping.aggregate_type,
            provider=PROVIDER,
            entity=command.entity,
            external_id=command.record_id or "",
            source_event_id=command.source_event_id,
            position=ChangePosition(
                commit_timestamp=header["commitTimestamp"],
                transaction_key=str(header.get("transactionKey") or ""),
                sequence_number=int(header.get("sequenceNumber") or 0),
            ),
            occurred_at=datetime.fromtimestamp(header["commitTimestamp"] / 1000, tz=UTC),
            fields=_changed_fields(kind, header, values, command.entity),
            change_origin=str(header.get("changeOrigin") or ""),
            correlation_id=command.correlation_id,
        )

    def map_record(self, entity: str, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Domain fields of a record read back from the Salesforce REST API, with values in the
        form change events give them (so an unchanged datetime is not taken for a change)."""
        if record is None:
            return None
        mapped = ENTITIES[entity].map_values({k: v for k, v in record.items() if k != "attributes"})
        return {name: _as_change_event_value(value) for name, value in mapped.items()}


def _changed_fields(
    kind: ChangeKind, header: Mapping[str, Any], values: Mapping[str, Any], entity: str
) -> dict[str, Any]:
    mapping = ENTITIES[entity]
    if kind in (ChangeKind.CREATE, ChangeKind.UNDELETE):
        return {k: v for k, v in mapping.map_values(values).items() if v is not None}
    if kind is not ChangeKind.UPDATE:
        return {}
    changed = header.get("changedFields") or list(values)
    nulled = header.get("nulledFields") or []
    return {**mapping.map_paths(changed, values), **mapping.nulls(nulled)}


def _diffs_a_mapped_field(header: Mapping[str, Any], mapping: EntityMapping) -> bool:
    return any(name in mapping.fields for name in header.get("diffFields") or [])


def _as_change_event_value(value: Any) -> Any:
    match = REST_DATETIME.match(value) if isinstance(value, str) else None
    return f"{match[1]}Z" if match else value


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)  # JSON `true` is no number


def _problem(stage: str, field: str, message: str) -> ValidationProblem:
    return ValidationProblem(stage=stage, field=field, message=message)
