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

from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from projections.entry import Entry, advance, latest_state, replay
from projections.projection import Event, Projection, Totals
from projections.totals import combine, copied, difference, move

PARTITION_PREFIX = "~partition/"
LOOKUP_PREFIX = "~lookup/"

Read = Callable[[str], Mapping[str, Any] | None]
Write = tuple[str, dict[str, Any]]
Written = tuple[Mapping[str, Any], set[str]]  # a partial a BatchPlan wrote, the marks it carried


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
    if counted_marks(progress).get(aggregate_id, 0) < after["version"]:
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


def counted_marks(progress: Mapping[str, Any]) -> dict[str, int]:
    """The changes a partial has counted, as aggregate id -> version: one "id@version" from
    `plan`, or a `BatchPlan`'s map (every entry its batch wrote after the partial)."""
    counted = progress.get("counted")
    if not counted:
        return {}
    if isinstance(counted, str):
        aggregate_id, _, version = counted.rpartition("@")
        return {aggregate_id: int(version)}
    return dict(counted)


class BatchPlan:
    """The writes a run of events of one domain-events partition causes in one projection's
    table, with each key written once: one partial for the whole run instead of one per event
    (half the changelog messages) and one entry per record.

    Crash safety as for single events (the partial is written first and names what it counted),
    with the partial naming every entry written after it (`counted`: aggregate id -> version): a
    redelivered change of a record whose entry write was lost is not counted again, whatever
    the batches the redelivery comes in. Marks for entries still behind when the next partial is
    written are carried into it. Finding them takes a read per mark, unless the stored partial is
    the one this process last wrote (`last_written`): its entries were written right after it, so
    they reach the changelog before the next partial, and only the marks it carried are checked.
    """

    def __init__(self, projection: Projection, read: Read, partition: int,
                 last_written: Written | None = None):
        self.projection, self.read, self.partition = projection, read, partition
        stored = read(partition_key(partition))
        self.progress = dict(stored or empty_progress(partition))
        self.marks = counted_marks(self.progress)
        if last_written is not None and stored == last_written[0]:
            self.suspect = set(last_written[1])  # its entries were written right after it
        else:
            self.suspect = set(self.marks)
        self.entries: dict[str, Entry] = {}
        self.lookups: dict[str, dict[str, Any]] = {}
        self._lookups_of: dict[str, frozenset[str]] = {}  # of each entry in `entries`
        self._totals_copied = False

    def apply(self, event: Event, delivery: Delivery) -> None:
        """Raises `VersionGap` (nothing applied) when the record's entry misses versions."""
        if not self.projection.handles(event):
            return
        aggregate_id = event["aggregate_id"]
        before = self._entry(aggregate_id)
        after = advance(self.projection, before, event, self.partition)
        if after is not None:
            self._change(aggregate_id, before, before, after, delivery)

    def repair(self, history: Sequence[Event], event: Event, delivery: Delivery) -> None:
        """Bring a record's entry up to its full history from the event store."""
        aggregate_id = event["aggregate_id"]
        before = self._entry(aggregate_id)
        after = replay(self.projection, history, self.partition)
        if after is None or (before and after["version"] <= before["version"]):
            return
        counted = self.marks.get(aggregate_id, 0)
        base = before  # the entry the counted totals last included
        if (before["version"] if before else 0) < counted < after["version"]:
            base = replay(self.projection, [e for e in history if e["version"] <= counted],
                          self.partition)
        self._change(aggregate_id, before, base, after, delivery)

    def writes(self) -> tuple[list[Write], Written | None]:
        """The writes, partial first; and the partial with the marks it carries, to pass as
        `last_written` to the next plan of this partition in this process."""
        if not self.entries:
            return [], None
        carried = {}  # marks of changes counted before their entries were written
        for aggregate_id in self.suspect | set(self.entries):
            entry = self._entry(aggregate_id)
            if (entry["version"] if entry else 0) < self.marks.get(aggregate_id, 0):
                carried[aggregate_id] = self.marks[aggregate_id]
        counted = {**{a: e["version"] for a, e in self.entries.items()}, **carried}
        progress = {**self.progress, "counted": counted}
        writes = [(partition_key(self.partition), progress), *self.lookups.items(),
                  *self.entries.items()]
        return writes, (progress, set(carried))

    def _totals(self) -> Totals:
        """The partial's totals, copied on the plan's first change (the partial it read may be
        the table's own value) and added to in place after that."""
        if not self._totals_copied:
            self.progress["totals"] = copied(self.progress["totals"])
            self._totals_copied = True
        return self.progress["totals"]

    def _entry(self, aggregate_id: str) -> Entry | None:
        entry = self.entries.get(aggregate_id)
        return entry if entry is not None else self.read(aggregate_id)

    def _change(self, aggregate_id: str, before: Entry | None, base: Entry | None,
                after: Entry, delivery: Delivery) -> None:
        progress = self.progress
        counted = self.marks.get(aggregate_id, 0)
        if counted < after["version"]:  # else counted by a partial whose entry write was lost
            if self.projection.tally is not None:
                was, now = tally_of(self.projection, base), tally_of(self.projection, after)
                if was != now:
                    move(self._totals(), was, now)
            progress["events"] += after["version"] - max(counted, (base or {}).get("version", 0))
        progress["through"] = max(progress["through"], delivery.offset)
        progress["position"] = max(progress["position"], after.get("position") or 0)
        if self.projection.lookups is not None:
            known = self._lookups_of.get(aggregate_id)  # `before` is that entry
            if known is None:
                known = frozenset(self.projection.lookups(latest_state(before) or {}))
            current = frozenset(self.projection.lookups(latest_state(after) or {}))
            for secondary in sorted(current - known):
                self.lookups[lookup_key(secondary)] = {"partition": self.partition,
                                                       "aggregate_id": aggregate_id}
            self._lookups_of[aggregate_id] = current
        self.entries[aggregate_id] = after
