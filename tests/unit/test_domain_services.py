"""Domain services: record_change, needs_current_state and the broadcast policy."""

from __future__ import annotations

import copy

import pytest
from domain_support import CORRELATION_ID, load_sample, make_change, sample_change

from domain.aggregates import ClientAggregate
from domain.aggregates.record import MissingRequiredField
from domain.changes import ChangeKind
from domain.errors import SequenceViolation
from domain.events import Created, Deleted, Undeleted, Updated
from domain.services import is_broadcast, needs_current_state, record_change

C, U, D, UD, GAP = (
    ChangeKind.CREATE,
    ChangeKind.UPDATE,
    ChangeKind.DELETE,
    ChangeKind.UNDELETE,
    ChangeKind.GAP,
)


def kinds_and_versions(events):
    return [(type(event), event.version) for event in events]


def created(fields=None, at=1_000) -> ClientAggregate:
    aggregate = ClientAggregate("agg-1")
    record_change(aggregate, make_change(C, at, fields or {"name": "Acme", "status": "Active"}))
    return aggregate


def frozen(aggregate: ClientAggregate) -> dict:
    return copy.deepcopy(aggregate.snapshot())


# -- the ordinary life of a record -----------------------------------------------------------


def test_create_then_update():
    aggregate = ClientAggregate("agg-1")
    first = record_change(aggregate, make_change(C, 1_000, {"name": "Acme"}))
    second = record_change(aggregate, make_change(U, 2_000, {"industry": "Retail"}))
    assert kinds_and_versions(first + second) == [(Created, 1), (Updated, 2)]
    assert second[0].data == {"industry": "Retail"}
    assert aggregate.fields == {"name": "Acme", "industry": "Retail"}
    assert aggregate.version == 2


def test_samples_create_then_update_then_nulled_field():
    aggregate = ClientAggregate("agg-1")
    for name in ("account_create", "account_update", "account_update_nulled"):
        assert len(record_change(aggregate, sample_change(name))) == 1
    assert aggregate.fields["industry"] == "Aerospace"
    assert aggregate.fields["employees"] == 5600
    assert aggregate.fields["website"] is None
    assert aggregate.fields["billing_address.city"] == "London"
    assert aggregate.version == 3


def test_delete_then_undelete():
    aggregate = created()
    deleted = record_change(aggregate, make_change(D, 2_000))
    assert aggregate.deleted
    undeleted = record_change(aggregate, make_change(UD, 3_000, {"status": "Active", "x": 1}))
    assert kinds_and_versions(deleted + undeleted) == [(Deleted, 2), (Undeleted, 3)]
    assert not aggregate.deleted
    assert aggregate.fields == {"name": "Acme", "status": "Active", "x": 1}


def test_second_create_raises_sequence_violation():
    aggregate = created()
    with pytest.raises(SequenceViolation, match="already exists"):
        record_change(aggregate, make_change(C, 2_000, {"name": "Other"}))


def test_update_after_delete_raises_sequence_violation():
    aggregate = created()
    record_change(aggregate, make_change(D, 2_000))
    with pytest.raises(SequenceViolation, match="deleted"):
        record_change(aggregate, make_change(U, 3_000, {"industry": "Retail"}))


def test_undelete_of_a_live_record_raises_sequence_violation():
    with pytest.raises(SequenceViolation, match="not deleted"):
        record_change(created(), make_change(UD, 2_000, {"name": "Acme"}))


def test_create_without_name_raises_and_leaves_the_aggregate_untouched():
    aggregate = ClientAggregate("agg-1")
    with pytest.raises(MissingRequiredField, match="name"):
        record_change(aggregate, make_change(C, 1_000, {"industry": "Retail"}))
    assert not aggregate.exists and aggregate.version == 0


# -- duplicates and ordering ------------------------------------------------------------------


def test_duplicate_change_produces_no_events():
    aggregate = created()
    update = make_change(U, 2_000, {"industry": "Retail"})
    assert len(record_change(aggregate, update)) == 1
    before = frozen(aggregate)
    assert record_change(aggregate, update) == []
    assert frozen(aggregate) == before


