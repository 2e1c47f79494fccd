"""A bounded least-recently-used cache of aggregates between command batches.

Safe because every append checks the expected version: a stale entry causes a ConcurrencyError,
the entry is evicted and the batch is retried from the event store.
"""

from __future__ import annotations

from collections import OrderedDict

from domain.aggregates import CRMRecordAggregate


class AggregateCache:
    def __init__(self, max_size: int):
        self.max_size = max_size
        self._entries: OrderedDict[str, CRMRecordAggregate] = OrderedDict()

    def get(self, aggregate_id: str) -> CRMRecordAggregate | None:
        aggregate = self._entries.get(aggregate_id)
        if aggregate is not None:
            self._entries.move_to_end(aggregate_id)
        return aggregate

    def put(self, aggregate: CRMRecordAggregate) -> None:
        if self.max_size == 0:
            return
        self._entries[aggregate.id] = aggregate
        self._entries.move_to_end(aggregate.id)
        while len(self._entries) > self.max_size:
            self._entries.popitem(last=False)

    def evict(self, aggregate_ids: list[str] | set[str]) -> None:
        for aggregate_id in aggregate_ids:
            self._entries.pop(aggregate_id, None)

    def clear(self) -> None:
        self._entries.clear()
