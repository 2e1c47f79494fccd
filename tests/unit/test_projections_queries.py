"""The read API's questions answered per worker and merged, and the projection catalog
(pure: tables are dicts)."""

from __future__ import annotations

import pytest

from projections.catalog import projections
from projections.projection import Projection
from projections.projector import Delivery, plan
from projections.queries import (
    local_lookup,
    local_page,
    local_progress,
    merge_pages,
    merge_progress,
    merge_totals,
)

CLIENTS = projections()["clients"]


def created(number: int, status: str, partition: int) -> tuple[dict, int]:
    aggregate_id = f"00000000-0000-4000-8000-{number:012d}"
    return {
        "event_id": f"e{number}", "event_type": "Created", "aggregate_id": aggregate_id,
        "aggregate_type": "client", "version": 1, "occurred_at": "2026-01-01T00:00:00+00:00",
        "data": {"name": f"Client {number}", "status": status},
        "metadata": {"provider": "salesforce", "external_id": f"001C{number}", "broadcast": True},
        "position": number,
    }, partition


def table_of(*deliveries: tuple[dict, int]) -> dict:
    table: dict = {}
    for event, partition in deliveries:
        for key, value in plan(CLIENTS, table.get, event, Delivery(partition, event["position"])):
            table[key] = value
    return table


# Worker A owns partitions 0 and 1; worker B owns 2 and 3 and keeps a standby copy of 0.
WORKER_A = table_of(created(1, "Active", 0), created(2, "Lost", 1), created(5, "Active", 0))
WORKER_B = {**table_of(created(3, "Active", 2), created(4, "Active", 3)),
            **table_of(created(1, "Active", 0))}


def page(filters: dict, after: str | None = None, limit: int = 10) -> dict:
    return merge_pages([local_page(WORKER_A.items(), {0, 1}, filters, after, limit),
                        local_page(WORKER_B.items(), {2, 3}, filters, after, limit)], limit)


def test_a_list_gathers_every_owner_once_in_id_order_ignoring_standby_copies():
    result = page({})

    assert [item["name"] for item in result["items"]] == [f"Client {n}" for n in (1, 2, 3, 4, 5)]
    assert result["total"] == 5 and result["next"] is None


def test_filters_compare_the_summary_fields():
    result = page({"status": "Active"})

    assert [item["name"] for item in result["items"]] == ["Client 1", "Client 3", "Client 4",
                                                          "Client 5"]
    assert result["total"] == 4


def test_the_cursor_walks_pages_with_the_same_total():
    first = page({}, limit=2)
    second = page({}, after=first["next"], limit=2)
    third = page({}, after=second["next"], limit=2)

    names = [item["name"] for p in (first, second, third) for item in p["items"]]
    assert names == [f"Client {n}" for n in (1, 2, 3, 4, 5)]
    assert first["total"] == second["total"] == third["total"] == 5
    assert third["next"] is None


def test_a_lookup_by_external_id_is_answered_by_the_owner_only():
    on_owner = local_lookup(CLIENTS, WORKER_A.get, {0, 1}, "salesforce:001C1")
    on_standby = local_lookup(CLIENTS, WORKER_B.get, {2, 3}, "salesforce:001C1")

    assert [item["name"] for item in on_owner["items"]] == ["Client 1"]
    assert on_standby == {"items": []}
    assert local_lookup(CLIENTS, WORKER_A.get, {0, 1}, "salesforce:001C9") == {"items": []}


def test_progress_reports_positions_per_partition_and_their_maximum():
    answers = [local_progress(WORKER_A.get, {0, 1}), local_progress(WORKER_B.get, {2, 3})]

    progress = merge_progress(answers)

    assert progress["last_position"] == 5 and progress["applied_events"] == 5
    assert progress["partitions"]["0"] == {"position": 5, "offset": 5}
    # the clients' segments, from each partition's owner (worker B's standby copy of 0 not again)
    assert merge_totals(answers, "status") == [{"status": "Active", "count": 4},
                                               {"status": "Lost", "count": 1}]


def test_the_catalog_finds_every_projection_module():
    assert set(projections()) == {"clients", "contacts", "deals"}
    assert projections()["clients"].views == {"clients-by-status": "status",
                                              "clients-by-industry": "industry"}
    assert projections()["deals"].views == {"deals-by-stage": "stage"}
    assert projections()["deals"].aggregate_types == {"deal"}


def test_a_handler_key_must_name_aggregate_type_and_event_type():
    with pytest.raises(ValueError, match="aggregate_type.event_type"):
        Projection(name="broken", handlers={"Created": lambda state, event: {}})
