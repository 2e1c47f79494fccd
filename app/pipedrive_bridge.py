"""POST /events/pipedrive/: Pipedrive webhooks v2, authenticated by HTTP basic auth (the
webhook's http_auth_user / http_auth_password).

Answers 202 only after the broker acknowledged the webhook; Pipedrive retries any other answer.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import faust
from faust.web import Request, Response, View

from app.pipedrive_envelopes import PipedriveWebhook
from app.settings import Settings
from app.webhook_intake import BodyLimit, Intake, Rejected, accept, read_json

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
    body_limit = BodyLimit.of(settings)
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
            try:
                intake = Intake.of(request, "pipedrive")
                body, webhook = await read_json(request, body_limit,
                                                PipedriveWebhook.model_validate,
                                                "invalid Pipedrive webhook (version 2.0 expected)")
            except Rejected as rejected:
                return rejected.answer(self)
            return await accept(self, inbound, intake,
                                [(webhook.record_key, body)], settings.bridge_ack_timeout_s,
                                event_id=str(webhook.meta.id))
