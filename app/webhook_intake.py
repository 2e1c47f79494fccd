"""What every CRM webhook endpoint does once it knows the sender: read the body within the size
limit, decode and validate it (4xx with the reasons), and produce the events to the provider's
inbound topic, answering 202 only after the broker acknowledged them all (503 otherwise, so the
provider retries).
"""

from __future__ import annotations

import asyncio
import logging
import re
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import faust
import orjson
from aiohttp.http_exceptions import BadHttpMessage
from aiohttp.web_protocol import RequestPayloadError
from faust.web import Request, Response, View
from pydantic import ValidationError

from app import tracing
from app.envelopes import error_list
from app.json_errors import RETRY_LATER
from app.settings import Settings
from domain.ids import new_id

log = logging.getLogger(__name__)

JSON_TYPES = ("application/json",)
JSON_CHARSETS = ("", "utf-8", "utf8")  # JSON is UTF-8 (RFC 8259)
# zlib's window bits for each coding decoded (None: as sent); x-gzip is gzip (RFC 9110 8.4.1.3)
CONTENT_CODINGS = {"identity": None, "gzip": 16 + zlib.MAX_WBITS, "x-gzip": 16 + zlib.MAX_WBITS,
                   "deflate": zlib.MAX_WBITS}
# what is propagated as is to every event's metadata and logs: refused otherwise, not mangled
CORRELATION_ID = re.compile(r"[ -~]{1,255}")

Model = TypeVar("Model")


class Rejected(Exception):
    """A request answered with a 4xx (or 503) and a reason, before anything was produced."""

    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None,
                 **details: Any):
        super().__init__(reason)
        self.status, self.reason, self.headers, self.details = status, reason, headers, details

    def answer(self, view: View) -> Response:
        return view.error(self.status, self.reason, headers=self.headers, **self.details)


def require_json(request: Request) -> None:
    if request.content_type not in JSON_TYPES:
        presented = request.headers.get("Content-Type")
        raise Rejected(415, f"expected application/json, got {presented!r}" if presented
                       else "expected application/json, got no Content-Type")
    if (request.charset or "").lower() not in JSON_CHARSETS:
        raise Rejected(415, f"expected UTF-8 JSON, got charset {request.charset!r}")


@dataclass(frozen=True)
class BodyLimit:
    """How large a request body may be, decoded, and how long its bytes may take to arrive: a
    client announcing more than it sends would otherwise hold its connection as long as it
    likes (aiohttp has no timeout for reading a body)."""

    max_bytes: int
    within_s: float

    @classmethod
    def of(cls, settings: Settings) -> BodyLimit:
        return cls(settings.max_body_bytes, settings.body_read_timeout_s)


async def read_limited_body(request: Request, limit: BodyLimit) -> bytes:
    body = await read_body(request, limit)
    if body is None:
        raise Rejected(413, f"body larger than {limit.max_bytes} bytes")
    return body


def decode_body(body: bytes, validate: Callable[[Any], Model], invalid: str) -> tuple[Any, Model]:
    """The decoded JSON and the model `validate` makes of it: 400 for malformed JSON, 422 with
    pydantic's reasons (titled `invalid`) for a valid JSON of the wrong shape."""
    try:
        decoded = orjson.loads(body)
        return decoded, validate(decoded)
    except orjson.JSONDecodeError as error:
        raise Rejected(400, _not_utf8(body) or f"malformed JSON: {error}") from error
    except ValidationError as error:
        raise Rejected(422, invalid, errors=error_list(error.errors())) from error


async def read_body(request: Request, limit: BodyLimit) -> bytes | None:
    """The decoded body (signatures cover its exact bytes), or None when larger than `limit`."""
    coding = request.headers.get("Content-Encoding", "identity").strip().lower()
    if coding not in CONTENT_CODINGS:
        raise Rejected(415, f"unsupported Content-Encoding {coding!r} "
                            f"({', '.join(CONTENT_CODINGS)})")
    if (request.content_length or 0) > limit.max_bytes:
        return None
    body = DecodedBody(coding, limit.max_bytes)
    try:
        async with asyncio.timeout(limit.within_s):
            async for chunk in request.content.iter_any():
                if not body.add(chunk):
                    return None
    except TimeoutError as error:
        raise Rejected(408, f"the body did not arrive within {limit.within_s:g} s") from error
    except (RequestPayloadError, BadHttpMessage) as error:
        raise Rejected(400, f"cannot read the body: {error}") from error
    except ConnectionResetError as error:  # not the service's failure: no 500, no traceback
        raise Rejected(400, "the client closed the connection before the body ended") from error
    return body.complete()