def test_stale_change_with_older_commit_timestamp_produces_no_events():
    aggregate = created()
    record_change(aggregate, make_change(U, 3_000, {"industry": "Retail"}))
    assert record_change(aggregate, make_change(U, 2_000, {"industry": "Energy"})) == []
    assert aggregate.fields["industry"] == "Retail"


def test_same_commit_timestamp_in_another_transaction_is_not_stale():
    aggregate = created()
    record_change(aggregate, make_change(U, 2_000, {"industry": "Retail"}, transaction_key="a"))
    other = make_change(U, 2_000, {"industry": "Energy"}, transaction_key="b")
    assert not aggregate.has_seen(other)
    assert kinds_and_versions(record_change(aggregate, other)) == [(Updated, 3)]


def test_same_transaction_later_sequence_number_is_new_and_earlier_is_stale():
    aggregate = created()
    record_change(aggregate, make_change(U, 2_000, {"a": 1}, sequence_number=2))
    assert record_change(aggregate, make_change(U, 2_000, {"a": 0}, sequence_number=1)) == []
    assert len(record_change(aggregate, make_change(U, 2_000, {"a": 3}, sequence_number=3))) == 1


# -- records we never saw created -------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "expected"),
    [(C, False), (U, True), (D, True), (UD, True), (GAP, True), (ChangeKind.RESYNC, False)],
)
def test_needs_current_state_for_an_unknown_record(kind, expected):
    assert needs_current_state(ClientAggregate("agg-1"), make_change(kind, 1_000)) is expected


def test_needs_current_state_only_for_gaps_once_the_record_exists():
    aggregate = created()
    assert needs_current_state(aggregate, make_change(U, 2_000, {"a": 1})) is False
    assert needs_current_state(aggregate, make_change(GAP, 2_000)) is True
    assert needs_current_state(aggregate, make_change(GAP, 500)) is False  # already seen


def test_update_of_unknown_record_with_current_state_yields_created_then_updated():
    aggregate = ClientAggregate("agg-1")
    state = {"name": "Acme", "industry": "Retail"}
    events = record_change(aggregate, make_change(U, 2_000, {"industry": "Energy"}), state)
    assert kinds_and_versions(events) == [(Created, 1), (Updated, 2)]
    assert events[0].data == state
    assert events[1].data == {"industry": "Energy"}
    assert aggregate.fields == {"name": "Acme", "industry": "Energy"}


def test_missing_create_without_current_state_raises_sequence_violation():
    aggregate = ClientAggregate("agg-1")
    with pytest.raises(SequenceViolation, match="never seen"):
        record_change(aggregate, make_change(U, 2_000, {"industry": "Energy"}), None)
    assert aggregate.version == 0 and not aggregate.exists


def test_delete_of_unknown_record_with_current_state_yields_created_then_deleted():
    events = record_change(ClientAggregate("agg-1"), make_change(D, 2_000), {"name": "Acme"})
    assert kinds_and_versions(events) == [(Created, 1), (Deleted, 2)]


def test_undelete_of_unknown_record_yields_only_created_from_the_crm_copy():
    events = record_change(
        ClientAggregate("agg-1"), make_change(UD, 2_000, {"name": "Old"}), {"name": "Acme"}
    )
    assert kinds_and_versions(events) == [(Created, 1)]
    assert events[0].data == {"name": "Acme"}


# -- gaps and re-syncs ------------------------------------------------------------------------


def test_gap_without_current_state_deletes_a_known_record():
    aggregate = created()
    assert kinds_and_versions(record_change(aggregate, make_change(GAP, 2_000), None)) == [
        (Deleted, 2)
    ]
    assert aggregate.deleted


def test_gap_without_current_state_on_an_unknown_record_yields_nothing():
    assert record_change(ClientAggregate("agg-1"), make_change(GAP, 2_000), None) == []


def test_gap_on_an_unknown_record_creates_it_from_the_crm_copy():
    events = record_change(ClientAggregate("agg-1"), make_change(GAP, 2_000), {"name": "Acme"})
    assert kinds_and_versions(events) == [(Created, 1)]


