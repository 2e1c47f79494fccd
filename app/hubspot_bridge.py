"""POST /events/hubspot/: HubSpot webhook batches, authenticated by the v3 signature.

Every event of a batch becomes its own inbound message keyed by its record, so one record's
events stay in order whatever batch they came in. Answers 202 only after the broker acknowledged
all of them; HubSpot retries anything else but a 4xx.
"""

from __future__ import annotations

import time

import faust
import orjson
from faust.web import Request, Response, View

from app.hubspot_envelopes import HubSpotBatch
from app.hubspot_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    verify_v3,
)
from app.settings import Settings
from app.webhook_intake import (
    Intake,
    Rejected,
    accept,
    decode_body,
    read_limited_body,
    require_json,
)

NOT_CONFIGURED = "HubSpot webhooks are not configured: set HUBSPOT_CLIENT_SECRET"


def register_hubspot_bridge(app: faust.App, inbound: faust.TopicT, settings: Settings) -> None:
    secret = settings.hubspot_client_secret

    @app.page("/events/hubspot/")
    class HubSpotEvents(View):
        async def post(self, request: Request) -> Response:
            if secret is None:  # 503, so HubSpot keeps retrying until it is configured
                return self.error(503, NOT_CONFIGURED)
            try:
                body = await read_limited_body(request, settings.max_body_bytes)
                verify_signature(request, body)
                intake = Intake.of(request, "hubspot")
                require_json(request)
                raw_events, events = decode_body(body, HubSpotBatch.validate_python,
                                                 "invalid HubSpot webhook batch")
            except Rejected as rejected:
                return rejected.answer(self)
            messages = [(event.record_key, orjson.dumps(raw))
                        for event, raw in zip(events, raw_events, strict=True)]
            return await accept(self, inbound, intake, messages,
                                settings.bridge_ack_timeout_s, events=len(messages))

    def verify_signature(request: Request, body: bytes) -> None:
        try:
            verify_v3(secret=secret.get_secret_value().encode(), method=request.method,
                      uri=settings.hubspot_webhook_url or str(request.url), body=body,
                      signature=request.headers.get(SIGNATURE_HEADER),
                      timestamp=request.headers.get(TIMESTAMP_HEADER),
                      now_ms=int(time.time() * 1000))
        except SignatureRejected as rejected:
            raise Rejected(401, str(rejected)) from rejected
