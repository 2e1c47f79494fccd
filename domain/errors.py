"""Typed domain errors: each carries what a user needs to act on it."""

from __future__ import annotations

from dataclasses import dataclass


class DomainError(Exception):
    """Base class for every rule the domain refuses to break."""


@dataclass(frozen=True)
class ValidationProblem:
    """One reason a command was refused: the stage that found it, the field, and why."""

    stage: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"[{self.stage}] {self.field}: {self.message}"


class CommandRejected(DomainError):
    """A command failed validation; all problems are reported together."""

    def __init__(self, problems: list[ValidationProblem]):
        self.problems = problems
        super().__init__("; ".join(str(p) for p in problems))

    @property
    def stage(self) -> str:
        return self.problems[0].stage if self.problems else "validation"


class SequenceViolation(DomainError):
    """A change that cannot follow the record's history (a second Created, an update after a
    Deleted)."""

    def __init__(self, aggregate_id: str, change_kind: str, reason: str):
        self.aggregate_id = aggregate_id
        self.change_kind = change_kind
        self.reason = reason
        super().__init__(f"{change_kind} refused for aggregate {aggregate_id}: {reason}")


class ConcurrencyError(DomainError):
    """Another writer appended to the aggregate since it was loaded."""

    def __init__(self, aggregate_id: str, expected_version: int, actual_version: int | None):
        self.aggregate_id = aggregate_id
        self.expected_version = expected_version
        self.actual_version = actual_version
        super().__init__(
            f"aggregate {aggregate_id}: expected version {expected_version}, "
            f"actual version {actual_version}"
        )
