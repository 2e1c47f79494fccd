"""Boundary DTOs: a HubSpot webhook request, a JSON array of events, validated by pydantic.

The request is checked as a whole (a JSON array of 1 to 1,000 elements) and each event on its
own: HubSpot does not send a batch again after a 4xx, so refusing a batch for one bad event
would lose the good ones. The bridge produces every element; the worker records the valid ones
and dead-letters the others with their reasons."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, ValidationError

from app.envelopes import error_list
from domain.changes import MAX_EPOCH_MS
from domain.providers import hubspot

Id = StrictInt | Annotated[str, Field(min_length=1, max_length=255)]


class HubSpotEvent(BaseModel):
    model_config = ConfigDict(extra="allow")

    eventId: Id
    subscriptionId: Id | None = None
    portalId: int | None = None
    occurredAt: int = Field(ge=0, lt=MAX_EPOCH_MS, description="epoch milliseconds")
    subscriptionType: str = Field(max_length=255, pattern=r"^\w+\.\w+$",
                                  examples=["contact.propertyChange"])
    objectId: Id | None = None
    propertyName: str | None = Field(None, max_length=255)
    propertyValue: Any = None
    changeSource: str | None = Field(None, max_length=255)
    attemptNumber: int | None = Field(None, ge=0)


# HubSpot sends at most 100 events a request; a little room for a larger batch setting.
HubSpotBatch = TypeAdapter(Annotated[list[Any], Field(min_length=1, max_length=1000)])


def event_problems(raw: Any) -> list[dict[str, str]]:
    """What makes `raw` no HubSpot event (`{field, message}` each), or nothing."""
    try:
        HubSpotEvent.model_validate(raw)
    except ValidationError as error:
        return error_list(error.errors())
    return []


def record_keys(raw: Any) -> list[str]:
    """Inbound partition keys: the record, so its events stay in order (a merge: each record it
    ends or keeps, one message each, as a Salesforce change naming several records; an
    association change: the record whose association changed); for an event too malformed to
    name one, its subscription type, or nothing."""
    if isinstance(raw, dict):
        records = hubspot.affected_records(raw)
        if any(record is not None for record in records):
            return [record or "" for record in records]
        if raw.get("subscriptionType") not in (None, ""):
            return [str(raw["subscriptionType"])]
    return [""]
