"""Aggregate views (clients per status and industry, deals per stage) stay exact under
duplicates, out-of-order delivery, gaps repaired from the store, and a crash between the
partial's write and the record's (pure: the planner over a dict)."""

from __future__ import annotations

import random
from decimal import Decimal

from hypothesis import given, settings
from hypothesis import strategies as st

from projections.catalog import projections
from projections.entry import VersionGap
from projections.projector import Delivery, partition_key, plan, plan_repair
from projections.totals import combine, difference, rows, sum_totals

SEGMENTS = projections()["clients"]  # tallies the clients per status and industry
PIPELINE = projections()["deals"]  # tallies the deals per stage


def event(aggregate_id: str, version: int, kind: str = "Updated", aggregate_type: str = "client",
          broadcast: bool = True, **data) -> dict:
    return {
        "event_id": f"{aggregate_id}-{version}", "event_type": kind,
        "aggregate_id": aggregate_id, "aggregate_type": aggregate_type, "version": version,
        "occurred_at": "2026-01-01T00:00:00+00:00", "data": data,
        "metadata": {"provider": "salesforce", "external_id": aggregate_id,
                     "broadcast": broadcast},
        "position": version,
    }


class Worker:
    """The live agent's loop over a dict table: repairs gaps from `store`."""

    def __init__(self, projection, store: dict[str, list[dict]]):
        self.projection, self.store, self.table, self.offsets = projection, store, {}, {}

    def deliver(self, e: dict, partition: int = 0) -> None:
        offset = self.offsets[partition] = self.offsets.get(partition, -1) + 1
        delivery = Delivery(partition, offset)
        try:
            writes = plan(self.projection, self.table.get, e, delivery)
        except VersionGap:
            writes = plan_repair(self.projection, self.table.get,
                                 self.store[e["aggregate_id"]], e, delivery)
        for key, value in writes:
            self.table[key] = value

    def view(self, dimension: str) -> list[dict]:
        partials = [v["totals"] for k, v in self.table.items() if k.startswith("~partition/")]
        return rows(sum_totals(partials), dimension)


def test_status_moves_between_buckets_and_deletion_leaves_them():
    store = {"a": [event("a", 1, "Created", status="Active", industry="Tech"),
                   event("a", 2, status="Prospect"), event("a", 3, "Deleted")],
             "b": [event("b", 1, "Created", status="Active", industry="Retail")]}
    worker = Worker(SEGMENTS, store)

    for e in store["a"][:2] + store["b"]:
        worker.deliver(e)
    assert worker.view("status") == [{"status": "Active", "count": 1},
                                     {"status": "Prospect", "count": 1}]
    assert worker.view("industry") == [{"industry": "Retail", "count": 1},
                                       {"industry": "Tech", "count": 1}]

    worker.deliver(store["a"][2])
    assert worker.view("status") == [{"status": "Active", "count": 1}]


def test_duplicates_and_older_events_change_no_count():
    store = {"a": [event("a", 1, "Created", status="Active"), event("a", 2, status="Lost")]}
    worker = Worker(SEGMENTS, store)
    for e in store["a"]:
        worker.deliver(e)
    before = worker.view("status")

    for e in [store["a"][1], store["a"][0], store["a"][1]]:
        worker.deliver(e)

    assert worker.view("status") == before == [{"status": "Lost", "count": 1}]


def test_a_gap_is_repaired_from_the_store_and_counted_once():
    store = {"a": [event("a", 1, "Created", status="Active"), event("a", 2, status="Lost"),
                   event("a", 3, status="Won")]}
    worker = Worker(SEGMENTS, store)

    worker.deliver(store["a"][0])
    worker.deliver(store["a"][2])  # version 2 never arrived: replayed from the store
    worker.deliver(store["a"][1])  # arrives late: already applied

    assert worker.view("status") == [{"status": "Won", "count": 1}]


def test_withheld_changes_do_not_reach_the_counts_until_broadcast():
    store = {"a": [event("a", 1, "Created", status="Active"),
                   event("a", 2, broadcast=False, status="Inactive")]}
    worker = Worker(SEGMENTS, store)
    for e in store["a"]:
        worker.deliver(e)

    assert worker.view("status") == [{"status": "Active", "count": 1}]


def test_a_withheld_record_leaves_the_counts_when_its_deletion_is_broadcast():
    store = {"a": [event("a", 1, "Created", status="Active"),
                   event("a", 2, broadcast=False, status="Inactive"),
                   event("a", 3, "Deleted")],  # deletions are always broadcast
             "b": [event("b", 1, "Created", status="Active")]}
    worker = Worker(SEGMENTS, store)
    for events in store.values():
        for e in events:
            worker.deliver(e)

    assert worker.view("status") == [{"status": "Active", "count": 1}]


