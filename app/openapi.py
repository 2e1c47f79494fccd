"""The OpenAPI document of the bridge, generated from the pydantic envelope models.

Published at GET /openapi.json so clients (and schemathesis) can generate requests from it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from pydantic import BaseModel, TypeAdapter

from app.envelopes import SalesforceEnvelope
from app.hubspot_envelopes import HubSpotEvent
from app.pipedrive_envelopes import PipedriveWebhook


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


def _schema(model: type[BaseModel] | TypeAdapter, schemas: dict[str, Any], name: str) -> None:
    """Put `model`'s JSON schema under `name`, its nested models beside it."""
    generate = (model.json_schema if isinstance(model, TypeAdapter)
                else model.model_json_schema)
    schema = generate(by_alias=True, ref_template="#/components/schemas/{model}")
    schemas.update(schema.pop("$defs", {}))
    schemas[name] = schema


def _operation(summary: str, schema: str, security: str, refused: str,
               invalid: str) -> dict[str, Any]:
    return {"post": {
        "summary": summary,
        "security": [{security: []}],
        "requestBody": {"required": True, "content": {"application/json": {
            "schema": {"$ref": f"#/components/schemas/{schema}"}}}},
        "responses": {
            "202": {"description": "stored on the inbound topic", "content": {
                "application/json": {"schema": {"$ref": "#/components/schemas/Accepted"}}}},
            "400": _error("malformed JSON"),
            "401": _error(refused),
            "413": _error("body too large"),
            "415": _error("not application/json"),
            "422": _error(invalid),
            "503": _error("the event log is unavailable (or the endpoint is not configured); "
                          "retry"),
        },
    }}


@cache
def openapi_document() -> dict[str, Any]:
    schemas: dict[str, Any] = {}
    _schema(SalesforceEnvelope, schemas, "SalesforceEnvelope")
    _schema(TypeAdapter(list[HubSpotEvent]), schemas, "HubSpotWebhookBatch")
    _schema(PipedriveWebhook, schemas, "PipedriveWebhook")
    schemas["Accepted"] = {
        "type": "object",
        "required": ["status", "received_at"],
        "properties": {"event_id": {"type": "string"}, "status": {"const": "accepted"},
                       "received_at": {"type": "string", "format": "date-time"},
                       "correlation_id": {"type": "string"},
                       "events": {"type": "integer", "description": "HubSpot: events taken"},
                       "invalid": {"type": "array", "description": "HubSpot: the events that "
                                   "are no valid HubSpot event, dead-lettered by the worker",
                                   "items": {"type": "object", "properties": {
                                       "index": {"type": "integer"},
                                       "errors": {"type": "array"}}}}},
    }
    schemas["Error"] = {"type": "object", "required": ["error"],
                        "properties": {"error": {"type": "string"}, "errors": {"type": "array"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "crm-events bridge", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
                "hubspotSignature": {
                    "type": "apiKey", "in": "header", "name": "X-HubSpot-Signature-v3",
                    "description": "base64 HMAC-SHA256 of method, URI, body and "
                                   "X-HubSpot-Request-Timestamp (at most 5 minutes old)"},
                "pipedriveBasic": {"type": "http", "scheme": "basic"},
            },
        },
        "paths": {
            "/events/salesforce/": _operation(
                "Accept a Salesforce change event from an EventBridge API destination",
                "SalesforceEnvelope", "apiKey", "missing or invalid X-API-Key",
                "not a valid EventBridge envelope"),
            "/events/hubspot/": _operation(
                "Accept a batch of HubSpot webhook events", "HubSpotWebhookBatch",
                "hubspotSignature", "missing, wrong or stale v3 signature",
                "not a HubSpot webhook batch"),
            "/events/pipedrive/": _operation(
                "Accept a Pipedrive webhook (v2)", "PipedriveWebhook", "pipedriveBasic",
                "missing or wrong basic auth", "not a Pipedrive v2 webhook"),
        },
    }
