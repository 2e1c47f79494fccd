"""How large a record may grow: its events, its snapshot and its read-model entry each travel as
one Kafka message, which the broker refuses above its `max.message.bytes` (1 MB by default). A
change that would make one larger is refused before it is stored: committed, it could never be
published, and would hold its aggregate's later events and the outbox relay behind it.

Every change is checked, and cheaply: the record is not encoded for each change, only an upper
bound of its size is grown (see `RecordSizeCheck`)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from weakref import WeakKeyDictionary

import orjson

from domain.aggregates import CRMRecordAggregate
from domain.changes import RecordChange

# what a message holds besides the record's fields (ids, metadata, versions, the entry's
# summary): far less than this
ENVELOPE_BYTES = 32_768


class RecordTooLarge(Exception):
    """The change would make a record larger than one message may be."""


def fields_limit(max_message_bytes: int) -> int:
    """The most a record's fields may take, encoded, for its messages to fit.

    Half of what a message leaves beside the envelope: the read-model entry of a record whose
    recent changes are withheld by the broadcast policy (inactive, pending, draft) holds its
    fields twice, in `view` as of its last broadcast event and in `pending` with the withheld
    changes (projections/entry.py)."""
    return (max_message_bytes - ENVELOPE_BYTES) // 2


class RecordSizeCheck:
    """Refuses a change that would make its record's fields take more than `fields_limit`.

    Keeps, per aggregate, an upper bound of its fields' encoded size and grows it by each
    change's fields' encoded size (small, so cheap to encode): merging two JSON objects never
    makes an encoding longer than the two apart, so the bound stays an upper bound whatever the
    change overwrites. The record is encoded only when the bound crosses the limit, which resets
    the bound to the exact size, and on an aggregate's first change here.

    Keyed weakly by the aggregate object, not by its id: a bound describes the fields of that
    object and lives as long as it does. An aggregate loaded again from the event store (after a
    restart, an eviction from the cache, a failed batch, a conflict) is a new object, measured
    exactly on its first change, so a bound grown by events that were never stored, or grown
    before another worker changed the record, is never used.
    """

    def __init__(self) -> None:
        self._bounds: WeakKeyDictionary[CRMRecordAggregate, int] = WeakKeyDictionary()

    def check_fits(self, aggregate: CRMRecordAggregate, change: RecordChange,
                   current: Mapping[str, Any] | None, max_message_bytes: int) -> None:
        """Raise `RecordTooLarge` if recording `change` (with the CRM's `current` copy of the
        record, when it was read) could make the record's fields too large; else count the
        change in the aggregate's bound. A refused change leaves the bound as it was."""
        limit = fields_limit(max_message_bytes)
        current_size = 0 if current is None else _within(current, limit,
                                                         "the CRM's copy of the record")
        bound = self._bounds.get(aggregate)
        if bound is not None:
            # the CRM's copy counts too: a true-state change records what it holds
            bound += current_size + _encoded_size(change.fields)
        if bound is None or bound > limit:
            bound = _within({**aggregate.fields, **(current or {}), **change.fields}, limit,
                            "the record with this change")
        self._bounds[aggregate] = bound

    def bound(self, aggregate: CRMRecordAggregate) -> int | None:
        """The upper bound kept for `aggregate`'s fields, None before its first change here."""
        return self._bounds.get(aggregate)


def _within(fields: Mapping[str, Any], limit: int, what: str) -> int:
    size = _encoded_size(fields)
    if size > limit:
        raise RecordTooLarge(f"{what} takes {size:,} bytes, over the {limit:,} a record's "
                             f"fields may take in one Kafka message")
    return size


def _encoded_size(fields: Mapping[str, Any]) -> int:
    return len(orjson.dumps(fields, default=str))
