"""HubSpot and Pipedrive samples from app/samples, and requests signed as the providers do."""

from __future__ import annotations

import base64
import json
import time
from pathlib import Path
from typing import Any

from app.hubspot_signature import SIGNATURE_HEADER, TIMESTAMP_HEADER, signature_v3

SAMPLES = Path(__file__).parents[1] / "app" / "samples"
HUBSPOT_SECRET = "hubspot-client-secret-for-tests"
PIPEDRIVE_USER, PIPEDRIVE_PASSWORD = "pipedrive-hook", "pipedrive-secret-for-tests"


def hubspot_sample(name: str) -> list[dict[str, Any]]:
    return json.loads((SAMPLES / "hubspot" / f"{name}.json").read_text(encoding="utf-8"))


def pipedrive_sample(name: str) -> dict[str, Any]:
    return json.loads((SAMPLES / "pipedrive" / f"{name}.json").read_text(encoding="utf-8"))


def sample_names(provider: str) -> list[str]:
    return sorted(path.stem for path in (SAMPLES / provider).glob("*.json"))


def hubspot_headers(url: str, body: bytes, *, secret: str = HUBSPOT_SECRET,
                    timestamp_ms: int | None = None) -> dict[str, str]:
    """The headers HubSpot sends with a POST of `body` to `url`."""
    timestamp = str(int(time.time() * 1000) if timestamp_ms is None else timestamp_ms)
    return {
        "Content-Type": "application/json",
        TIMESTAMP_HEADER: timestamp,
        SIGNATURE_HEADER: signature_v3(secret.encode(), "POST", url, body, timestamp),
    }


def basic_auth(user: str = PIPEDRIVE_USER, password: str = PIPEDRIVE_PASSWORD) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()
