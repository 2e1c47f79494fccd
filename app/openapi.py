"""The OpenAPI document of the bridge, generated from the pydantic envelope model.

Published at GET /openapi.json so clients (and schemathesis) can generate requests from it.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from app.envelopes import SalesforceEnvelope


def _error(description: str) -> dict[str, Any]:
    return {"description": description,
            "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}}


@cache
def openapi_document() -> dict[str, Any]:
    envelope = SalesforceEnvelope.model_json_schema(
        by_alias=True, ref_template="#/components/schemas/{model}")
    schemas = envelope.pop("$defs", {})
    schemas["SalesforceEnvelope"] = envelope
    schemas["Accepted"] = {
        "type": "object",
        "required": ["event_id", "status", "received_at"],
        "properties": {"event_id": {"type": "string"}, "status": {"const": "accepted"},
                       "received_at": {"type": "string", "format": "date-time"},
                       "correlation_id": {"type": "string"}},
    }
    schemas["Error"] = {"type": "object", "required": ["error"],
                        "properties": {"error": {"type": "string"}, "errors": {"type": "array"}}}
    return {
        "openapi": "3.0.3",
        "info": {"title": "crm-events bridge", "version": "1"},
        "components": {
            "schemas": schemas,
            "securitySchemes": {"apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
        "security": [{"apiKey": []}],
        "paths": {
            "/events/salesforce/": {
                "post": {
                    "summary": "Accept a Salesforce change event from an EventBridge API "
                               "destination",
                    "requestBody": {"required": True, "content": {"application/json": {
                        "schema": {"$ref": "#/components/schemas/SalesforceEnvelope"}}}},
                    "responses": {
                        "202": {"description": "stored on the inbound topic", "content": {
                            "application/json": {
                                "schema": {"$ref": "#/components/schemas/Accepted"}}}},
                        "400": _error("malformed JSON"),
                        "401": _error("missing or invalid X-API-Key"),
                        "413": _error("body too large"),
                        "415": _error("not application/json"),
                        "422": _error("not a valid EventBridge envelope"),
                        "503": _error("the event log is unavailable; retry"),
                    },
                }
            }
        },
    }
