"""POST /events/pipedrive/: Pipedrive webhooks v2, authenticated by HTTP basic auth (the
webhook's http_auth_user / http_auth_password).

Answers 202 only after the broker acknowledged the webhook; Pipedrive retries any other answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import logging

import faust
import orjson
from faust.web import Request, Response, View
from pydantic import ValidationError

from app.envelopes import error_list
from app.pipedrive_envelopes import PipedriveWebhook
from app.settings import Settings
from app.webhook_intake import JSON_TYPES, Intake, produce_acked, read_body

log = logging.getLogger(__name__)

NOT_CONFIGURED = ("Pipedrive webhooks are not configured: set PIPEDRIVE_WEBHOOK_USER and "
                  "PIPEDRIVE_WEBHOOK_PASSWORD")
CHALLENGE = {"WWW-Authenticate": 'Basic realm="crm-events", charset="UTF-8"'}


def basic_auth_valid(authorization: str | None, user: bytes, password: bytes) -> bool:
    """Constant time: user and password are both compared, whatever the first comparison said."""
    scheme, _, encoded = (authorization or "").partition(" ")
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True)
    except (binascii.Error, ValueError):
        decoded = b""
    given_user, colon, given_password = decoded.partition(b":")
    user_matches = hmac.compare_digest(given_user, user)
    password_matches = hmac.compare_digest(given_password, password)
    return scheme.lower() == "basic" and bool(colon) and user_matches and password_matches


def register_pipedrive_bridge(app: faust.App, inbound: faust.TopicT, settings: Settings) -> None:
    user, password = settings.pipedrive_webhook_user, settings.pipedrive_webhook_password

    @app.page("/events/pipedrive/")
    class PipedriveEvents(View):
        async def post(self, request: Request) -> Response:
            if not user or password is None:  # 503, so Pipedrive retries once it is configured
                return self.error(503, NOT_CONFIGURED)
            if not basic_auth_valid(request.headers.get("Authorization"), user.encode(),
                                    password.get_secret_value().encode()):
                return self.error(401, "missing or wrong basic auth credentials",
                                  headers=dict(CHALLENGE))
            if request.content_type not in JSON_TYPES:
                return self.error(415, f"expected application/json, got {request.content_type!r}")
            body = await read_body(request, settings.max_body_bytes)
            if body is None:
                return self.error(413, f"body larger than {settings.max_body_bytes} bytes")
            try:
                webhook = PipedriveWebhook.model_validate(orjson.loads(body))
            except orjson.JSONDecodeError as error:
                return self.error(400, f"malformed JSON: {error}")
            except ValidationError as error:
                return self.error(422, "invalid Pipedrive webhook (version 2.0 expected)",
                                  errors=error_list(error.errors()))
            intake = Intake.of(request, "pipedrive")
            try:
                await produce_acked(inbound, intake, [(webhook.record_key, body)],
                                    settings.bridge_ack_timeout_s)
            except Exception as error:  # the broker is down or too slow: Pipedrive retries
                log.warning("pipedrive produce failed: %s: %s", type(error).__name__, error)
                return self.error(503, "event log unavailable, retry later",
                                  headers={"Retry-After": "1"})
            return self.json(intake.answer(event_id=str(webhook.meta.id)), status=202)
