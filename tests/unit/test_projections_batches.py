"""The projection agent's batches (`project_run` over a dict table): each key written once per
batch, the same tables and totals as projecting event by event, and totals counted once when a
crash lost the end of a batch's writes and the events come again in other batches."""

from __future__ import annotations

import asyncio
import contextlib

from hypothesis import given, settings
from hypothesis import strategies as st
from test_projections_aggregate_views import SEGMENTS, Worker, event, histories

from projections.agents import WrittenPartials, project_run
from projections.catalog import projections
from projections.projector import Delivery, lookup_key, partition_key
from projections.tables import ProjectionTable

CLIENTS = projections()["clients"]


class Crash(BaseException):
    """The process dies: nothing after it runs (no handler catches it)."""


class CrashingTable(dict):
    """A table whose writes stop reaching it (the changelog's lost end) after `survive` more."""

    survive: int | None = None

    def __setitem__(self, key, value):
        if self.survive is not None:
            if self.survive == 0:
                raise Crash
            self.survive -= 1
        super().__setitem__(key, value)


def project(projection, table: dict, store: dict, batches, partials=None, partition: int = 0):
    partials = partials or WrittenPartials()
    target = ProjectionTable(projection, 1, table)

    async def history(aggregate_id):
        return store[aggregate_id]

    async def run():
        for batch in batches:
            await project_run(target, partition, [(e, Delivery(partition, e["version"]))
                                                  for e in batch], history, partials)

    asyncio.run(run())
    return partials


def records(table: dict) -> dict:
    return {k: v for k, v in table.items() if not k.startswith("~")}


def one_by_one(projection, store: dict, events: list[dict]) -> Worker:
    worker = Worker(projection, store)
    for e in events:
        worker.deliver(e)
    return worker


def test_a_batch_writes_the_partial_once_and_each_record_once():
    store = {r: [event(r, 1, "Created", status="Active"), event(r, 2, status="Lost")]
             for r in ("a", "b", "c")}
    stream = [e for version in (0, 1) for events in store.values() for e in [events[version]]]
    writes = []

    class Recording(dict):
        def __setitem__(self, key, value):
            writes.append(key)
            super().__setitem__(key, value)

    table = Recording()
    project(SEGMENTS, table, store, [stream])

    assert writes == [partition_key(0), *(lookup_key(f"salesforce:{r}") for r in "abc"),
                      "a", "b", "c"]
    assert table["a"]["version"] == 2
    assert table[partition_key(0)]["counted"] == {"a": 2, "b": 2, "c": 2}
    assert table[partition_key(0)]["events"] == 6


def test_events_of_other_aggregate_types_write_nothing():
    table = {}
    project(SEGMENTS, table, {}, [[event("d", 1, "Created", "deal", stage="Open")]])
    assert table == {}


def test_a_gap_in_a_batch_is_repaired_from_the_store():
    store = {"a": [event("a", 1, "Created", status="Active"), event("a", 2, status="Lost"),
                   event("a", 3, status="Won")]}
    table = {}
    project(SEGMENTS, table, store, [[store["a"][0], store["a"][2], store["a"][1]]])

    expected = one_by_one(SEGMENTS, store, store["a"])
    assert records(table) == records(expected.table)
    assert table[partition_key(0)]["totals"] == expected.table[partition_key(0)]["totals"]
    assert table[partition_key(0)]["events"] == 3


def splits(draw, events: list) -> list[list]:
    cuts = sorted(draw(st.sets(st.integers(1, max(1, len(events) - 1)), max_size=4)))
    bounds = zip([0, *cuts], [*cuts, len(events)], strict=True)
    return [events[a:b] for a, b in bounds if events[a:b]]


@settings(max_examples=150, deadline=None)
@given(histories(), st.data())
def test_batches_give_the_tables_of_event_by_event_projection(store, data):
    stream = [e for version in range(6) for events in store.values()
              for e in events[version:version + 1]]
    expected = one_by_one(SEGMENTS, store, stream)

    table = {}
    project(SEGMENTS, table, store, splits(data.draw, stream))

    assert records(table) == records(expected.table)
    partial, expected_partial = table[partition_key(0)], expected.table[partition_key(0)]
    assert partial["totals"] == expected_partial["totals"]
    assert partial["events"] == expected_partial["events"] == len(stream)


@settings(max_examples=200, deadline=None)
@given(histories(), st.data(), st.booleans())
def test_a_crash_losing_the_end_of_a_batch_counts_every_change_once(store, data, restarted):
    stream = [e for version in range(6) for events in store.values()
              for e in events[version:version + 1]]
    expected = one_by_one(SEGMENTS, store, stream)
    batches = splits(data.draw, stream)
    crashed = data.draw(st.integers(0, len(batches) - 1))
    done = sum(len(b) for b in batches[:crashed])  # committed offsets: redelivery starts here

    table = CrashingTable()
    partials = project(SEGMENTS, table, store, batches[:crashed])
    table.survive = data.draw(st.integers(0, len(batches[crashed]) + 2))
    with contextlib.suppress(Crash):
        project(SEGMENTS, table, store, [batches[crashed]], partials)
    table.survive = None
    # Redelivered in other batches, by a new process or by this one (when only sends failed).
    project(SEGMENTS, table, store, splits(data.draw, stream[done:]),
            None if restarted else partials)

    assert records(table) == records(expected.table)
    assert table[partition_key(0)]["totals"] == expected.table[partition_key(0)]["totals"]
    assert table[partition_key(0)]["events"] == len(stream)


def test_a_record_view_batch_writes_each_new_lookup_once():
    store = {"a": [event("a", 1, "Created", name="A"), event("a", 2, name="B")]}
    table = {}
    project(CLIENTS, table, store, [store["a"]])

    assert table["~lookup/salesforce:a"] == {"partition": 0, "aggregate_id": "a"}
    assert table["a"]["view"]["name"] == "B"
