"""The CRM port for HubSpot: reads a record's current properties from the CRM API.

`GET /crm/v3/objects/{contacts|companies|deals}/{id}?properties=...` with the private app (or
OAuth) bearer token, on aiohttp so the event loop never blocks. Server errors, rate limiting
(429), timeouts and dropped connections are retried with backoff; a 404 means the record no
longer exists (HubSpot answers 404 for an archived record too).
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import aiohttp

from app.settings import Settings
from domain.providers.hubspot_properties import API_OBJECT_TYPES, OBJECTS

log = logging.getLogger(__name__)


class HubSpotAPIError(Exception):
    def __init__(self, status: int, body: str):
        super().__init__(f"HubSpot API answered {status}: {body[:300]}")
        self.status = status


def is_retryable(error: Exception) -> bool:
    if isinstance(error, aiohttp.ClientSSLError):
        return False  # an untrusted certificate stays untrusted
    if isinstance(error, aiohttp.ClientConnectionError | asyncio.TimeoutError):
        return True
    return isinstance(error, HubSpotAPIError) and (error.status >= 500 or error.status == 429)


class HubSpotRecordReader:
    def __init__(self, settings: Settings):
        assert settings.hubspot_access_token is not None, "see `configured`"
        self.base_url = settings.hubspot_api_url.rstrip("/")
        self.max_retries = settings.hubspot_max_retries
        self._authorization = f"Bearer {settings.hubspot_access_token.get_secret_value()}"
        self._timeout = aiohttp.ClientTimeout(total=settings.hubspot_timeout_s)
        self._session: aiohttp.ClientSession | None = None

    @staticmethod
    def configured(settings: Settings) -> bool:
        return settings.hubspot_access_token is not None

    async def fetch_record(self, entity: str, external_id: str) -> Mapping[str, Any] | None:
        attempts = self.max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return await self._fetch(entity, external_id)
            except Exception as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                delay = random.uniform(0, min(5.0, 0.2 * 2**attempt))
                log.warning("HubSpot %s %s: %s; retry %d in %.2fs", entity, external_id,
                            error or type(error).__name__, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    async def _fetch(self, entity: str, external_id: str) -> Mapping[str, Any] | None:
        # The id comes from the event: quoted, it cannot reach another path of the API.
        url = f"{self.base_url}/crm/v3/objects/{API_OBJECT_TYPES[entity]}/" \
              f"{quote(external_id, safe='')}"
        params = {"properties": ",".join(OBJECTS[entity].readers), "archived": "false"}
        async with self._client().get(url, params=params) as response:
            if response.status == 404:
                return None
            if response.status >= 400:
                raise HubSpotAPIError(response.status, await response.text())
            return await response.json()

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(
                timeout=self._timeout, headers={"Authorization": self._authorization,
                                                "Accept": "application/json"})
        return self._session
