"""The HTTP bridge: EventBridge API destinations POST provider events here.

Answers 202 only after the broker acknowledged the raw event; 4xx with reasons for bad input;
503 when the broker cannot take it (EventBridge then retries).
"""

from __future__ import annotations

import hmac
import logging

import faust
import orjson
from faust.web import Request, Response, View
from pydantic import ValidationError

from app.envelopes import SalesforceEnvelope, error_list
from app.openapi import openapi_document
from app.settings import Settings
from app.webhook_intake import JSON_TYPES, Intake, produce_acked, read_body

log = logging.getLogger(__name__)


def api_key_valid(presented: str | None, keys: tuple[bytes, ...]) -> bool:
    """Constant time: every configured key is compared, whatever matches first."""
    candidate = (presented or "").encode()
    matches = [hmac.compare_digest(candidate, key) for key in keys]
    return bool(presented) and any(matches)


def register_bridge(app: faust.App, inbound: faust.TopicT, settings: Settings) -> None:
    ack_timeout = settings.bridge_ack_timeout_s

    @app.page("/openapi.json")
    class OpenAPIDocument(View):
        async def get(self, request: Request) -> Response:
            return self.json(openapi_document())

    @app.page("/events/salesforce/")
    class SalesforceEvents(View):
        async def post(self, request: Request) -> Response:
            if not api_key_valid(request.headers.get("X-API-Key"), settings.api_keys):
                return self.error(401, "missing or invalid X-API-Key")
            if request.content_type not in JSON_TYPES:
                return self.error(415, f"expected application/json, got {request.content_type!r}")
            body = await read_body(request, settings.max_body_bytes)
            if body is None:
                return self.error(413, f"body larger than {settings.max_body_bytes} bytes")
            try:
                envelope = SalesforceEnvelope.model_validate(orjson.loads(body))
            except orjson.JSONDecodeError as error:
                return self.error(400, f"malformed JSON: {error}")
            except ValidationError as error:
                return self.error(422, "invalid EventBridge envelope",
                                  errors=error_list(error.errors()))
            intake = Intake.of(request, "salesforce")
            try:
                await produce_acked(inbound, intake,
                                    [(key, body) for key in envelope.record_keys], ack_timeout)
            except Exception as error:  # the broker is down or too slow: EventBridge retries
                log.warning("inbound produce failed: %s: %s", type(error).__name__, error)
                return self.error(503, "event log unavailable, retry later",
                                  headers={"Retry-After": "1"})
            return self.json(intake.answer(event_id=envelope.id), status=202)
