"""Checking an API key a caller presents (the bridge's `X-API-Key`, the read API's)."""

from __future__ import annotations

import hmac


def key_accepted(presented: str | None, keys: tuple[bytes, ...]) -> bool:
    """Constant time: every configured key is compared, whichever would match first, so the
    answer's timing tells nothing about how close a guess was or which key it matched. A header
    that is not UTF-8 reaches here with its bytes escaped (aiohttp's surrogateescape): those
    bytes are compared, and match no key, instead of failing to encode."""
    candidate = (presented or "").encode("utf-8", "surrogateescape")
    matches = [hmac.compare_digest(candidate, key) for key in keys]
    return bool(presented) and any(matches)
