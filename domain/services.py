"""Domain services: decisions that need more than one aggregate's own state.

They stay pure: when outside data is needed (the CRM's current copy of a record) the caller asks
`needs_current_state`, fetches it through the CRM port, and passes it in.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.aggregates.record import CRMRecordAggregate
from domain.changes import ChangeKind, RecordChange
from domain.errors import SequenceViolation
from domain.events import DomainEvent

# Records in these states are kept in the history but not announced to other systems.
SILENT_STATUSES = frozenset({"inactive", "pending", "draft"})


def is_broadcast(state: Mapping[str, Any]) -> bool:
    """Broadcast policy: an inactive, pending or draft record is recorded but not broadcast
    (its deletion is: a record that no longer exists must leave every view, whatever its
    status)."""
    status = state.get("status")
    return not (isinstance(status, str) and status.strip().lower() in SILENT_STATUSES)


def needs_current_state(aggregate: CRMRecordAggregate, change: RecordChange) -> bool:
    """A gap, or the first change of a record we never saw created, needs the CRM's copy."""
    if aggregate.has_seen(change) or change.kind in (ChangeKind.RESYNC, ChangeKind.ERASE):
        return False
    if change.kind is ChangeKind.GAP:
        return True
    return not aggregate.exists and change.kind is not ChangeKind.CREATE


def record_change(
    aggregate: CRMRecordAggregate,
    change: RecordChange,
    current_state: Mapping[str, Any] | None = None,
) -> list[DomainEvent]:
    """Decide the events for one change and apply them to the aggregate.

    Duplicates produce nothing; a change older than the last applied one produces only what it
    still changes (an UPDATE's fields no newer change wrote). When the events
    cannot be stored the caller must discard the aggregate (it already reflects them).
    """
    if aggregate.has_seen(change):
        # A redelivery changes nothing; a late UPDATE still sets what no newer change wrote,
        # so any delivery order ends in the state of the in-order history.
        late = aggregate.late_fields(change)
        broadcast = is_broadcast(aggregate.state_with(late))
        return _apply(aggregate, aggregate.record_late_update(change, late, broadcast=broadcast))
    if change.kind is ChangeKind.RESYNC:
        # Refused before anything is applied, so the aggregate is left untouched.
        raise SequenceViolation(aggregate.id, change.kind.value, "not a change to a single record")
    if change.kind is ChangeKind.ERASE:
        # a record never seen has no values here to erase: the CRM's copy is not needed
        return _apply(aggregate, aggregate.record_erasure(change))
    events: list[DomainEvent] = []
    if change.kind is ChangeKind.GAP:
        return _apply(aggregate, _true_state(aggregate, change, current_state))
    if not aggregate.exists and change.kind is not ChangeKind.CREATE:
        if current_state is None:
            raise SequenceViolation(
                aggregate.id, change.kind.value, "record never seen and not found in the CRM"
            )
        events += _apply(aggregate, _true_state(aggregate, change, current_state))
        if change.kind is ChangeKind.UNDELETE:
            return events  # the CRM's copy already is the restored record
    return events + _apply(aggregate, _decide(aggregate, change))


def _true_state(
    aggregate: CRMRecordAggregate, change: RecordChange, state: Mapping[str, Any] | None
) -> list[DomainEvent]:
    gone = state is None  # the CRM no longer has the record: a deletion, announced
    broadcast = gone or is_broadcast(aggregate.state_with(state))
    return aggregate.record_true_state(change, state, broadcast=broadcast)


def _decide(aggregate: CRMRecordAggregate, change: RecordChange) -> list[DomainEvent]:
    broadcast = (change.kind is ChangeKind.DELETE
                 or is_broadcast(aggregate.state_with(change.fields)))
    if change.kind is ChangeKind.CREATE:
        return aggregate.record_creation(change, broadcast=broadcast)
    if change.kind is ChangeKind.UPDATE:
        return aggregate.record_update(change, broadcast=broadcast)
    if change.kind is ChangeKind.DELETE:
        return aggregate.record_deletion(change, broadcast=broadcast)
    if change.kind is ChangeKind.UNDELETE:
        return aggregate.record_undeletion(change, broadcast=broadcast)
    raise SequenceViolation(aggregate.id, change.kind.value, "not a change to a single record")


def _apply(aggregate: CRMRecordAggregate, events: list[DomainEvent]) -> list[DomainEvent]:
    for event in events:
        aggregate.apply(event)
    return events
