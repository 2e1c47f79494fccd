"""HubSpot's v3 request signature: is this webhook really from HubSpot, and recent?

`X-HubSpot-Signature-v3` is base64(HMAC-SHA256(client secret, method + URI + body + timestamp)),
`X-HubSpot-Request-Timestamp` the epoch milliseconds it was sent at. A request older than five
minutes is refused, so a captured request cannot be replayed later.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re

SIGNATURE_HEADER = "X-HubSpot-Signature-v3"
TIMESTAMP_HEADER = "X-HubSpot-Request-Timestamp"
MAX_AGE_MS = 5 * 60 * 1000

# HubSpot signs the URI with these characters decoded (and no others).
_ENCODED = re.compile(r"%(3A|2F|3F|40|21|24|27|28|29|2A|2C|3B)", re.IGNORECASE)
# ASCII digits only (str.isdigit also takes "²" and other digits int() refuses), and few enough
# for int() (it refuses over 4,300)
_EPOCH_MS = re.compile(r"[0-9]{1,20}")


class SignatureRejected(Exception):
    """The request is not provably HubSpot's; the message says why (safe to answer)."""


def signed_uri(uri: str) -> str:
    return _ENCODED.sub(lambda match: chr(int(match[1], 16)), uri)


def signature_v3(secret: bytes, method: str, uri: str, body: bytes, timestamp: str) -> str:
    source = method.upper().encode() + signed_uri(uri).encode() + body + timestamp.encode()
    return base64.b64encode(hmac.new(secret, source, hashlib.sha256).digest()).decode()


def verify_v3(*, secret: bytes, method: str, uri: str, body: bytes, signature: str | None,
              timestamp: str | None, now_ms: int) -> None:
    """Raise `SignatureRejected` unless the signature is right and the timestamp fresh."""
    if not signature or not timestamp:
        raise SignatureRejected(f"missing {SIGNATURE_HEADER} or {TIMESTAMP_HEADER}")
    if not _EPOCH_MS.fullmatch(timestamp):
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is not epoch milliseconds")
    # Also refuse the far future: a clock that far ahead would make a replay window of its own.
    if abs(now_ms - int(timestamp)) > MAX_AGE_MS:
        raise SignatureRejected(f"{TIMESTAMP_HEADER} is more than 5 minutes from now")
    expected = signature_v3(secret, method, uri, body, timestamp)
    # a header that is not UTF-8 comes with its bytes escaped: compared as they came
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise SignatureRejected(f"{SIGNATURE_HEADER} does not match the request")
