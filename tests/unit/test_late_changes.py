"""Changes that arrive after newer ones (EventBridge does not keep order): an UPDATE carries only
the fields it changed, so a late one still sets the fields no newer change wrote, and any
delivery order (with redeliveries) ends in the state of the in-order history."""

from __future__ import annotations

from domain_support import make_change
from hypothesis import given
from hypothesis import strategies as st
from test_replay_properties import FIELDS, PROPERTY_SETTINGS

from domain.aggregates import ClientAggregate, replay
from domain.changes import ChangeKind, RecordChange
from domain.events import DomainEvent, Updated
from domain.services import record_change

C, U, D = ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DELETE


def created() -> tuple[ClientAggregate, list[DomainEvent]]:
    aggregate = ClientAggregate("agg-1")
    return aggregate, record_change(aggregate, make_change(C, 1_000, {"name": "Acme",
                                                                      "industry": "Retail"}))


def test_a_late_update_sets_the_fields_no_newer_change_wrote():
    aggregate, _ = created()
    record_change(aggregate, make_change(U, 3_000, {"industry": "Energy"}))

    late = record_change(aggregate, make_change(U, 2_000, {"industry": "Mining", "employees": 7}))

    assert [(type(e), e.version, e.data) for e in late] == [(Updated, 3, {"employees": 7})]
    assert aggregate.fields == {"name": "Acme", "industry": "Energy", "employees": 7}
    assert aggregate.last_position.commit_timestamp == 3_000  # still the newest change


def test_a_late_update_whose_every_field_was_rewritten_changes_nothing():
    aggregate, _ = created()
    record_change(aggregate, make_change(U, 3_000, {"industry": "Energy", "employees": 9}))
    assert record_change(aggregate, make_change(U, 2_000, {"industry": "Mining",
                                                           "employees": 7})) == []


def test_a_redelivered_late_update_changes_nothing_the_second_time():
    aggregate, _ = created()
    record_change(aggregate, make_change(U, 3_000, {"industry": "Energy"}))
    late = make_change(U, 2_000, {"employees": 7})
    assert len(record_change(aggregate, late)) == 1
    assert record_change(aggregate, late) == []


def test_a_late_update_of_a_deleted_record_is_ignored():
    aggregate, _ = created()
    record_change(aggregate, make_change(D, 3_000))
    assert record_change(aggregate, make_change(U, 2_000, {"employees": 7})) == []


def test_late_updates_survive_a_snapshot_and_a_replay():
    aggregate, events = created()
    events += record_change(aggregate, make_change(U, 3_000, {"industry": "Energy"}))
    restored = ClientAggregate.from_snapshot(aggregate.snapshot())
    replayed = replay(ClientAggregate("agg-1"), events)
    for copy_ in (restored, replayed):
        late = record_change(copy_, make_change(U, 2_000, {"industry": "Mining", "employees": 7}))
        assert [e.data for e in late] == [{"employees": 7}]


def test_a_snapshot_from_before_fields_were_tracked_ignores_late_updates_whole():
    aggregate, _ = created()
    record_change(aggregate, make_change(U, 3_000, {"industry": "Energy"}))
    old = {key: value for key, value in aggregate.snapshot().items() if key != "field_commits"}
    restored = ClientAggregate.from_snapshot(old)
    assert record_change(restored, make_change(U, 2_000, {"employees": 7})) == []
    assert record_change(restored, make_change(U, 4_000, {"employees": 8}))[0].version == 3


@st.composite
def update_streams(draw: st.DrawFn) -> tuple[list[RecordChange], list[RecordChange]]:
    """(the CREATE then UPDATEs in commit order, the same delivered in any order, with
    redeliveries); the CREATE is delivered first, as a missing one is the CRM's business."""
    count = draw(st.integers(1, 8))
    timestamps = sorted(draw(st.lists(st.integers(2, 1_000), min_size=count, max_size=count,
                                      unique=True)))
    create = make_change(C, 1_000, {**draw(FIELDS), "name": "Acme"})
    updates = [make_change(U, 1_000 + t, draw(FIELDS)) for t in timestamps]
    delivered = draw(st.permutations(updates + draw(st.lists(st.sampled_from(updates),
                                                              max_size=6))))
    return [create, *updates], [create, *delivered]


@PROPERTY_SETTINGS
@given(update_streams())
def test_any_delivery_order_ends_in_the_in_order_state(streams):
    in_order, delivered = streams
    expected = ClientAggregate("agg-1")
    for change in in_order:
        record_change(expected, change)
    actual = ClientAggregate("agg-1")
    events = [event for change in delivered for event in record_change(actual, change)]

    assert actual.fields == expected.fields
    assert len(events) <= len(in_order)  # each change recorded once at most
    assert replay(ClientAggregate("agg-1"), events).fields == actual.fields
