"""Plans the writes one domain event causes in one projection's table (pure).

A projection's table holds three kinds of keys, all in the partition of the record they come
from (the domain-events partition of its aggregate id, so they are co-partitioned with the
stream and served by the worker that owns that partition):

- `<aggregate id>`: the record's entry (see `projections.entry`);
- `~partition/<n>`: the partition's progress and, for a projection with a tally, its partial
  totals (the read API adds up the partials of all partitions, from every worker);
- `~lookup/<key>`: a secondary key (e.g. provider and external id) naming the aggregate id.

Why partial totals per partition rather than a table keyed by status and fed by a `group_by`
repartition: a repartitioned stream of deltas cannot tell a redelivered delta from a new one (it
would need every record's version on the other side), and a delta and the record it came from
would sit in different changelogs. Here a delta is derived from the record's entry before and
after the event, so a duplicate or older event (no change to the entry) changes no total; and
because the partial and the entry live in the same changelog partition and the partial is
written first, naming the last change it counted (`counted`: aggregate id and version), a crash
between the two writes is repaired by the redelivery: the entry is still behind, so the event
applies again, and the partial, which already counted exactly that change, skips it. (Kafka
offsets would not do as the marker: they restart when a topic is recreated, and a rebuild has
none.) The cost is a fan-in on read (one partial per partition), which is small.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from projections.entry import Entry, advance, latest_state, replay
from projections.projection import Event, Projection, Totals
from projections.totals import combine, difference

PARTITION_PREFIX = "~partition/"
LOOKUP_PREFIX = "~lookup/"

Read = Callable[[str], Mapping[str, Any] | None]
Write = tuple[str, dict[str, Any]]


@dataclass(frozen=True)
class Delivery:
    """Where an event came from: its domain-events partition and offset (-1: replayed from
    the event store by a rebuild). The offset is reported, never relied on."""

    partition: int
    offset: int = -1


def partition_key(partition: int) -> str:
    return f"{PARTITION_PREFIX}{partition}"


def lookup_key(key: str) -> str:
    return f"{LOOKUP_PREFIX}{key}"


def is_record_key(key: str) -> bool:
    return not key.startswith("~")


def empty_progress(partition: int) -> dict[str, Any]:
    return {"partition": partition, "counted": None, "through": -1, "position": 0, "events": 0,
            "totals": {}}


def plan(projection: Projection, read: Read, event: Event, delivery: Delivery) -> list[Write]:
    """The writes `event` causes, in order; empty when it changes nothing. Raises
    `VersionGap` when the record's entry misses earlier versions."""
    if not projection.handles(event):
        return []
    aggregate_id = event["aggregate_id"]
    before = read(aggregate_id)
    after = advance(projection, before, event, delivery.partition)
    if after is None:
        return []
    return _writes(projection, read, aggregate_id, before, after, delivery)


def plan_repair(projection: Projection, read: Read, history: Iterable[Event], event: Event,
                delivery: Delivery) -> list[Write]:
    """The writes that bring a record's entry up to its full history from the event store."""
    aggregate_id = event["aggregate_id"]
    before = read(aggregate_id)
    after = replay(projection, history, delivery.partition)
    if after is None or (before and after["version"] <= before["version"]):
        return []
    return _writes(projection, read, aggregate_id, before, after, delivery)


def tally_of(projection: Projection, entry: Mapping[str, Any] | None) -> Totals:
    view = entry.get("view") if entry else None
    return projection.tally(view) if projection.tally and view is not None else {}


def _writes(projection: Projection, read: Read, aggregate_id: str, before: Entry | None,
            after: Entry, delivery: Delivery) -> list[Write]:
    writes: list[Write] = []
    key = partition_key(delivery.partition)
    progress = read(key) or empty_progress(delivery.partition)
    change_id = f"{aggregate_id}@{after['version']}"
    if progress["counted"] != change_id:
        change = difference(tally_of(projection, before), tally_of(projection, after))
        writes.append((key, {
            **progress,
            "counted": change_id,
            "through": max(progress["through"], delivery.offset),
            "position": max(progress["position"], after.get("position") or 0),
            "events": progress["events"] + after["version"] - (before or {}).get("version", 0),
            "totals": combine(progress["totals"], change) if change else progress["totals"],
        }))
    if projection.lookups is not None:
        known = set(projection.lookups(latest_state(before) or {}))
        for secondary in sorted(set(projection.lookups(latest_state(after) or {})) - known):
            writes.append((lookup_key(secondary),
                           {"partition": delivery.partition, "aggregate_id": aggregate_id}))
    writes.append((aggregate_id, after))
    return writes