class DecodedBody:
    """A body decoded as it arrives, never inflated past `limit` (a few kilobytes of gzip can
    hold gigabytes: a zip bomb)."""

    def __init__(self, coding: str, limit: int):
        self.coding, self.limit = coding, limit
        self.parts: list[bytes] = []
        self.size = 0
        self.inflater: zlib._Decompress | None = None

    def add(self, chunk: bytes) -> bool:
        """False once the decoded body is larger than the limit."""
        if CONTENT_CODINGS[self.coding] is not None and chunk:
            chunk = self._inflate(chunk)
        self.size += len(chunk)
        self.parts.append(chunk)
        return self.size <= self.limit

    def complete(self) -> bytes:
        if self.inflater is not None and not self.inflater.eof:
            raise Rejected(400, f"cannot read the body: the {self.coding} stream is truncated")
        if self.inflater is not None and self.inflater.unused_data:
            raise Rejected(400, f"cannot read the body: data after the {self.coding} stream")
        return b"".join(self.parts)

    def _inflate(self, chunk: bytes) -> bytes:
        if self.inflater is None:
            wbits = CONTENT_CODINGS[self.coding]
            # "deflate" is zlib-wrapped (RFC 9110), but some clients send it raw, as aiohttp
            # accepted until the service decoded bodies itself
            if self.coding == "deflate" and chunk[0] & 0x0F != 8:
                wbits = -zlib.MAX_WBITS
            self.inflater = zlib.decompressobj(wbits)
        try:
            # one byte past the limit at most: enough to know it is over
            return self.inflater.decompress(chunk, self.limit + 1 - self.size)
        except zlib.error as error:
            raise Rejected(400, f"cannot read the body: not valid {self.coding} "
                                f"({error})") from error


def _not_utf8(body: bytes) -> str | None:
    """Why a body that is no JSON is not even text, if so: a UTF-16 or Latin-1 body otherwise
    reads as "str is not valid UTF-8: surrogates not allowed"."""
    try:
        body.decode()
    except UnicodeDecodeError as error:
        return f"the body is not UTF-8 (byte {error.start}), and JSON is UTF-8 (RFC 8259)"
    return None


async def read_json(request: Request, limit: BodyLimit, validate: Callable[[Any], Model],
                    invalid: str) -> tuple[bytes, Model]:
    """The raw body and its model, for an endpoint that checks nothing in the bytes first."""
    require_json(request)
    body = await read_limited_body(request, limit)
    return body, decode_body(body, validate, invalid)[1]

@dataclass(frozen=True)
class Intake:
    """One accepted request: when it arrived and the correlation id its events carry."""

    provider: str
    correlation_id: str
    received_at: str = field(default_factory=lambda: datetime.now(UTC).isoformat())

    @classmethod
    def of(cls, request: Request, provider: str) -> Intake:
        presented = request.headers.get("X-Correlation-ID")
        if presented and not CORRELATION_ID.fullmatch(presented):
            raise Rejected(400, "X-Correlation-ID must be 1-255 printable ASCII characters")
        return cls(provider, presented or new_id())

    @property
    def headers(self) -> dict[str, bytes]:
        """With the bridge span's trace context, so the command's spans join its trace."""
        return tracing.inject({"correlation-id": self.correlation_id.encode(),
                               "received-at": self.received_at.encode(),
                               "provider": self.provider.encode()})

    def answer(self, **details: object) -> dict[str, object]:
        return {"status": "accepted", "received_at": self.received_at,
                "correlation_id": self.correlation_id, **details}


async def produce_acked(inbound: faust.TopicT, intake: Intake,
                        messages: Sequence[tuple[str, bytes]], timeout: float) -> None:
    """Send (key, value) pairs with the intake's headers; raise unless all are acknowledged
    within `timeout` (the caller answers 503, and the provider retries).

    Straight through the app's producer (the partitioner, acks and connection `Topic.send`
    uses), without the per-message future and callback chain `Topic.send` adds: the bridge
    does little else per request."""
    producer = await inbound.app.maybe_start_producer()
    headers = intake.headers
    topic = inbound.get_topic_name()
    async with asyncio.timeout(timeout):  # no task per request, unlike asyncio.wait_for
        sends = [await producer.send(topic, key.encode(), value, partition=None,
                                     timestamp=None, headers=headers)
                 for key, value in messages]
        for sent in sends:
            await sent


async def accept(view: View, inbound: faust.TopicT, intake: Intake,
                 messages: Sequence[tuple[str, bytes]], timeout: float,
                 **details: object) -> Response:
    """202 once the broker acknowledged every message; 503 when it is down or too slow."""
    try:
        await produce_acked(inbound, intake, messages, timeout)
    except Exception as error:
        log.warning("%s produce failed: %s: %s", intake.provider, type(error).__name__, error)
        return view.error(503, "event log unavailable, retry later", headers=dict(RETRY_LATER))
    return view.json(intake.answer(**details), status=202)
