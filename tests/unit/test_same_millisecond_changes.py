"""Transactions committed in the same millisecond: each is applied once, a redelivery never.

Salesforce stamps commits to the millisecond, so two transactions can share a commit time. Both
are real changes; a redelivery of either (a retry, or the same change arriving by AppFlow and by
Event Relay with different event ids) must be recognised, after a replay and a snapshot too.
"""

from __future__ import annotations

import dataclasses

from domain_support import make_change
from hypothesis import given
from test_replay_properties import PROPERTY_SETTINGS, histories

from domain.aggregates import ClientAggregate, replay
from domain.changes import ChangeKind, ChangePosition, LatestCommit, RecordChange
from domain.errors import SequenceViolation
from domain.events import DomainEvent, Updated
from domain.services import record_change

U = ChangeKind.UPDATE
SAME_MS = 2_000


def created() -> tuple[ClientAggregate, list[DomainEvent]]:
    aggregate = ClientAggregate("agg-1")
    events = record_change(aggregate, make_change(ChangeKind.CREATE, 1_000, {"name": "Acme"}))
    return aggregate, events


def redelivered(change: RecordChange) -> RecordChange:
    """The same provider change under another event id, as a second route would deliver it."""
    return dataclasses.replace(change, source_event_id=f"{change.source_event_id}:again")


def two_transactions_in_one_millisecond(aggregate: ClientAggregate) -> list[RecordChange]:
    """Records tx-a then tx-b, both committed at SAME_MS; returns the two changes."""
    first = make_change(U, SAME_MS, {"industry": "Retail"}, transaction_key="tx-a")
    second = make_change(U, SAME_MS, {"industry": "Energy"}, transaction_key="tx-b")
    recorded = record_change(aggregate, first) + record_change(aggregate, second)
    assert [(type(e), e.version) for e in recorded] == [(Updated, 2), (Updated, 3)]
    return [first, second]


def test_redelivery_of_the_earlier_same_millisecond_transaction_changes_nothing():
    aggregate, _ = created()
    first, _ = two_transactions_in_one_millisecond(aggregate)

    assert aggregate.has_seen(redelivered(first))
    assert record_change(aggregate, redelivered(first)) == []
    assert aggregate.fields["industry"] == "Energy"
    assert aggregate.version == 3


def test_redelivery_of_the_later_same_millisecond_transaction_changes_nothing():
    aggregate, _ = created()
    _, second = two_transactions_in_one_millisecond(aggregate)
    assert record_change(aggregate, redelivered(second)) == []


def test_a_third_transaction_in_the_same_millisecond_is_still_applied():
    aggregate, _ = created()
    two_transactions_in_one_millisecond(aggregate)
    third = make_change(U, SAME_MS, {"industry": "Mining"}, transaction_key="tx-c")

    assert not aggregate.has_seen(third)
    assert [e.version for e in record_change(aggregate, third)] == [4]
    assert aggregate.fields["industry"] == "Mining"


def test_a_later_sequence_number_of_a_remembered_transaction_is_still_applied():
    aggregate, _ = created()
    first, _ = two_transactions_in_one_millisecond(aggregate)
    next_in_first = make_change(
        U, SAME_MS, {"employees": 3}, transaction_key="tx-a", sequence_number=2
    )
    assert not aggregate.has_seen(next_in_first)
    assert len(record_change(aggregate, next_in_first)) == 1
    assert record_change(aggregate, redelivered(first)) == []


def test_replayed_events_remember_every_same_millisecond_transaction():
    live, events = created()
    first = make_change(U, SAME_MS, {"industry": "Retail"}, transaction_key="tx-a")
    second = make_change(U, SAME_MS, {"industry": "Energy"}, transaction_key="tx-b")
    events += record_change(live, first) + record_change(live, second)

    rebuilt = replay(ClientAggregate("agg-1"), events)

    assert rebuilt.has_seen(redelivered(first)) and rebuilt.has_seen(redelivered(second))
    assert rebuilt.latest_commit == LatestCommit(SAME_MS, {"tx-a": 1, "tx-b": 1})


def test_a_snapshot_keeps_every_same_millisecond_transaction():
    aggregate, _ = created()
    changes = two_transactions_in_one_millisecond(aggregate)

    restored = ClientAggregate.from_snapshot(aggregate.snapshot())

    assert all(restored.has_seen(redelivered(change)) for change in changes)
    assert restored.snapshot() == aggregate.snapshot()


def test_a_snapshot_from_before_the_latest_commit_was_kept_still_knows_its_last_position():
    aggregate, _ = created()
    _, second = two_transactions_in_one_millisecond(aggregate)
    old_format = {k: v for k, v in aggregate.snapshot().items() if k != "latest_commit"}

    restored = ClientAggregate.from_snapshot(old_format)

    assert restored.has_seen(redelivered(second))
    assert restored.latest_commit == LatestCommit.of(second.position)


def test_latest_commit_forgets_transactions_of_an_earlier_millisecond():
    latest = LatestCommit.of(ChangePosition(SAME_MS, "tx-a", 1))
    moved_on = latest.including(ChangePosition(SAME_MS + 1, "tx-b", 1))

    assert moved_on == LatestCommit(SAME_MS + 1, {"tx-b": 1})
    assert moved_on.covers(ChangePosition(SAME_MS, "tx-z", 9))  # older: too late to apply
    assert moved_on.including(ChangePosition(SAME_MS, "tx-c", 1)) == moved_on


def test_latest_commit_keeps_the_highest_sequence_number_of_a_transaction():
    latest = LatestCommit.of(ChangePosition(SAME_MS, "tx-a", 3))
    assert latest.including(ChangePosition(SAME_MS, "tx-a", 1)).sequences == {"tx-a": 3}
    assert latest.covers(ChangePosition(SAME_MS, "tx-a", 2))
    assert not latest.covers(ChangePosition(SAME_MS, "tx-a", 4))


@PROPERTY_SETTINGS
@given(histories())
def test_a_change_that_produced_events_is_never_applied_again_whatever_followed(steps):
    aggregate = ClientAggregate("agg-1")
    applied, events = [], []
    for step in steps:
        try:
            produced = record_change(aggregate, step.change, step.current_state)
        except SequenceViolation:
            continue
        if produced:
            applied.append(step)
            events += produced

    restored = ClientAggregate.from_snapshot(aggregate.snapshot())
    rebuilt = replay(ClientAggregate("agg-1"), events)
    for step in applied:
        again = redelivered(step.change)
        assert record_change(aggregate, again, step.current_state) == []
        assert restored.has_seen(again) and rebuilt.has_seen(again)
