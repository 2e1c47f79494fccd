"""The current-state view of one CRM record: handlers for Created, Updated, Deleted, Undeleted
and Erased, shared by the clients, contacts and deals projections (pure)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from projections.projection import Event, Handler, Projection, State, Tally

EVENT_TYPES = ("Created", "Updated", "Deleted", "Undeleted", "Erased")


def created(view: Mapping[str, Any] | None, event: Event) -> State:
    new = _base(view, event)
    new["fields"], new["deleted"] = dict(event["data"]), False
    return _touched(new, event)


def updated(view: Mapping[str, Any] | None, event: Event) -> State:
    new = _base(view, event)
    new["fields"] = {**new["fields"], **event["data"]}
    return _touched(new, event)


def deleted(view: Mapping[str, Any] | None, event: Event) -> State:
    new = _base(view, event)
    new["deleted"] = True
    return _touched(new, event)


def erased(view: Mapping[str, Any] | None, event: Event) -> State:
    """Deleted for privacy: no value is left (the view keeps the record's ids and times)."""
    new = _base(view, event)
    new["fields"], new["deleted"] = {}, True
    return _touched(new, event)


def undeleted(view: Mapping[str, Any] | None, event: Event) -> State:
    new = _base(view, event)
    new["fields"], new["deleted"] = {**new["fields"], **event["data"]}, False
    return _touched(new, event)


HANDLERS: dict[str, Handler] = {
    "Created": created, "Updated": updated, "Deleted": deleted, "Undeleted": undeleted,
    "Erased": erased}


def record_view_projection(name: str, aggregate_type: str, summary_fields: tuple[str, ...],
                           filters: tuple[str, ...], description: str,
                           tally: Tally | None = None,
                           views: Mapping[str, str] | None = None) -> Projection:
    """A projection keeping the current state of every record of one aggregate type, with
    `summary_fields` copied to the top level of the view (and filterable), and optionally what
    each visible record adds to the totals its aggregate `views` show."""

    def with_summary(handler: Handler) -> Handler:
        def apply(view: Mapping[str, Any] | None, event: Event) -> State:
            new = handler(view, event)
            for field in summary_fields:
                new[field] = new["fields"].get(field)
            return new

        apply.__name__ = handler.__name__
        return apply

    return Projection(
        name=name,
        description=description,
        collection=name,
        handlers={f"{aggregate_type}.{kind}": with_summary(HANDLERS[kind])
                  for kind in EVENT_TYPES},
        filters=filters,
        tally=tally,
        views=dict(views or {}),
        lookups=external_ids,
    )


def external_ids(view: Mapping[str, Any]) -> list[str]:
    return [f"{provider}:{external_id}"
            for provider, external_id in view.get("external_ids", {}).items()]


def _base(view: Mapping[str, Any] | None, event: Event) -> State:
    new = dict(view) if view else {
        "aggregate_id": event["aggregate_id"],
        "aggregate_type": event["aggregate_type"],
        "external_ids": {},
        "deleted": False,
        "fields": {},
        "updated_at": None,
    }
    metadata = event["metadata"]
    new["external_ids"] = {**new["external_ids"], metadata["provider"]: metadata["external_id"]}
    return new


def _touched(view: State, event: Event) -> State:
    # a late change (recorded after newer ones) does not move the time back; the times are
    # ISO 8601 strings in UTC, which sort in time order
    view["updated_at"] = max(view["updated_at"] or "", event["occurred_at"])
    view["last_position"] = event.get("position")
    return view
