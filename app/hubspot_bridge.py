"""POST /events/hubspot/: HubSpot webhook batches, authenticated by the v3 signature.

Every event of a batch becomes its own inbound message keyed by its record, so one record's
events stay in order whatever batch they came in. Answers 202 only after the broker acknowledged
all of them; HubSpot retries anything else but a 4xx. An event that is not a valid HubSpot event
goes too (the worker dead-letters it with its reason), and the 202 names it in `invalid`: a 4xx
for the batch would lose its good events, which HubSpot would not send again.
"""

from __future__ import annotations

import time

import faust
import orjson
from faust.web import Request, Response, View

from app.hubspot_envelopes import HubSpotBatch, event_problems, record_keys
from app.hubspot_signature import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    SignatureRejected,
    verify_v3,
)
from app.settings import Settings
from app.webhook_intake import (
    BodyLimit,
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
    body_limit = BodyLimit.of(settings)

    @app.page("/events/hubspot/")
    class HubSpotEvents(View):
        async def post(self, request: Request) -> Response:
            if secret is None:  # 503, so HubSpot keeps retrying until it is configured
                return self.error(503, NOT_CONFIGURED)
            try:
                body = await read_limited_body(request, body_limit)
                verify_signature(request, body)
                intake = Intake.of(request, "hubspot")
                require_json(request)
                raw_events = decode_body(body, HubSpotBatch.validate_python,
                                         "not a HubSpot webhook batch (a JSON array of "
                                         "1-1000 events)")[0]
            except Rejected as rejected:
                return rejected.answer(self)
            invalid = [{"index": index, "errors": problems}
                       for index, raw in enumerate(raw_events) if (problems := event_problems(raw))]
            messages = [(key, value) for raw in raw_events
                        for value in [orjson.dumps(raw)] for key in record_keys(raw)]
            return await accept(self, inbound, intake, messages, settings.bridge_ack_timeout_s,
                                events=len(raw_events), invalid=invalid)

    def verify_signature(request: Request, body: bytes) -> None:
        try:
            verify_v3(secret=secret.get_secret_value().encode(), method=request.method,
                      uri=settings.hubspot_webhook_url or str(request.url), body=body,
                      signature=request.headers.get(SIGNATURE_HEADER),
                      timestamp=request.headers.get(TIMESTAMP_HEADER),
                      now_ms=int(time.time() * 1000))
        except SignatureRejected as rejected:
            raise Rejected(401, str(rejected)) from rejected
