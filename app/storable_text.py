"""Text PostgreSQL can store: no NUL character (U+0000).

PostgreSQL's `text` and `jsonb` refuse U+0000. A change holding one failed its whole command
batch at the append (retried, then isolated and parked as `unexpected`, with the database's
error for a reason); it is refused before that, as a validation failure naming the cause.
"""

from __future__ import annotations

from typing import Any

NUL_ESCAPE = b"\\u0000"  # how JSON writes U+0000: a raw NUL byte is not JSON


class NulCharacter(ValueError):
    """A message holds U+0000 in a string or a key."""

    def __init__(self) -> None:
        super().__init__("a text value holds a NUL character (\\u0000), which PostgreSQL "
                         "cannot store")


def refuse_nul(raw: bytes, decoded: Any) -> None:
    """Raise `NulCharacter` if `decoded`, what the JSON `raw` decodes to, holds U+0000. Looked
    for only when the bytes hold its escape: an ordinary message costs one byte search."""
    if NUL_ESCAPE in raw and _holds_nul(decoded):
        raise NulCharacter()


def _holds_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_holds_nul(key) or _holds_nul(item) for key, item in value.items())
    if isinstance(value, list):
        return any(_holds_nul(item) for item in value)
    return False
