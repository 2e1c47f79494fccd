"""Boundary DTOs: the EventBridge envelope of a Salesforce change event, validated by pydantic."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, model_validator

from domain.changes import MAX_EPOCH_MS

Text = Field(min_length=1, max_length=255)


class ChangeHeader(BaseModel):
    model_config = ConfigDict(extra="allow")

    entityName: str = Field(min_length=1, max_length=255)
    recordIds: list[str] = Field(default_factory=list, max_length=10_000)
    changeType: Literal[
        "CREATE", "UPDATE", "DELETE", "UNDELETE",
        "GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE", "GAP_OVERFLOW",
    ]
    changeOrigin: str = Field("", max_length=1024)
    transactionKey: str = Field("", max_length=255)
    sequenceNumber: int = Field(0, ge=0)
    commitTimestamp: int = Field(ge=0, lt=MAX_EPOCH_MS)
    commitNumber: int | None = None
    commitUser: str | None = Field(None, max_length=255)
    changedFields: list[str] = Field(default_factory=list)
    diffFields: list[str] = Field(default_factory=list)
    nulledFields: list[str] = Field(default_factory=list)

    @model_validator(mode="after")
    def record_ids_present(self) -> ChangeHeader:
        if self.changeType != "GAP_OVERFLOW" and not self.recordIds:
            raise ValueError(f"recordIds must not be empty for {self.changeType}")
        if any(not record_id or len(record_id) > 255 for record_id in self.recordIds):
            raise ValueError("every record id must have 1 to 255 characters")
        return self


class ChangePayload(BaseModel):
    model_config = ConfigDict(extra="allow")

    ChangeEventHeader: ChangeHeader


class Detail(BaseModel):
    """Event Relay puts the change under `payload`; AppFlow puts it directly in `detail`."""

    model_config = ConfigDict(extra="allow")

    payload: ChangePayload | None = None
    ChangeEventHeader: ChangeHeader | None = None

    @model_validator(mode="after")
    def one_route(self) -> Detail:
        if self.payload is None and self.ChangeEventHeader is None:
            raise ValueError("expected detail.payload.ChangeEventHeader (Event Relay) "
                             "or detail.ChangeEventHeader (AppFlow)")
        return self

    @property
    def header(self) -> ChangeHeader:
        return self.payload.ChangeEventHeader if self.payload else self.ChangeEventHeader


class SalesforceEnvelope(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)

    id: str = Text
    detail_type: str = Field(alias="detail-type", min_length=1, max_length=255)
    source: str = Text
    time: str | None = None
    detail: Detail

    @property
    def record_keys(self) -> list[str]:
        """Inbound partition keys: one message per record id keeps each record's order."""
        header = self.detail.header
        return list(dict.fromkeys(header.recordIds)) or [header.entityName]


def error_list(errors: list[dict[str, Any]]) -> list[dict[str, str]]:
    return [{"field": ".".join(str(part) for part in error["loc"]) or "body",
             "message": error["msg"]} for error in errors]
