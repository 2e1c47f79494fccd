"""The current-state view of one CRM record, folded from its domain events (pure).

Idempotent by aggregate version: a duplicate or older event changes nothing, and a version gap
is reported so the caller can repair the view from the event store.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

SUMMARY_FIELDS = {
    "client": ("name", "industry", "status"),
    "contact": ("first_name", "last_name", "email", "client_external_id"),
    "deal": ("name", "stage", "amount", "client_external_id"),
}


class VersionGap(Exception):
    def __init__(self, aggregate_id: str, have: int, got: int):
        self.aggregate_id, self.have, self.got = aggregate_id, have, got
        super().__init__(f"view of {aggregate_id} is at version {have}, received {got}")


def apply_event(view: Mapping[str, Any] | None, event: Mapping[str, Any]) -> dict[str, Any] | None:
    """The view after `event`, or None when the event changes nothing (already applied)."""
    have = view["version"] if view else 0
    version = event["version"]
    if version <= have:
        return None
    if version != have + 1:
        raise VersionGap(event["aggregate_id"], have, version)
    new = dict(view) if view else _empty(event)
    new["version"] = version
    metadata = event["metadata"]
    new["external_ids"] = {**new["external_ids"], metadata["provider"]: metadata["external_id"]}
    if not metadata.get("broadcast", True):
        new["withheld_versions"] = new.get("withheld_versions", 0) + 1
        return _with_summary(new)  # recorded in the history, not announced in the view
    _fold(new, event)
    new["updated_at"] = event["occurred_at"]
    new["last_position"] = event.get("position")
    return _with_summary(new)


def rebuild(events: Iterable[Mapping[str, Any]]) -> dict[str, Any] | None:
    view: dict[str, Any] | None = None
    for event in events:
        view = apply_event(view, event) or view
    return view


def _fold(view: dict[str, Any], event: Mapping[str, Any]) -> None:
    kind = event["event_type"]
    if kind == "Created":
        view["fields"], view["deleted"] = dict(event["data"]), False
    elif kind == "Updated":
        view["fields"] = {**view["fields"], **event["data"]}
    elif kind == "Deleted":
        view["deleted"] = True
    elif kind == "Undeleted":
        view["fields"] = {**view["fields"], **event["data"]}
        view["deleted"] = False


def _empty(event: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "aggregate_id": event["aggregate_id"],
        "aggregate_type": event["aggregate_type"],
        "version": 0,
        "external_ids": {},
        "deleted": False,
        "fields": {},
        "updated_at": None,
    }


def _with_summary(view: dict[str, Any]) -> dict[str, Any]:
    for name in SUMMARY_FIELDS.get(view["aggregate_type"], ()):
        view[name] = view["fields"].get(name)
    return view
