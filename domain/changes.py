"""Provider-neutral description of one change to one CRM record.

Provider adapters translate their payloads into a `RecordChange`; aggregates and domain services
only ever see this shape.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from typing import Any


class ChangeKind(str, Enum):
    CREATE = "CREATE"
    UPDATE = "UPDATE"
    DELETE = "DELETE"
    UNDELETE = "UNDELETE"
    # A deletion for privacy (the right to erasure): the record's values leave its history.
    ERASE = "ERASE"
    # The provider lost the change details: the record's true state must be re-read.
    GAP = "GAP"
    # The provider lost track of a whole object type: it must be re-synchronised.
    RESYNC = "RESYNC"


# 10000-01-01 in epoch milliseconds: no datetime holds an instant from there on
MAX_EPOCH_MS = 253_402_300_800_000


@dataclass(frozen=True, order=True)
class ChangePosition:
    """Where a change sits in the provider's history of a record.

    Ordered by commit time, then sequence within the transaction (never by commit number).
    """

    commit_timestamp: int
    transaction_key: str = ""
    sequence_number: int = 0

    def is_after(self, other: ChangePosition | None) -> bool:
        """Pairwise only: two transactions of the same millisecond are each after the other.

        Whether a change was already applied is `LatestCommit.covers`, which remembers them all.
        """
        if other is None:
            return True
        if self.commit_timestamp != other.commit_timestamp:
            return self.commit_timestamp > other.commit_timestamp
        if self.transaction_key != other.transaction_key:
            # Two transactions committed in the same millisecond: both are real changes.
            return True
        return self.sequence_number > other.sequence_number


@dataclass(frozen=True)
class LatestCommit:
    """The transactions applied at a record's latest commit time, with their sequence numbers.

    Salesforce stamps commits to the millisecond, so several transactions can share one. Keeping
    every one of them (not only the last) is what recognises a redelivery of an earlier one.
    """

    commit_timestamp: int
    # transaction key -> the highest sequence number applied in that transaction
    sequences: Mapping[str, int]

    @classmethod
    def of(cls, position: ChangePosition) -> LatestCommit:
        return cls(position.commit_timestamp, {position.transaction_key: position.sequence_number})

    def covers(self, position: ChangePosition) -> bool:
        """Already applied, or older than what was applied: the change must not apply again."""
        if position.commit_timestamp != self.commit_timestamp:
            return position.commit_timestamp < self.commit_timestamp
        applied = self.sequences.get(position.transaction_key)
        return applied is not None and position.sequence_number <= applied

    def including(self, position: ChangePosition) -> LatestCommit:
        if position.commit_timestamp < self.commit_timestamp:
            return self
        if position.commit_timestamp > self.commit_timestamp:
            return LatestCommit.of(position)
        key, sequence = position.transaction_key, position.sequence_number
        highest = max(sequence, self.sequences.get(key, sequence))
        return LatestCommit(self.commit_timestamp, {**self.sequences, key: highest})


@dataclass(frozen=True)
class RecordChange:
    """One change to one record, in domain terms (field names already mapped)."""

    kind: ChangeKind
    aggregate_type: str
    provider: str
    entity: str
    external_id: str
    source_event_id: str
    position: ChangePosition
    occurred_at: datetime
    fields: Mapping[str, Any] = field(default_factory=dict)
    change_origin: str = ""
    correlation_id: str = ""
