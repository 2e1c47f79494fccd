"""What the operator commands that talk to a running service over HTTP share: its URL (an
argparse type, and the default from the settings), the first configured key, counts, and
what a request to it may raise."""

from __future__ import annotations

import argparse
import http.client
import re
import urllib.error
import urllib.parse

from app.settings import Settings

TIMEOUT_S = 10.0
# what urllib raises when nothing, or nothing speaking HTTP, answers at the URL
CONNECTION_ERRORS = (urllib.error.URLError, OSError, http.client.HTTPException)


def service_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::") else settings.web_host
    return f"http://[{host}]:{settings.web_port}" if ":" in host else (
        f"http://{host}:{settings.web_port}")


def base_url(value: str) -> str:
    """An argparse type: the service's http(s) URL, without a trailing slash, as paths are
    appended to it."""
    example = "an http(s) URL such as http://127.0.0.1:6066"
    try:
        parts = urllib.parse.urlsplit(value)
        parts.port  # noqa: B018 (a port that is not a number raises ValueError when read)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{value!r} is not {example} ({error})") from None
    if (parts.scheme not in ("http", "https") or not parts.hostname or parts.query
            or parts.fragment or re.search(r"\s", value)):
        raise argparse.ArgumentTypeError(f"{value!r} is not {example}")
    return value.rstrip("/")


def at_least_one(value: str) -> int:
    """An argparse type: a whole number of 1 or more (`--repeat`, `--limit`)."""
    try:
        number = int(value)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{value!r} is not a whole number") from None
    if number < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {number}")
    return number


def first_key(keys: list) -> str | None:
    return keys[0].get_secret_value() if keys else None