def test_deal_amounts_add_and_subtract_exactly():
    deals = [event(f"d{i}", 1, "Created", "deal", stage="Open", amount=0.1) for i in range(3)]
    worker = Worker(PIPELINE, {})
    for e in deals:
        worker.deliver(e)
    worker.deliver(event("d0", 2, aggregate_type="deal", stage="Won"))
    worker.deliver(event("d1", 2, aggregate_type="deal", amount=0.2))

    assert worker.view("stage") == [{"stage": "Open", "count": 2, "amount": 0.3},
                                    {"stage": "Won", "count": 1, "amount": 0.1}]


def test_an_amount_that_is_no_finite_number_counts_as_zero_in_the_totals():
    deals = [event("d0", 1, "Created", "deal", stage="Open", amount="Infinity"),
             event("d1", 1, "Created", "deal", stage="Open", amount="NaN"),
             event("d2", 1, "Created", "deal", stage="Open", amount=5)]
    worker = Worker(PIPELINE, {})
    for e in deals:
        worker.deliver(e)
    worker.deliver(event("d0", 2, aggregate_type="deal", stage="Won"))

    assert worker.view("stage") == [{"stage": "Open", "count": 2, "amount": 5},
                                    {"stage": "Won", "count": 1, "amount": 0}]


def test_an_amount_change_within_a_stage_is_not_lost_in_the_delta():
    before = {"stage": {"Open": {"count": "1", "amount": "5"}}}
    after = {"stage": {"Open": {"count": "1", "amount": "7"}}}

    change = difference(before, after)

    assert Decimal(change["stage"]["Open"]["amount"]) == 2
    assert combine(before, change) == after


def test_a_crash_after_the_partial_was_written_but_not_the_record_counts_the_event_once():
    created = event("a", 1, "Created", status="Active")
    moved = event("a", 2, status="Lost")
    worker = Worker(SEGMENTS, {})
    worker.deliver(created)
    writes = plan(SEGMENTS, worker.table.get, moved, Delivery(0, 1))
    partial_key, partial = writes[0]
    assert partial_key == partition_key(0)
    worker.table[partial_key] = partial  # the record's write was lost in the crash

    for key, value in plan(SEGMENTS, worker.table.get, moved, Delivery(0, 1)):  # redelivered
        worker.table[key] = value

    assert worker.view("status") == [{"status": "Lost", "count": 1}]


STATUSES = st.sampled_from(["Active", "Prospect", "Lost", None])


@st.composite
def histories(draw):
    """Per record: Created, then updates, deletions, undeletions, some withheld."""
    store = {}
    for record in range(draw(st.integers(1, 6))):
        aggregate_id = f"r{record}"
        events = [event(aggregate_id, 1, "Created", status=draw(STATUSES),
                        industry=draw(st.sampled_from(["Tech", "Retail"])))]
        for version in range(2, draw(st.integers(1, 6)) + 1):
            kind = draw(st.sampled_from(["Updated", "Updated", "Deleted", "Undeleted"]))
            events.append(event(aggregate_id, version, kind, broadcast=draw(st.booleans()),
                                status=draw(STATUSES)))
        store[aggregate_id] = events
    return store


@settings(max_examples=150, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_any_delivery_with_duplicates_and_reordering_gives_the_in_order_totals(store, rng):
    in_order = Worker(SEGMENTS, store)
    for events in store.values():
        for e in events:
            in_order.deliver(e, partition=int(e["aggregate_id"][1:]) % 2)

    messy = Worker(SEGMENTS, store)
    deliveries = [e for events in store.values() for e in events for _ in range(rng.randint(1, 2))]
    rng.shuffle(deliveries)
    for e in deliveries + [events[-1] for events in store.values()]:
        messy.deliver(e, partition=int(e["aggregate_id"][1:]) % 2)

    for dimension in ("status", "industry"):
        assert messy.view(dimension) == in_order.view(dimension)
    assert {k: v for k, v in messy.table.items() if not k.startswith("~")} == {
        k: v for k, v in in_order.table.items() if not k.startswith("~")}


def test_totals_per_partition_add_up_to_the_totals_of_all_records():
    random.seed(7)
    worker = Worker(PIPELINE, {})
    for i in range(40):
        worker.deliver(event(f"d{i}", 1, "Created", "deal", stage=random.choice("ABC"),
                             amount=random.randint(1, 1000)), partition=i % 4)
    views = [v["view"] for k, v in worker.table.items() if not k.startswith("~")]

    expected = {}
    for view in views:
        row = expected.setdefault(view["stage"], {"stage": view["stage"], "count": 0, "amount": 0})
        row["count"] += 1
        row["amount"] += view["amount"]
    assert worker.view("stage") == sorted(expected.values(), key=lambda r: r["stage"])
