"""How large a record may grow: its events, its snapshot and its read-model entry each travel as
one Kafka message, which the broker refuses above its `max.message.bytes` (1 MB by default). A
change that would make one larger is refused before it is stored: committed, it could never be
published, and would hold its aggregate's later events and the outbox relay behind it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import orjson

from domain.aggregates import CRMRecordAggregate
from domain.changes import RecordChange

# what a message holds besides the record's fields (ids, metadata, versions, the entry's
# summary): far less than this
ENVELOPE_BYTES = 32_768
# a message this small cannot hold a change that makes a record too large: no need to measure
SMALL_MESSAGE_BYTES = 65_536


class RecordTooLarge(Exception):
    """The change would make a record larger than one message may be."""


def check_fits(aggregate: CRMRecordAggregate, change: RecordChange,
               current: Mapping[str, Any] | None, raw_size: int, max_message_bytes: int) -> None:
    """Raise `RecordTooLarge` if recording `change` (with the CRM's `current` copy of the
    record, when it was read) would make the record's fields take more than a message leaves
    for them."""
    limit = max_message_bytes - ENVELOPE_BYTES
    if current is not None:
        _within(current, limit, "the CRM's copy of the record")
    if raw_size > SMALL_MESSAGE_BYTES:
        _within({**aggregate.fields, **change.fields}, limit, "the record with this change")


def _within(fields: Mapping[str, Any], limit: int, what: str) -> None:
    size = len(orjson.dumps(fields, default=str))
    if size > limit:
        raise RecordTooLarge(f"{what} takes {size:,} bytes, over the {limit:,} a record's "
                             f"fields may take in one Kafka message")
