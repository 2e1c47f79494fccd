"""Boundary DTOs: a HubSpot webhook request, a JSON array of events, validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter

from domain.changes import MAX_EPOCH_MS

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

    @property
    def record_key(self) -> str:
        """Inbound partition key: the record, so its events stay in order."""
        return str(self.objectId) if self.objectId is not None else self.subscriptionType


# HubSpot sends at most 100 events a request; a little room for a larger batch setting.
HubSpotBatch = TypeAdapter(Annotated[list[HubSpotEvent], Field(min_length=1, max_length=1000)])
