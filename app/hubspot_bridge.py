"""POST /events/hubspot/: HubSpot webhook batches, authenticated by the v3 signature.

Every event of a batch becomes its own inbound message keyed by its record, so one record's
events stay in order whatever batch they came in. Answers 202 only after the broker acknowledged
all of them; HubSpot retries anything else but a 4xx.
"""

from __future__ import annotations

import logging
import time

import faust
import orjson
from faust.web import Request, Response, View
from pydantic import ValidationError

from app.envelopes import error_list
from app.hubspot_envelopes import HubSpotBatch
from app.hubspot_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    verify_v3,
)
from app.settings import Settings
from app.webhook_intake import JSON_TYPES, Intake, produce_acked, read_body

log = logging.getLogger(__name__)

NOT_CONFIGURED = "HubSpot webhooks are not configured: set HUBSPOT_CLIENT_SECRET"


def register_hubspot_bridge(app: faust.App, inbound: faust.TopicT, settings: Settings) -> None:
    secret = settings.hubspot_client_secret

    @app.page("/events/hubspot/")
    class HubSpotEvents(View):
        async def post(self, request: Request) -> Response:
            if secret is None:  # 503, so HubSpot keeps retrying until it is configured
                return self.error(503, NOT_CONFIGURED)
            body = await read_body(request, settings.max_body_bytes)
            if body is None:
                return self.error(413, f"body larger than {settings.max_body_bytes} bytes")
            try:
                verify_v3(secret=secret.get_secret_value().encode(), method=request.method,
                          uri=settings.hubspot_webhook_url or str(request.url), body=body,
                          signature=request.headers.get(SIGNATURE_HEADER),
                          timestamp=request.headers.get(TIMESTAMP_HEADER),
                          now_ms=int(time.time() * 1000))
            except SignatureRejected as rejected:
                return self.error(401, str(rejected))
            if request.content_type not in JSON_TYPES:
                return self.error(415, f"expected application/json, got {request.content_type!r}")
            try:
                raw_events = orjson.loads(body)
                events = HubSpotBatch.validate_python(raw_events)
            except orjson.JSONDecodeError as error:
                return self.error(400, f"malformed JSON: {error}")
            except ValidationError as error:
                return self.error(422, "invalid HubSpot webhook batch",
                                  errors=error_list(error.errors()))
            intake = Intake.of(request, "hubspot")
            messages = [(event.record_key, orjson.dumps(raw))
                        for event, raw in zip(events, raw_events, strict=True)]
            try:
                await produce_acked(inbound, intake, messages, settings.bridge_ack_timeout_s)
            except Exception as error:  # the broker is down or too slow: HubSpot retries
                log.warning("hubspot produce failed: %s: %s", type(error).__name__, error)
                return self.error(503, "event log unavailable, retry later",
                                  headers={"Retry-After": "1"})
            return self.json(intake.answer(events=len(messages)), status=202)
