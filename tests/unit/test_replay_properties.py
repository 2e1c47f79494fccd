"""Replay: the events an aggregate produced rebuild exactly the same aggregate.

Example-based on the Salesforce samples, then property-based on random change histories.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

from domain_support import make_change, sample_change
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from domain.aggregates import ClientAggregate, replay
from domain.changes import ChangeKind, RecordChange
from domain.errors import SequenceViolation
from domain.events import DomainEvent, event_from_dict
from domain.services import record_change

SAMPLE_HISTORY = (
    "account_create",
    "account_update",
    "account_update_nulled",
    "account_status_inactive",
    "account_delete",
    "account_undelete",
)


def test_replaying_the_sample_history_gives_the_same_snapshot():
    live = ClientAggregate("agg-1")
    events: list[DomainEvent] = []
    for name in SAMPLE_HISTORY:
        events += record_change(live, sample_change(name))
    events += record_change(live, sample_change("account_gap_update"), {"name": "Acme Ltd"})

    assert [e.event_type for e in events] == [
        "Created", "Updated", "Updated", "Updated", "Deleted", "Undeleted", "Updated",
    ]  # fmt: skip
    assert [e.version for e in events] == list(range(1, 8))
    rebuilt = replay(ClientAggregate("agg-1"), events)
    assert rebuilt.snapshot() == live.snapshot()
    assert rebuilt.fields["name"] == "Acme Ltd"
    assert rebuilt.fields["status"] == "Active"
    assert rebuilt.fields["website"] is None


def test_replaying_stored_events_gives_the_same_snapshot():
    live = ClientAggregate("agg-1")
    events = [e for name in SAMPLE_HISTORY for e in record_change(live, sample_change(name))]
    stored = [event_from_dict(copy.deepcopy(event.to_dict())) for event in events]
    assert replay(ClientAggregate("agg-1"), stored).snapshot() == live.snapshot()


def test_replay_continues_from_a_snapshot():
    live = ClientAggregate("agg-1")
    events = [e for name in SAMPLE_HISTORY for e in record_change(live, sample_change(name))]
    halfway = replay(ClientAggregate("agg-1"), events[:3]).snapshot()
    resumed = replay(ClientAggregate.from_snapshot(halfway), events[3:])
    assert resumed.snapshot() == live.snapshot()


# -- property-based ---------------------------------------------------------------------------

FIELD_NAMES = ("name", "status", "industry", "employees", "website", "billing_address.city")
JSON_SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**53), max_value=2**53),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=8),
    st.sampled_from(["Active", "Inactive", "pending", "DRAFT"]),
)
FIELDS = st.dictionaries(st.sampled_from(FIELD_NAMES), JSON_SCALARS, max_size=4)
NAMED_FIELDS = st.builds(
    lambda fields, name: {**fields, "name": name}, FIELDS, st.text(min_size=1, max_size=8)
)
KINDS = st.sampled_from(
    [ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.UPDATE, ChangeKind.DELETE,
     ChangeKind.UNDELETE, ChangeKind.GAP, ChangeKind.RESYNC]
)  # fmt: skip


@dataclass(frozen=True)
class Step:
    change: RecordChange
    current_state: dict[str, Any] | None


@st.composite
def histories(draw: st.DrawFn) -> list[Step]:
    """A record's changes: positions increasing or shuffled, sometimes colliding."""
    count = draw(st.integers(min_value=1, max_value=12))
    timestamps = draw(st.lists(st.integers(1, 40), min_size=count, max_size=count))
    if draw(st.booleans()):
        timestamps.sort()
    steps = []
    for timestamp in timestamps:
        kind = draw(KINDS)
        fields = draw(st.one_of(NAMED_FIELDS, FIELDS))
        change = make_change(
            kind,
            timestamp * 1_000,
            {} if kind is ChangeKind.DELETE else fields,
            transaction_key=draw(st.sampled_from(["tx-a", "tx-b"])),
            sequence_number=draw(st.integers(1, 3)),
        )
        steps.append(Step(change, draw(st.one_of(st.none(), NAMED_FIELDS, FIELDS))))
    return steps


def apply_history(aggregate: ClientAggregate, steps: list[Step]) -> list[DomainEvent]:
    """Every step through record_change; a refused step must leave the aggregate untouched."""
    events: list[DomainEvent] = []
    for step in steps:
        before = copy.deepcopy(aggregate.snapshot())
        try:
            events += record_change(aggregate, step.change, step.current_state)
        except SequenceViolation:
            assert aggregate.snapshot() == before
    return events


PROPERTY_SETTINGS = settings(
    max_examples=300,
    deadline=None,
    database=None,  # pure tests: no example database written into the repository
    suppress_health_check=[HealthCheck.too_slow],
)


@PROPERTY_SETTINGS
@given(histories())
def test_replaying_all_produced_events_gives_an_identical_snapshot(steps):
    live = ClientAggregate("agg-1")
    events = apply_history(live, steps)

    assert [event.version for event in events] == list(range(1, len(events) + 1))
    assert live.version == len(events)
    assert replay(ClientAggregate("agg-1"), events).snapshot() == live.snapshot()
    stored = [event_from_dict(event.to_dict()) for event in events]
    assert replay(ClientAggregate("agg-1"), stored).snapshot() == live.snapshot()
    assert ClientAggregate.from_snapshot(live.snapshot()).snapshot() == live.snapshot()


@PROPERTY_SETTINGS
@given(histories())
def test_applying_the_same_change_twice_yields_no_events_the_second_time(steps):
    aggregate = ClientAggregate("agg-1")
    for step in steps:
        try:
            record_change(aggregate, step.change, step.current_state)
        except SequenceViolation:
            continue
        before = copy.deepcopy(aggregate.snapshot())
        assert record_change(aggregate, step.change, step.current_state) == []
        assert aggregate.snapshot() == before


@PROPERTY_SETTINGS
@given(histories())
def test_a_refused_change_is_refused_again_and_changes_nothing(steps):
    aggregate = ClientAggregate("agg-1")
    for step in steps:
        before = copy.deepcopy(aggregate.snapshot())
        try:
            record_change(aggregate, step.change, step.current_state)
        except SequenceViolation as first:
            assert aggregate.snapshot() == before
            try:
                record_change(aggregate, step.change, step.current_state)
            except SequenceViolation as second:
                assert str(second) == str(first)
            else:
                raise AssertionError("a refused change was accepted the second time")
