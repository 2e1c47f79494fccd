"""The record aggregate on its own: positions, decisions, rules, state, snapshots and events."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from domain_support import make_change

from domain.aggregates import (
    AGGREGATE_TYPES,
    ClientAggregate,
    ContactAggregate,
    DealAggregate,
)
from domain.aggregates.record import MissingRequiredField
from domain.changes import ChangeKind, ChangePosition
from domain.commands import ProcessCRMEventCommand
from domain.errors import ConcurrencyError, SequenceViolation
from domain.events import (
    Created,
    Deleted,
    DomainEvent,
    EventMetadata,
    Undeleted,
    Updated,
    event_from_dict,
)

CREATE = make_change(ChangeKind.CREATE, 1_000, {"name": "Acme", "industry": "Retail"})


def created_client() -> ClientAggregate:
    aggregate = ClientAggregate("agg-1")
    for event in aggregate.record_creation(CREATE, broadcast=True):
        aggregate.apply(event)
    return aggregate


# -- positions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("position", "other", "expected"),
    [
        (ChangePosition(5), None, True),
        (ChangePosition(6, "a", 1), ChangePosition(5, "a", 9), True),
        (ChangePosition(4, "a", 9), ChangePosition(5, "a", 1), False),
        (ChangePosition(5, "b", 1), ChangePosition(5, "a", 1), True),
        (ChangePosition(5, "a", 2), ChangePosition(5, "a", 1), True),
        (ChangePosition(5, "a", 1), ChangePosition(5, "a", 2), False),
        (ChangePosition(5, "a", 1), ChangePosition(5, "a", 1), False),
    ],
)
def test_change_position_is_after(position, other, expected):
    assert position.is_after(other) is expected


# -- registry and accessors -------------------------------------------------------------------


def test_every_aggregate_registers_by_its_type():
    assert AGGREGATE_TYPES["client"] is ClientAggregate
    assert AGGREGATE_TYPES["contact"] is ContactAggregate
    assert AGGREGATE_TYPES["deal"] is DealAggregate


def test_aggregate_accessors_read_domain_fields():
    client = ClientAggregate("c")
    client.fields = {"name": "Acme", "industry": "Retail", "status": "Active"}
    assert (client.name, client.industry, client.status) == ("Acme", "Retail", "Active")
    contact = ContactAggregate("p")
    contact.fields = {"email": "ada@acme.example"}
    assert contact.email == "ada@acme.example"
    deal = DealAggregate("d")
    deal.fields = {"stage": "Prospecting", "amount": 10.5}
    assert (deal.stage, deal.amount) == ("Prospecting", 10.5)
    assert ClientAggregate("e").name is None


# -- decisions and rules ----------------------------------------------------------------------


def test_decisions_do_not_change_state():
    aggregate = ClientAggregate("agg-1")
    before = aggregate.snapshot()
    events = aggregate.record_creation(CREATE, broadcast=True)
    assert [type(e) for e in events] == [Created]
    assert aggregate.snapshot() == before


def test_creation_event_carries_fields_version_and_change_time():
    [event] = ClientAggregate("agg-1").record_creation(CREATE, broadcast=False)
    assert event.data == {"name": "Acme", "industry": "Retail"}
    assert (event.aggregate_id, event.aggregate_type, event.version) == ("agg-1", "client", 1)
    assert event.occurred_at == CREATE.occurred_at
    assert event.metadata.broadcast is False


@pytest.mark.parametrize(
    ("aggregate_class", "fields", "missing"),
    [
        (ClientAggregate, {"industry": "Retail"}, "name"),
        (ClientAggregate, {"name": ""}, "name"),
        (ClientAggregate, {"name": None}, "name"),
        (ContactAggregate, {"first_name": "Ada"}, "last_name"),
        (DealAggregate, {"stage": "Prospecting"}, "name"),
    ],
)
def test_creation_without_a_required_field_is_refused(aggregate_class, fields, missing):
    change = make_change(ChangeKind.CREATE, 1_000, fields)
    with pytest.raises(MissingRequiredField) as raised:
        aggregate_class("agg-1").record_creation(change, broadcast=True)
    assert isinstance(raised.value, SequenceViolation)
    assert missing in raised.value.reason
    assert raised.value.change_kind == "CREATE"


def test_update_without_fields_decides_nothing():
    aggregate = created_client()
    assert aggregate.record_update(make_change(ChangeKind.UPDATE, 2_000), broadcast=True) == []


def test_second_deletion_decides_nothing():
    aggregate = created_client()
    aggregate.apply(
        aggregate.record_deletion(make_change(ChangeKind.DELETE, 2_000), broadcast=True)[0]
    )
    assert aggregate.record_deletion(make_change(ChangeKind.DELETE, 3_000), broadcast=True) == []


def test_undeleting_a_live_record_is_refused():
    with pytest.raises(SequenceViolation, match="not deleted"):
        created_client().record_undeletion(make_change(ChangeKind.UNDELETE, 2_000), broadcast=True)


# -- state ------------------------------------------------------------------------------------


def test_apply_tracks_version_external_id_position_and_update_time():
    aggregate = created_client()
    assert aggregate.exists and not aggregate.deleted
    assert aggregate.version == 1
    assert aggregate.external_ids == {"salesforce": "001EXT"}
    assert aggregate.last_position == CREATE.position
    assert aggregate.updated_at == CREATE.occurred_at.isoformat()


def test_apply_of_an_older_event_keeps_the_latest_position():
    aggregate = created_client()
    older = make_change(ChangeKind.UPDATE, 500, {"industry": "Energy"})
    aggregate.apply(aggregate.record_update(older, broadcast=True)[0])
    assert aggregate.last_position == CREATE.position
    assert aggregate.version == 2
    assert aggregate.updated_at == CREATE.occurred_at.isoformat()  # not the older time


def test_state_with_overlays_fields_without_changing_them():
    aggregate = created_client()
    assert aggregate.state_with({"industry": "Energy"}) == {"name": "Acme", "industry": "Energy"}
    assert aggregate.fields["industry"] == "Retail"


def test_snapshot_round_trips_through_from_snapshot():
    aggregate = created_client()
    for change in (
        make_change(ChangeKind.UPDATE, 2_000, {"website": None, "employees": 12}),
        make_change(ChangeKind.DELETE, 3_000, transaction_key="t2", sequence_number=4),
    ):
        decide = (
            aggregate.record_update
            if change.kind is ChangeKind.UPDATE
            else aggregate.record_deletion
        )
        for event in decide(change, broadcast=True):
            aggregate.apply(event)

    restored = ClientAggregate.from_snapshot(aggregate.snapshot())

    assert type(restored) is ClientAggregate
    assert restored.snapshot() == aggregate.snapshot()
    assert restored.last_position == ChangePosition(3_000, "t2", 4)
    assert restored.deleted is True
    assert restored.fields == {
        "name": "Acme",
        "industry": "Retail",
        "website": None,
        "employees": 12,
    }


def test_snapshot_of_a_fresh_aggregate_round_trips():
    fresh = DealAggregate("d-1")
    assert fresh.snapshot()["last_position"] is None
    assert DealAggregate.from_snapshot(fresh.snapshot()).snapshot() == fresh.snapshot()


# -- events -----------------------------------------------------------------------------------


def sample_events() -> list[DomainEvent]:
    metadata = EventMetadata.for_change(CREATE, broadcast=False)
    at = datetime(2025, 11, 20, 10, 15, 30, tzinfo=UTC)
    common = {"aggregate_id": "agg-1", "aggregate_type": "client", "occurred_at": at}
    return [
        Created(
            version=1,
            data={"name": "Acme", "billing_address.city": "London"},
            metadata=metadata,
            **common,
        ),
        Updated(version=2, data={"website": None, "employees": 5}, metadata=metadata, **common),
        Deleted(version=3, data={}, metadata=metadata, **common),
        Undeleted(version=4, data={"status": "Active"}, metadata=metadata, **common),
    ]


@pytest.mark.parametrize("event", sample_events(), ids=lambda e: e.event_type)
def test_event_round_trips_through_to_dict_and_event_from_dict(event):
    raw = event.to_dict()
    assert raw["event_type"] == event.event_type
    assert raw["occurred_at"] == "2025-11-20T10:15:30+00:00"
    assert raw["metadata"]["broadcast"] is False
    rebuilt = event_from_dict(raw)
    assert type(rebuilt) is type(event)
    assert rebuilt == event
    assert rebuilt.to_dict() == raw


def test_event_from_dict_accepts_a_datetime_and_refuses_an_unknown_type():
    raw = sample_events()[0].to_dict()
    assert event_from_dict(
        {**raw, "occurred_at": sample_events()[0].occurred_at}
    ) == event_from_dict(raw)
    with pytest.raises(KeyError):
        event_from_dict({**raw, "event_type": "Merged"})


def test_each_event_gets_its_own_event_id():
    first, second = sample_events()[:2]
    assert first.event_id != second.event_id


def test_metadata_position_rebuilds_the_change_position():
    change = make_change(ChangeKind.UPDATE, 7_000, transaction_key="t9", sequence_number=3)
    assert EventMetadata.for_change(change, broadcast=True).position == change.position


# -- commands and errors ----------------------------------------------------------------------


def test_source_event_id_names_provider_event_and_record_or_star():
    at = datetime(2025, 1, 1, tzinfo=UTC)
    command = ProcessCRMEventCommand("salesforce", "e-1", "Account", "001", {}, "c", at)
    assert command.source_event_id == "salesforce:e-1:001"
    assert ProcessCRMEventCommand(
        "salesforce", "e-1", "Account", None, {}, "c", at
    ).source_event_id == ("salesforce:e-1:*")


def test_errors_carry_what_a_user_needs():
    violation = SequenceViolation("agg-1", "UPDATE", "the record is deleted")
    assert (violation.aggregate_id, violation.change_kind) == ("agg-1", "UPDATE")
    assert str(violation) == "UPDATE refused for aggregate agg-1: the record is deleted"
    conflict = ConcurrencyError("agg-1", 3, 4)
    assert (conflict.expected_version, conflict.actual_version) == (3, 4)
    assert "expected version 3" in str(conflict) and "actual version 4" in str(conflict)
