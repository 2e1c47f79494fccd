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
    # The provider lost the change details: the record's true state must be re-read.
    GAP = "GAP"
    # The provider lost track of a whole object type: it must be re-synchronised.
    RESYNC = "RESYNC"


@dataclass(frozen=True, order=True)
class ChangePosition:
    """Where a change sits in the provider's history of a record.

    Ordered by commit time, then sequence within the transaction (never by commit number).
    """

    commit_timestamp: int
    transaction_key: str = ""
    sequence_number: int = 0

    def is_after(self, other: ChangePosition | None) -> bool:
        if other is None:
            return True
        if self.commit_timestamp != other.commit_timestamp:
            return self.commit_timestamp > other.commit_timestamp
        if self.transaction_key != other.transaction_key:
            # Two transactions committed in the same millisecond: both are real changes.
            return True
        return self.sequence_number > other.sequence_number


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
