"""Boundary DTOs: a Pipedrive webhook (version 2.0), validated by pydantic."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StrictInt, model_validator

Id = StrictInt | Annotated[str, Field(min_length=1, max_length=255)]


class PipedriveMeta(BaseModel):
    model_config = ConfigDict(extra="allow")

    # v1 said added/updated/deleted: such a webhook is refused with this field named.
    action: Literal["create", "change", "delete"]
    entity: str = Field(min_length=1, max_length=64, examples=["person"])
    entity_id: Id
    id: Id
    timestamp: StrictInt | Annotated[str, Field(min_length=1, max_length=64)]


class PipedriveWebhook(BaseModel):
    model_config = ConfigDict(extra="allow")

    meta: PipedriveMeta
    data: dict[str, Any] | None = None
    previous: dict[str, Any] | None = None

    @model_validator(mode="after")
    def record_present(self) -> PipedriveWebhook:
        if self.meta.action == "delete" and self.previous is None:
            raise ValueError("a delete carries the record's last state in `previous`")
        if self.meta.action != "delete" and self.data is None:
            raise ValueError(f"a {self.meta.action} carries the record in `data`")
        return self

    @property
    def record_key(self) -> str:
        """Inbound partition key: the record, so its changes stay in order."""
        return str(self.meta.entity_id)
