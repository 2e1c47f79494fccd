"""A deletion for privacy (HubSpot's privacyDeletion): the record's values leave its history,
its state and its views, and a record rebuilt from the erased history is the live one (pure)."""

from __future__ import annotations

from dataclasses import replace

from domain_support import make_change

from domain.aggregates import ContactAggregate
from domain.aggregates.record import replay
from domain.changes import ChangeKind
from domain.events import Erased, without_erased_values
from domain.services import needs_current_state, record_change
from projections.catalog import projections
from projections.entry import advance, visible

C, U, D, UD, ERASE = (ChangeKind.CREATE, ChangeKind.UPDATE, ChangeKind.DELETE,
                      ChangeKind.UNDELETE, ChangeKind.ERASE)
CONTACTS = projections()["contacts"]
DANA = {"first_name": "Dana", "last_name": "Scully", "email": "dana@globex.example",
        "status": "Active"}


def change(kind: ChangeKind, at: int, fields=None, *, event_id: str = ""):
    """HubSpot's position: the time, and the event id as the transaction."""
    return make_change(kind, at, fields or {}, aggregate_type="contact", entity="contact",
                       external_id="451", transaction_key=event_id or f"tx-{at}")


def lived(*changes) -> tuple[ContactAggregate, list]:
    aggregate, events = ContactAggregate("c-1"), []
    for one in changes:
        events += record_change(aggregate, one)
    return aggregate, events


def test_an_erasure_deletes_the_record_and_leaves_no_value_in_its_state():
    aggregate, events = lived(change(C, 1_000, DANA), change(U, 2_000, {"email": "d@x.example"}),
                              change(ERASE, 3_000))

    erasure = events[-1]
    assert isinstance(erasure, Erased) and erasure.version == 3 and erasure.data == {}
    assert erasure.metadata.broadcast is True
    assert aggregate.deleted and aggregate.exists and aggregate.fields == {}
    assert "Dana" not in str(aggregate.snapshot()) and "d@x.example" not in str(
        aggregate.snapshot())


def test_the_history_as_stored_keeps_the_facts_of_every_event_but_no_value():
    aggregate, events = lived(change(C, 1_000, DANA), change(U, 2_000, {"email": "d@x.example"}),
                              change(D, 3_000), change(ERASE, 4_000))

    stored = without_erased_values(events)

    assert [e.data for e in stored] == [{}, {}, {}, {}]
    assert [(e.event_type, e.version, e.event_id, e.occurred_at, e.metadata) for e in stored] == [
        (e.event_type, e.version, e.event_id, e.occurred_at, e.metadata) for e in events]


def test_only_the_erased_record_and_only_its_events_before_the_erasure_lose_their_values():
    _, erased = lived(change(C, 1_000, DANA), change(ERASE, 2_000))
    _, fox = lived(change(C, 1_000, {**DANA, "email": "fox@globex.example"}))
    kept = [replace(e, aggregate_id="c-2") for e in fox]
    restored = ContactAggregate("c-1")
    replay(restored, erased)
    after = record_change(restored, change(UD, 3_000, {"email": "new@globex.example"}))

    stored = without_erased_values([*erased, *kept, *after])

    assert [e.data for e in stored] == [{}, {}, kept[0].data, {"email": "new@globex.example"}]


def test_a_record_loaded_from_its_erased_history_is_the_live_record():
    live, events = lived(change(C, 1_000, DANA), change(U, 2_000, {"email": "d@x.example"}),
                         change(ERASE, 3_000))

    reloaded = replay(ContactAggregate("c-1"), without_erased_values(events))

    assert reloaded.snapshot() == live.snapshot()


def test_an_erasure_of_a_record_never_seen_needs_no_crm_and_records_nothing():
    aggregate = ContactAggregate("c-1")
    erasure = change(ERASE, 1_000)

    assert needs_current_state(aggregate, erasure) is False
    assert record_change(aggregate, erasure) == []
    assert not aggregate.exists


def test_an_erasure_after_the_deletion_hubspot_also_sends_still_erases_and_happens_once():
    aggregate, events = lived(change(C, 1_000, DANA), change(D, 2_000))
    # the same millisecond, another event
    [erased] = record_change(aggregate, change(ERASE, 2_000, event_id="privacy"))

    assert isinstance(erased, Erased) and aggregate.fields == {}
    assert record_change(aggregate, change(ERASE, 5_000)) == []  # nothing left to erase
    assert record_change(aggregate, change(ERASE, 2_000, event_id="privacy")) == []  # again
    assert record_change(aggregate, change(D, 6_000)) == []  # the deletion after it


def test_the_view_of_an_erased_record_is_deleted_without_values_and_equals_its_rebuild():
    _, events = lived(change(C, 1_000, DANA), change(U, 2_000, {"email": "d@x.example"}),
                      change(ERASE, 3_000))

    def fold(history) -> dict:
        entry = None
        for event in history:
            message = {**event.to_dict(), "position": event.version}
            entry = advance(CONTACTS, entry, message, partition=0) or entry
        return entry

    live, rebuilt = fold(events), fold(without_erased_values(events))
    view = visible(live)

    assert live == rebuilt
    assert view["deleted"] is True and view["fields"] == {}
    assert (view["first_name"], view["email"]) == (None, None)
    assert view["external_ids"] == {"salesforce": "451"} and view["version"] == 3
