"""The history of one CRM record, as an event-sourced aggregate.

State changes only by applying events. Decision methods check the rules and return new events;
they never change state themselves, so a caller can discard a decision safely.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, ClassVar

from domain.changes import ChangeKind, ChangePosition, LatestCommit, RecordChange
from domain.errors import SequenceViolation
from domain.events import (
    Created,
    Deleted,
    DomainEvent,
    Erased,
    EventMetadata,
    Undeleted,
    Updated,
)

AGGREGATE_TYPES: dict[str, type[CRMRecordAggregate]] = {}


class MissingRequiredField(SequenceViolation):
    """A record cannot be created without the fields its business requires."""


class CRMRecordAggregate:
    """Base for every CRM entity: a client, a contact, a deal, ..."""

    aggregate_type: ClassVar[str]
    required_on_create: ClassVar[tuple[str, ...]] = ()

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        AGGREGATE_TYPES[cls.aggregate_type] = cls

    def __init__(self, aggregate_id: str):
        self.id = aggregate_id
        self.version = 0
        self.exists = False
        self.deleted = False
        self.fields: dict[str, Any] = {}
        self.external_ids: dict[str, str] = {}
        self.last_position: ChangePosition | None = None
        self.latest_commit: LatestCommit | None = None
        # The commits that last wrote each field, so an UPDATE arriving after newer changes
        # still sets the fields none of them wrote. None: unknown (restored from a snapshot
        # taken before fields were tracked), and a late change is then ignored whole.
        self.field_commits: dict[str, LatestCommit] | None = {}
        self.updated_at: str | None = None

    # -- queries -----------------------------------------------------------------------------

    def has_seen(self, change: RecordChange) -> bool:
        """A change already applied, or older than the latest applied commit, is a duplicate or
        arrived too late."""
        return self.latest_commit is not None and self.latest_commit.covers(change.position)

    def late_fields(self, change: RecordChange) -> dict[str, Any]:
        """What an UPDATE older than the latest commit still changes: the fields no newer
        change wrote. Empty for a redelivery, for other kinds, and once the record is deleted
        (nothing follows a deletion but an undeletion)."""
        if change.kind is not ChangeKind.UPDATE or self.deleted or self.field_commits is None:
            return {}
        commits = self.field_commits
        return {name: value for name, value in change.fields.items()
                if name not in commits or not commits[name].covers(change.position)}

    def state_with(self, fields: Mapping[str, Any]) -> dict[str, Any]:
        return {**self.fields, **fields}

    # -- decisions ---------------------------------------------------------------------------

    def record_creation(self, change: RecordChange, *, broadcast: bool) -> list[DomainEvent]:
        if self.exists:
            raise SequenceViolation(self.id, change.kind.value, "the record already exists")
        self.check_required_fields(change.fields)
        return [self._event(Created, change, dict(change.fields), broadcast, offset=1)]

    def record_update(
        self, change: RecordChange, *, broadcast: bool, offset: int = 1
    ) -> list[DomainEvent]:
        self.check_not_deleted(change)
        if not change.fields:
            return []
        return [self._event(Updated, change, dict(change.fields), broadcast, offset=offset)]

    def record_late_update(
        self, change: RecordChange, fields: Mapping[str, Any], *, broadcast: bool
    ) -> list[DomainEvent]:
        """A change that arrived after newer ones, recorded with only its `late_fields`."""
        if not fields:
            return []
        return [self._event(Updated, change, dict(fields), broadcast, offset=1)]

    def record_deletion(self, change: RecordChange, *, broadcast: bool) -> list[DomainEvent]:
        if self.deleted:
            return []
        return [self._event(Deleted, change, {}, broadcast, offset=1)]

    def record_erasure(self, change: RecordChange) -> list[DomainEvent]:
        """A deletion for privacy: nothing to erase in a record never seen, or erased already
        (deleted, no values left); always broadcast, as a deletion is."""
        if not self.exists or (self.deleted and not self.fields):
            return []
        return [self._event(Erased, change, {}, True, offset=1)]

    def record_undeletion(self, change: RecordChange, *, broadcast: bool) -> list[DomainEvent]:
        if not self.deleted:
            raise SequenceViolation(self.id, change.kind.value, "the record is not deleted")
        return [self._event(Undeleted, change, dict(change.fields), broadcast, offset=1)]

    def record_true_state(
        self, change: RecordChange, true_fields: Mapping[str, Any] | None, *, broadcast: bool
    ) -> list[DomainEvent]:
        """Record what the CRM says the record is now, after the change details were lost."""
        if true_fields is None:
            return self.record_deletion(change, broadcast=broadcast) if self.exists else []
        if not self.exists:
            self.check_required_fields(true_fields)
            return [self._event(Created, change, dict(true_fields), broadcast, offset=1)]
        events: list[DomainEvent] = []
        if self.deleted:
            events.append(self._event(Undeleted, change, {}, broadcast, offset=1))
        differences = {k: v for k, v in true_fields.items() if self.fields.get(k) != v}
        if differences:
            offset = len(events) + 1
            events.append(self._event(Updated, change, differences, broadcast, offset=offset))
        return events

    # -- rules -------------------------------------------------------------------------------

    def check_not_deleted(self, change: RecordChange) -> None:
        if self.deleted:
            raise SequenceViolation(self.id, change.kind.value, "the record is deleted")

    def check_required_fields(self, fields: Mapping[str, Any]) -> None:
        missing = [name for name in self.required_on_create if fields.get(name) in (None, "")]
        if missing:
            raise MissingRequiredField(
                self.id, "CREATE", f"a {self.aggregate_type} needs {', '.join(missing)}"
            )

    # -- state -------------------------------------------------------------------------------

    def apply(self, event: DomainEvent) -> None:
        if isinstance(event, Created):
            self.exists, self.deleted = True, False
            self.fields = dict(event.data)
        elif isinstance(event, Updated):
            self.fields.update(event.data)
        elif isinstance(event, Deleted):
            self.deleted = True
        elif isinstance(event, Undeleted):
            self.deleted = False
            self.fields.update(event.data)
        elif isinstance(event, Erased):
            # as if reloaded from the erased history, whose events carry no field
            self.deleted, self.fields, self.field_commits = True, {}, {}
        metadata = event.metadata
        self.external_ids[metadata.provider] = metadata.external_id
        position = metadata.position
        self._track_field_commits(event, position)
        if position.is_after(self.last_position):
            self.last_position = position
        self.latest_commit = (
            LatestCommit.of(position)
            if self.latest_commit is None
            else self.latest_commit.including(position)
        )
        self.version = event.version
        occurred_at = event.occurred_at.isoformat()  # UTC: the strings sort in time order
        if self.updated_at is None or occurred_at > self.updated_at:  # a late change: older
            self.updated_at = occurred_at

    def snapshot(self) -> dict[str, Any]:
        position = self.last_position
        return {
            "id": self.id,
            "version": self.version,
            "exists": self.exists,
            "deleted": self.deleted,
            "fields": self.fields,
            "external_ids": self.external_ids,
            "last_position": None if position is None else list(position.__dict__.values()),
            "latest_commit": _latest_commit_state(self.latest_commit),
            "field_commits": None if self.field_commits is None else {
                name: _latest_commit_state(commit) for name, commit in self.field_commits.items()},
            "updated_at": self.updated_at,
        }

    @classmethod
    def from_snapshot(cls, snapshot: Mapping[str, Any]) -> CRMRecordAggregate:
        aggregate = cls(snapshot["id"])
        aggregate.version = snapshot["version"]
        aggregate.exists = snapshot["exists"]
        aggregate.deleted = snapshot["deleted"]
        aggregate.fields = dict(snapshot["fields"])
        aggregate.external_ids = dict(snapshot["external_ids"])
        position = snapshot["last_position"]
        aggregate.last_position = None if position is None else ChangePosition(*position)
        aggregate.latest_commit = _latest_commit_from_state(
            snapshot.get("latest_commit"), aggregate.last_position
        )
        field_commits = snapshot.get("field_commits")
        aggregate.field_commits = None if field_commits is None else {
            name: _latest_commit_from_state(state, None)
            for name, state in field_commits.items()}
        aggregate.updated_at = snapshot["updated_at"]
        return aggregate

    def _track_field_commits(self, event: DomainEvent, position: ChangePosition) -> None:
        if isinstance(event, Created):
            self.field_commits = {}
        commits = self.field_commits
        if commits is None:
            return
        only_this = LatestCommit.of(position)  # one for every field it is the latest of
        for name in event.data:
            known = commits.get(name)
            commits[name] = (only_this if known is None
                             or position.commit_timestamp > known.commit_timestamp
                             else known.including(position))

    def _event(
        self,
        event_class: type[DomainEvent],
        change: RecordChange,
        data: dict[str, Any],
        broadcast: bool,
        *,
        offset: int,
    ) -> DomainEvent:
        return event_class(
            aggregate_id=self.id,
            aggregate_type=self.aggregate_type,
            version=self.version + offset,
            occurred_at=change.occurred_at,
            data=data,
            metadata=EventMetadata.for_change(change, broadcast=broadcast),
        )


def _latest_commit_state(latest: LatestCommit | None) -> dict[str, Any] | None:
    if latest is None:
        return None
    return {"commit_timestamp": latest.commit_timestamp, "sequences": dict(latest.sequences)}


def _latest_commit_from_state(
    state: Mapping[str, Any] | None, last_position: ChangePosition | None
) -> LatestCommit | None:
    if state is not None:
        return LatestCommit(state["commit_timestamp"], dict(state["sequences"]))
    # Snapshots taken before the latest commit was kept: its last position is all we know.
    return None if last_position is None else LatestCommit.of(last_position)


def replay(aggregate: CRMRecordAggregate, events: list[DomainEvent]) -> CRMRecordAggregate:
    for event in events:
        aggregate.apply(event)
    return aggregate
