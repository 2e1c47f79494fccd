"""A record's entry: folded by aggregate version through the projection's handlers (pure)."""

from __future__ import annotations

import pytest

from projections.catalog import projections
from projections.entry import VersionGap, advance, replay, visible

CLIENTS = projections()["clients"]
ACME = "7b0e2c8e-0000-4000-8000-000000000001"


def event(version: int, kind: str = "Updated", broadcast: bool = True, **data) -> dict:
    return {
        "event_id": f"e-{version}", "event_type": kind, "aggregate_id": ACME,
        "aggregate_type": "client", "version": version,
        "occurred_at": f"2026-01-01T00:00:{version:02d}+00:00", "data": data,
        "metadata": {"provider": "salesforce", "external_id": "001ACME", "broadcast": broadcast},
        "position": 100 + version,
    }


def fold(*events: dict) -> dict | None:
    entry = None
    for e in events:
        entry = advance(CLIENTS, entry, e, partition=2) or entry
    return entry


CREATED = event(1, "Created", name="Acme", status="Active", industry="Tech")


def test_created_then_updated_shows_the_merged_fields_and_summary():
    view = visible(fold(CREATED, event(2, industry="Aerospace")))

    assert view["version"] == 2 and view["name"] == "Acme" and view["industry"] == "Aerospace"
    assert view["fields"] == {"name": "Acme", "status": "Active", "industry": "Aerospace"}
    assert view["external_ids"] == {"salesforce": "001ACME"}
    assert view["updated_at"] == "2026-01-01T00:00:02+00:00" and view["last_position"] == 102


def test_a_late_change_does_not_move_updated_at_back():
    late = {**event(3, phone="1"), "occurred_at": "2026-01-01T00:00:00.500000+00:00"}
    view = visible(fold(CREATED, event(2, industry="Aerospace"), late))

    assert view["version"] == 3 and view["fields"]["phone"] == "1"
    assert view["updated_at"] == "2026-01-01T00:00:02+00:00"


def test_a_duplicate_or_older_event_changes_nothing():
    entry = fold(CREATED, event(2, industry="Aerospace"))

    assert advance(CLIENTS, entry, event(2, industry="Mining"), partition=2) is None
    assert advance(CLIENTS, entry, event(1, "Created", name="Other"), partition=2) is None


def test_a_version_gap_is_reported_with_both_versions():
    entry = fold(CREATED)

    with pytest.raises(VersionGap) as gap:
        advance(CLIENTS, entry, event(3, industry="Mining"), partition=2)

    assert (gap.value.aggregate_id, gap.value.have, gap.value.got) == (ACME, 1, 3)
    assert gap.value.projection == "clients"


def test_replaying_the_history_gives_the_same_entry_as_folding_it_live():
    history = [CREATED, event(2, industry="Aerospace"), event(3, "Deleted")]

    assert replay(CLIENTS, history, partition=2) == fold(*history)
    assert visible(replay(CLIENTS, history, partition=2))["deleted"] is True


def test_withheld_events_advance_the_version_but_not_the_view_until_the_next_broadcast():
    withheld = fold(CREATED, event(2, broadcast=False, status="Inactive", phone="+44 1"))

    view = visible(withheld)
    assert view["version"] == 2 and view["withheld_versions"] == 1
    assert view["status"] == "Active" and "phone" not in view["fields"]

    revealed = visible(fold(CREATED, event(2, broadcast=False, status="Inactive", phone="+44 1"),
                            event(3, status="Active")))
    assert revealed["status"] == "Active" and revealed["fields"]["phone"] == "+44 1"


def test_a_record_created_while_withheld_is_not_visible():
    entry = fold(event(1, "Created", broadcast=False, name="Draft Co", status="Draft"))

    assert entry["version"] == 1 and visible(entry) is None


def test_deleted_and_undeleted_toggle_the_flag_and_undelete_restores_fields():
    deleted = visible(fold(CREATED, event(2, "Deleted")))
    restored = visible(fold(CREATED, event(2, "Deleted"), event(3, "Undeleted", status="Active")))

    assert deleted["deleted"] is True and restored["deleted"] is False
    assert restored["status"] == "Active"


def test_events_of_another_aggregate_type_have_no_handler_and_only_advance_the_version():
    contact_like = {**event(2), "event_type": "Renamed"}

    entry = fold(CREATED, contact_like)

    assert entry["version"] == 2 and visible(entry)["fields"] == CREATED["data"]
