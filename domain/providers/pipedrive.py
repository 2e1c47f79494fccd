"""Pipedrive webhooks (version 2.0) translated into domain changes.

One webhook is one change to one record: `meta.action` (create, change, delete), `meta.entity`
(person, organization, deal), `meta.entity_id`, `meta.id` (the event), `meta.timestamp`. `data`
is the whole record after the change (null for a delete); `previous` holds the old values of the
fields that changed (the whole last state for a delete).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from domain.changes import MAX_EPOCH_MS, ChangeKind, ChangePosition, RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import ValidationProblem
from domain.providers.pipedrive_fields import ENTITIES, record_fields

PROVIDER = "pipedrive"
ACTIONS = {"create": ChangeKind.CREATE, "change": ChangeKind.UPDATE, "delete": ChangeKind.DELETE}


def meta_of(webhook: Mapping[str, Any]) -> Mapping[str, Any]:
    meta = webhook.get("meta")
    return meta if isinstance(meta, Mapping) else {}


def commands_from_webhook(
    webhook: Mapping[str, Any],
    *,
    correlation_id: str,
    received_at: datetime,
    raw_size: int = 0,
    only_record_id: str | None = None,
) -> list[ProcessCRMEventCommand]:
    meta = meta_of(webhook)
    entity_id = meta.get("entity_id")
    return [
        ProcessCRMEventCommand(
            provider=PROVIDER,
            event_id=str(meta.get("id") or ""),
            entity=str(meta.get("entity") or ""),
            record_id=None if entity_id in (None, "") else str(entity_id),
            payload=webhook,
            correlation_id=correlation_id,
            received_at=received_at,
            raw_size=raw_size,
        )
    ]


def epoch_ms(timestamp: Any) -> int | None:
    """`meta.timestamp`: ISO 8601 (`2022-11-24T13:18:55.315Z`), or epoch seconds for some
    entities; None when it is neither."""
    if isinstance(timestamp, bool):
        return None
    if isinstance(timestamp, str) and timestamp.isdigit():
        timestamp = int(timestamp)
    if isinstance(timestamp, int | float):
        milliseconds = timestamp * 1000
        # beyond year 9999 (or not finite) no datetime can hold it
        return int(milliseconds) if 0 <= milliseconds < MAX_EPOCH_MS else None
    if not isinstance(timestamp, str):
        return None
    try:
        moment = datetime.fromisoformat(timestamp.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    milliseconds = round(moment.timestamp() * 1000)
    return milliseconds if 0 <= milliseconds < MAX_EPOCH_MS else None


class PipedriveAdapter:
    """The anti-corruption layer for Pipedrive webhooks v2."""

    provider = PROVIDER

    def technical_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        webhook = command.payload
        meta = meta_of(webhook)
        if not meta:
            return [_problem("technical", "meta", "missing or not an object")]
        problems = []
        action = meta.get("action")
        known = isinstance(action, str) and action in ACTIONS
        if not known:
            message = f"unknown value {action!r} (create, change, delete: webhooks v2)"
            problems.append(_problem("technical", "meta.action", message))
        if not command.record_id:
            problems.append(_problem("technical", "meta.entity_id", "no record id"))
        if epoch_ms(meta.get("timestamp")) is None:
            problems.append(_problem("technical", "meta.timestamp", "not a time"))
        record_block = "previous" if action == "delete" else "data"
        if known and not isinstance(webhook.get(record_block), Mapping):
            message = f"a {action} carries the record here"
            problems.append(_problem("technical", record_block, message))
        if action == "change" and not isinstance(webhook.get("previous"), Mapping):
            problems.append(_problem("technical", "previous", "a change names what changed"))
        return problems

    def business_problems(self, command: ProcessCRMEventCommand) -> list[ValidationProblem]:
        if command.entity not in ENTITIES:
            known = ", ".join(sorted(ENTITIES))
            message = f"{command.entity!r} is not mapped ({known})"
            return [_problem("business", "meta.entity", message)]
        return []

    def aggregate_type(self, entity: str) -> str:
        return ENTITIES[entity].aggregate_type

    def translate(self, command: ProcessCRMEventCommand) -> RecordChange:
        webhook = command.payload
        meta = meta_of(webhook)
        kind = ACTIONS[meta["action"]]
        timestamp = epoch_ms(meta["timestamp"]) or 0
        return RecordChange(
            kind=kind,
            aggregate_type=ENTITIES[command.entity].aggregate_type,
            provider=PROVIDER,
            entity=command.entity,
            external_id=command.record_id or "",
            source_event_id=command.source_event_id,
            position=ChangePosition(commit_timestamp=timestamp, transaction_key=command.event_id),
            occurred_at=datetime.fromtimestamp(timestamp / 1000, tz=UTC),
            fields=_changed_fields(kind, command.entity, webhook),
            change_origin=str(meta.get("change_source") or ""),
            correlation_id=command.correlation_id,
        )

    def map_record(self, entity: str, record: Mapping[str, Any] | None) -> dict[str, Any] | None:
        return None if record is None else record_fields(entity, record)

    def record_in_event(self, command: ProcessCRMEventCommand) -> dict[str, Any] | None:
        """The whole record as this webhook shows it: after a create or change, and as it was
        last for a delete (so a record deleted before we ever saw it still has a history)."""
        webhook = command.payload
        deleted = meta_of(webhook).get("action") == "delete"
        record = webhook.get("previous" if deleted else "data")
        return self.map_record(command.entity, record if isinstance(record, Mapping) else None)


def _changed_fields(kind: ChangeKind, entity: str, webhook: Mapping[str, Any]) -> dict[str, Any]:
    data = webhook.get("data") or {}
    if kind is ChangeKind.CREATE:
        return {k: v for k, v in record_fields(entity, data).items() if v is not None}
    if kind is ChangeKind.UPDATE:
        # `previous` names the changed fields; `data` has their new values.
        return ENTITIES[entity].map_names(webhook.get("previous") or {}, data)
    return {}


def _problem(stage: str, field: str, message: str) -> ValidationProblem:
    return ValidationProblem(stage=stage, field=field, message=message)
