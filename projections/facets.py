"""Handlers keeping a few fields of a record (its facets) and whether it is deleted: the
per-record state of projections that only add records up (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.projection import Event, Handler, State


def facet_handlers(aggregate_type: str, facets: tuple[str, ...]) -> dict[str, Handler]:
    def created(state: Mapping[str, Any] | None, event: Event) -> State:
        return {"deleted": False, **{facet: event["data"].get(facet) for facet in facets}}

    def updated(state: Mapping[str, Any] | None, event: Event) -> State:
        new = dict(state or {"deleted": False})
        new.update({facet: event["data"][facet] for facet in facets if facet in event["data"]})
        return new

    def deleted(state: Mapping[str, Any] | None, event: Event) -> State:
        return {**(state or {}), "deleted": True}

    def undeleted(state: Mapping[str, Any] | None, event: Event) -> State:
        return {**updated(state, event), "deleted": False}

    return {f"{aggregate_type}.Created": created, f"{aggregate_type}.Updated": updated,
            f"{aggregate_type}.Deleted": deleted, f"{aggregate_type}.Undeleted": undeleted}
