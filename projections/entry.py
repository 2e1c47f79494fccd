"""One record's entry in a projection: its handler state folded by aggregate version (pure).

Idempotent by aggregate version: a duplicate or older event changes nothing, and a version gap
is reported (`VersionGap`) so the caller can replay the record's history from the event store.

Broadcast policy: every event advances the version and is folded into the entry, but only an
event with `metadata.broadcast` true publishes the result as the entry's `view` (what the read
API and the totals show). Changes recorded while a record was withheld (inactive, pending, draft)
become visible with its next broadcast event; until then they wait in `pending`.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from projections.projection import Event, Projection, State

Entry = dict[str, Any]


class VersionGap(Exception):
    def __init__(self, projection: str, aggregate_id: str, have: int, got: int):
        self.projection, self.aggregate_id, self.have, self.got = (
            projection, aggregate_id, have, got)
        super().__init__(f"{projection}: entry of {aggregate_id} is at version {have}, "
                         f"received version {got}")


def advance(projection: Projection, entry: Mapping[str, Any] | None, event: Event,
            partition: int) -> Entry | None:
    """The entry after `event`, or None when the event changes nothing (already applied)."""
    have = entry["version"] if entry else 0
    version = event["version"]
    if version <= have:
        return None
    if version != have + 1:
        raise VersionGap(projection.name, event["aggregate_id"], have, version)
    return _fold(projection, entry, event, partition)


def replay(projection: Projection, events: Iterable[Event], partition: int) -> Entry | None:
    """The entry folded from a record's whole history (in version order)."""
    entry: Entry | None = None
    for event in events:
        entry = advance(projection, entry, event, partition) or entry
    return entry


def latest_state(entry: Mapping[str, Any] | None) -> State | None:
    """The handler state including withheld changes (for secondary keys)."""
    if not entry:
        return None
    return entry["pending"] if entry.get("pending") is not None else entry.get("view")


def visible(entry: Mapping[str, Any] | None) -> State | None:
    """What the read API shows: the view as of the last broadcast event, with its version."""
    if not entry or entry.get("view") is None:
        return None
    return {**entry["view"], "version": entry["version"],
            "withheld_versions": entry["withheld_versions"]}


def _fold(projection: Projection, entry: Mapping[str, Any] | None, event: Event,
          partition: int) -> Entry:
    handler = projection.handler_for(event)
    before = latest_state(entry)
    after = handler(before, event) if handler else before
    withheld = entry["withheld_versions"] if entry else 0
    if event["metadata"].get("broadcast", True):
        view, pending = after, None
    else:
        view, pending, withheld = (entry or {}).get("view"), after, withheld + 1
    return {
        "partition": partition,
        "version": event["version"],
        "withheld_versions": withheld,
        "position": event.get("position"),
        "view": view,
        "pending": pending,
    }
