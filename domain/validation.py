"""The command validation pipeline: technical checks, then business checks.

Every problem found is returned, so a rejected command names all its faults at once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from domain.changes import RecordChange
from domain.commands import ProcessCRMEventCommand
from domain.errors import CommandRejected, ValidationProblem
from domain.ports import ProviderAdapter

MAX_PAYLOAD_BYTES = 256 * 1024  # EventBridge's own limit on one event
MAX_ID_LENGTH = 255
CLOCK_SKEW = timedelta(hours=1)


def validate(
    command: ProcessCRMEventCommand, adapters: Mapping[str, ProviderAdapter]
) -> list[ValidationProblem]:
    return accept(command, adapters)[0]


def accept(
    command: ProcessCRMEventCommand, adapters: Mapping[str, ProviderAdapter]
) -> tuple[list[ValidationProblem], RecordChange | None]:
    """The problems found, or none and the change the command translates to (checking its
    ordering needs the translation, so it is made once)."""
    problems = _technical(command)
    adapter = adapters.get(command.provider)
    if adapter is None:
        supported = ", ".join(sorted(adapters)) or "none"
        message = f"{command.provider!r} is not supported (supported: {supported})"
        return [*problems, ValidationProblem("business", "provider", message)], None
    technical = problems + adapter.technical_problems(command)
    if technical:
        return technical + adapter.business_problems(command), None
    business = adapter.business_problems(command)
    if business:
        return business, None  # an unmapped entity cannot be translated to check its ordering
    change = adapter.translate(command)
    ordering = _ordering(command, change)
    return ordering, None if ordering else change


def check(command: ProcessCRMEventCommand, adapters: Mapping[str, ProviderAdapter]) -> None:
    problems = validate(command, adapters)
    if problems:
        raise CommandRejected(problems)


def _technical(command: ProcessCRMEventCommand) -> list[ValidationProblem]:
    problems = []
    if not command.event_id:
        problems.append(ValidationProblem("technical", "id", "the event id is required"))
    for name in ("event_id", "record_id", "entity", "correlation_id"):
        value = getattr(command, name) or ""
        if len(value) > MAX_ID_LENGTH:
            problems.append(
                ValidationProblem("technical", name, f"longer than {MAX_ID_LENGTH} characters")
            )
    if command.raw_size > MAX_PAYLOAD_BYTES:
        problems.append(
            ValidationProblem(
                "technical", "body", f"{command.raw_size} bytes exceeds {MAX_PAYLOAD_BYTES}"
            )
        )
    if not command.entity:
        problems.append(ValidationProblem("technical", "entityName", "the entity is required"))
    return problems


def _ordering(command: ProcessCRMEventCommand, change: RecordChange) -> list[ValidationProblem]:
    if change.occurred_at > command.received_at + CLOCK_SKEW:
        message = f"committed at {change.occurred_at.isoformat()}, after it was received"
        return [ValidationProblem("business", "commitTimestamp", message)]
    return []
