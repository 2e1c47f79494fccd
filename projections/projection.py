"""What a projection is: pure handlers registered by "aggregate_type.event_type", and optionally
what each record adds to running totals and the secondary keys it can be found by.

A projection is one module in `projections/catalog/` exporting `PROJECTION`; nothing else needs
to change to add one (the catalog discovers it, the service declares its table, its agent
applies it, and the read API serves it).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

State = dict[str, Any]
Event = Mapping[str, Any]

# The record's state after `event`, from its state before (None: nothing yet). Pure.
Handler = Callable[[Mapping[str, Any] | None, Event], State]

# Measures per bucket per dimension: {"stage": {"Closed Won": {"count": 1, "amount": 250000}}}.
Totals = dict[str, dict[str, dict[str, Any]]]

# What one visible record adds to the totals (the totals are the sum over records).
Tally = Callable[[Mapping[str, Any]], Totals]

# Secondary keys a record can be found by, e.g. "salesforce:001Hs00003FqYbKIAV".
Lookups = Callable[[Mapping[str, Any]], Iterable[str]]


@dataclass(frozen=True)
class Projection:
    name: str
    handlers: Mapping[str, Handler]
    description: str = ""
    collection: str | None = None  # served at /{collection}/{id} and /{collection}
    filters: tuple[str, ...] = ()  # list filters: top-level fields of the view, compared as text
    tally: Tally | None = None
    views: Mapping[str, str] = field(default_factory=dict)  # /views/{name} -> tally dimension
    lookups: Lookups | None = None

    def __post_init__(self) -> None:
        for key in self.handlers:
            aggregate_type, _, event_type = key.partition(".")
            if not (aggregate_type and event_type):
                raise ValueError(f"{self.name}: handler key {key!r} is not "
                                 f"'aggregate_type.event_type'")
        if self.views and self.tally is None:
            raise ValueError(f"{self.name}: views need a tally")

    @cached_property  # asked for every event a worker or a rebuild sees
    def aggregate_types(self) -> frozenset[str]:
        return frozenset(key.partition(".")[0] for key in self.handlers)

    def handles(self, event: Event) -> bool:
        return event["aggregate_type"] in self.aggregate_types

    def handler_for(self, event: Event) -> Handler | None:
        return self.handlers.get(f"{event['aggregate_type']}.{event['event_type']}")
