"""The HTTP bridge: EventBridge API destinations POST provider events here.

Answers 202 only after the broker acknowledged the raw event; 4xx with reasons for bad input;
503 when the broker cannot take it (EventBridge then retries).
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from app.api_keys import key_accepted
from app.envelopes import SalesforceEnvelope
from app.openapi import openapi_document
from app.settings import Settings
from app.webhook_intake import BodyLimit, Intake, Rejected, accept, read_json


def register_bridge(app: faust.App, inbound: faust.TopicT, settings: Settings) -> None:
    ack_timeout = settings.bridge_ack_timeout_s
    body_limit = BodyLimit.of(settings)

    @app.page("/openapi.json")
    class OpenAPIDocument(View):
        async def get(self, request: Request) -> Response:
            return self.json(openapi_document())

    @app.page("/events/salesforce/")
    class SalesforceEvents(View):
        async def post(self, request: Request) -> Response:
            if not key_accepted(request.headers.get("X-API-Key"), settings.api_keys):
                return self.error(401, "missing or invalid X-API-Key")
            try:
                intake = Intake.of(request, "salesforce")
                body, envelope = await read_json(request, body_limit,
                                                 SalesforceEnvelope.model_validate,
                                                 "invalid EventBridge envelope")
            except Rejected as rejected:
                return rejected.answer(self)
            return await accept(self, inbound, intake,
                                [(key, body) for key in envelope.record_keys], ack_timeout,
                                event_id=envelope.id)
