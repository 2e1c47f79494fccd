"""HubSpot webhook events translated into domain changes.

A HubSpot webhook request is a batch; the bridge produces every event of it as its own inbound
message, so this adapter reads one event: `subscriptionType` (`contact.propertyChange`),
`objectId`, `occurredAt` (epoch ms), for a property change `propertyName` and
`propertyValue`, for a merge `primaryObjectId`, `mergedObjectIds` and `newObjectId`, for an
association change `fromObjectId` (the record whose association changed), `toObjectId` and
`associationType`. HubSpot sends only what changed, and a creation carries no property at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.changes import MAX_EPOCH_MS, ChangeKind, ChangePosition, RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import ValidationProblem
from domain.providers.hubspot_properties import OBJECTS

PROVIDER = "hubspot"
ACTIONS = {
    # A creation names no property: like a Salesforce gap, only the record read back from the
    # CRM says what it is, and it is recorded as that true state.
    "creation": ChangeKind.GAP,
    "propertyChange": ChangeKind.UPDATE,
    "deletion": ChangeKind.DELETE,
    "privacyDeletion": ChangeKind.ERASE,
    # A restored record may have changed while it was deleted: re-read it too.
    "restore": ChangeKind.GAP,
    # The surviving record took properties of the merged ones: re-read it. The records merged
    # into it no longer exist: each is deleted (`merged_away`).
    "merge": ChangeKind.GAP,
    # An association added or removed (a contact's company, ...): what the record's properties
    # say now follows from it (a contact's primary company is `associatedcompanyid`), and which
    # association is primary after several events of one millisecond only the CRM knows: re-read.
    "associationChange": ChangeKind.GAP,
}


def object_type(event: Mapping[str, Any]) -> str:
    """`contact` in `contact.propertyChange`."""
    return str(event.get("subscriptionType") or "").partition(".")[0]


def action(event: Mapping[str, Any]) -> str:
    return str(event.get("subscriptionType") or "").partition(".")[2]


def event_id(event: Mapping[str, Any]) -> str:
    """HubSpot does not promise `eventId` is unique across subscriptions, so the subscription
    is part of the id; a redelivery (`attemptNumber` > 0) keeps both."""
    raw_id = event.get("eventId")
    if raw_id is None or raw_id == "":
        return ""
    subscription = event.get("subscriptionId")
    return f"{raw_id}-{subscription}" if subscription not in (None, "") else str(raw_id)


def commands_from_event(
    event: Mapping[str, Any],
    *,
    correlation_id: str,
    received_at: datetime,
    raw_size: int = 0,
    only_record_id: str | None = None,
) -> list[ProcessCRMEventCommand]:
    """One command per record the event names: its `objectId`; for a merge, the surviving
    record and each record merged into it."""
    record_ids = affected_records(event)
    if only_record_id is not None and only_record_id in record_ids:
        record_ids = [only_record_id]
    return [
        ProcessCRMEventCommand(
            provider=PROVIDER,
            event_id=event_id(event),
            entity=object_type(event),
            record_id=record_id,
            payload=event,
            correlation_id=correlation_id,
            received_at=received_at,
            raw_size=raw_size,
        )
        for record_id in record_ids
    ]


def affected_records(event: Mapping[str, Any]) -> list[str | None]:
    if action(event) == "associationChange":
        return [_id(event.get("fromObjectId", event.get("objectId")))]
    if action(event) != "merge":
        return [_id(event.get("objectId"))]
    return [merge_survivor(event), *merged_away(event)]


def merge_survivor(event: Mapping[str, Any]) -> str | None:
    """The record a merge leaves: `newObjectId` when HubSpot made a new one, else the primary."""
    for name in ("newObjectId", "primaryObjectId", "objectId"):
        if (found := _id(event.get(name))) is not None:
            return found
    return None


def merged_away(event: Mapping[str, Any]) -> list[str]:
    """The records a merge ends: the secondary ones, and the primary when a new one replaced it."""
    merged = event.get("mergedObjectIds")
    ids = [_id(value) for value in merged] if isinstance(merged, list) else []
    ids.append(_id(event.get("primaryObjectId")))
    survivor = merge_survivor(event)
    return list(dict.fromkeys(i for i in ids if i is not None and i != survivor))


def _id(value: Any) -> str | None:
    return None if value in (None, "") or isinstance(value, dict | list) else str(value)


class HubSpotAdapter:
    """The anti-corruption layer for HubSpot webhooks."""

    provider = PROVIDER

    def technical_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        event = command.payload
        problems = []
        if action(event) not in ACTIONS:
            supported = ", ".join(f"<object>.{name}" for name in ACTIONS)
            message = f"unsupported value {event.get('subscriptionType')!r} ({supported})"
            problems.append(_problem("technical", "subscriptionType", message))
        if not command.record_id:
            named_by = "fromObjectId" if action(event) == "associationChange" else "objectId"
            problems.append(_problem("technical", named_by, "no record id for this event"))
        if not _is_epoch_ms(event.get("occurredAt")):
            problems.append(_problem("technical", "occurredAt", "must be epoch milliseconds"))
        if action(event) == "propertyChange" and not isinstance(event.get("propertyName"), str):
            problems.append(_problem("technical", "propertyName", "required for a change"))
        if action(event) == "merge" and not merged_away(event):
            problems.append(_problem("technical", "mergedObjectIds",
                                     "a merge must name the records merged"))
        return problems

    def business_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        if command.entity not in OBJECTS:
            known = ", ".join(sorted(OBJECTS))
            message = f"{command.entity!r} is not mapped ({known})"
            return [_problem("business", "subscriptionType", message)]
        return []

    def aggregate_type(self, entity: str) -> str:
        return OBJECTS[entity].aggregate_type

    def translate(self, command: ProcessCRMEventCommand) -> RecordChange:
        event = command.payload
        kind = ACTIONS[action(event)]
        if action(event) == "merge" and command.record_id != merge_survivor(event):
            kind = ChangeKind.DELETE  # merged into the survivor: this record is gone
        fields: dict[str, Any] = {}
        if kind is ChangeKind.UPDATE:
            name = event["propertyName"]
            fields = OBJECTS[command.entity].map_names([name], {name: event.get("propertyValue")})
        occurred_at = event["occurredAt"]
        return RecordChange(
            kind=kind,
            aggregate_type=OBJECTS[command.entity].aggregate_type,
            provider=PROVIDER,
            entity=command.entity,
            external_id=command.record_id or "",
            source_event_id=command.source_event_id,
            # Two events of one millisecond are two changes (different event ids); the same
            # event delivered again is recognised by its id.
            position=ChangePosition(commit_timestamp=occurred_at, transaction_key=command.event_id),
            occurred_at=datetime.fromtimestamp(occurred_at / 1000, tz=UTC),
            fields=fields,
            change_origin=str(event.get("changeSource") or ""),
            correlation_id=command.correlation_id,
        )

    def map_record(self, entity: str, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        """Domain fields of a record read from the CRM API (`{"id", "properties": {...}}`)."""
        if record is None:
            return None
        return OBJECTS[entity].map_values(record.get("properties") or {})


def _is_epoch_ms(value: Any) -> bool:
    # JSON `true` is no number; beyond year 9999 no datetime can hold it.
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value < MAX_EPOCH_MS


def _problem(stage: str, field: str, message: str) -> ValidationProblem:
    return ValidationProblem(stage=stage, field=field, message=message)