def test_gap_on_a_deleted_record_yields_undeleted_then_only_the_differing_fields():
    aggregate = created({"name": "Acme", "status": "Active", "industry": "Retail"})
    record_change(aggregate, make_change(D, 2_000))
    state = {"name": "Acme", "status": "Active", "industry": "Energy", "website": None}
    events = record_change(aggregate, make_change(GAP, 3_000), state)
    assert kinds_and_versions(events) == [(Undeleted, 3), (Updated, 4)]
    assert events[0].data == {}
    # An absent field and a null one are the same: only the industry really differs.
    assert events[1].data == {"industry": "Energy"}
    assert not aggregate.deleted


def test_gap_with_an_identical_crm_copy_yields_nothing():
    aggregate = created()
    assert record_change(aggregate, make_change(GAP, 2_000), dict(aggregate.fields)) == []


def test_resync_is_refused_without_touching_the_aggregate():
    for aggregate in (ClientAggregate("agg-1"), created()):
        before = frozen(aggregate)
        with pytest.raises(SequenceViolation, match="not a change to a single record"):
            record_change(aggregate, make_change(ChangeKind.RESYNC, 5_000), {"name": "Acme"})
        assert frozen(aggregate) == before


# -- broadcast policy and metadata ------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "broadcast"),
    [
        ("Inactive", False),
        ("pending", False),
        ("DRAFT", False),
        (" draft ", False),
        ("Active", True),
        (None, True),
        (0, True),
    ],
)
def test_broadcast_policy_by_status(status, broadcast):
    assert is_broadcast({"status": status}) is broadcast
    [event] = record_change(
        ClientAggregate("a"), make_change(C, 1_000, {"name": "A", "status": status})
    )
    assert event.metadata.broadcast is broadcast


def test_broadcast_policy_without_status_broadcasts():
    assert is_broadcast({}) is True


def test_broadcast_follows_the_status_after_the_change():
    aggregate = created()
    [inactive] = record_change(aggregate, sample_change("account_status_inactive"))
    assert inactive.metadata.broadcast is False
    [still_inactive] = record_change(aggregate, make_change(U, 1_763_812_900_000, {"phone": "1"}))
    assert still_inactive.metadata.broadcast is False
    [active] = record_change(aggregate, make_change(U, 1_763_813_000_000, {"status": "Active"}))
    assert active.metadata.broadcast is True


def test_the_deletion_of_a_withheld_record_is_broadcast():
    aggregate = created()
    [inactive] = record_change(aggregate, sample_change("account_status_inactive"))
    assert inactive.metadata.broadcast is False
    [deleted] = record_change(aggregate, make_change(D, 1_763_813_000_000, {}))
    assert deleted.event_type == "Deleted" and deleted.metadata.broadcast is True


def test_a_withheld_record_the_crm_no_longer_has_is_deleted_and_broadcast():
    aggregate = created()
    record_change(aggregate, sample_change("account_status_inactive"))
    [deleted] = record_change(aggregate, make_change(GAP, 1_763_813_000_000, {}), None)
    assert deleted.event_type == "Deleted" and deleted.metadata.broadcast is True


def test_metadata_carries_correlation_causation_provider_and_position():
    envelope = load_sample("account_create")
    change = sample_change("account_create")
    [event] = record_change(ClientAggregate("agg-1"), change)
    metadata = event.metadata
    assert metadata.correlation_id == CORRELATION_ID
    assert metadata.causation_id == change.source_event_id
    assert metadata.source_event_id == f"salesforce:{envelope['id']}:001Hs00003FqYbKIAV"
    assert metadata.provider == "salesforce"
    assert metadata.external_id == "001Hs00003FqYbKIAV"
    assert metadata.transaction_key == "00045a6b-7c8d-4e1f-a2b3-c4d5e6f7a8b9"
    assert metadata.sequence_number == 1
    assert metadata.commit_timestamp == 1763633730000
    assert metadata.change_origin == "com/salesforce/api/rest/64.0;client=workbench/"
    assert metadata.broadcast is True
    assert (event.aggregate_id, event.aggregate_type) == ("agg-1", "client")
    assert event.occurred_at == change.occurred_at
