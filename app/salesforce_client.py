"""The CRM port for Salesforce, through simple-salesforce.

simple-salesforce is synchronous: every call runs in a worker thread so the event loop never
blocks. Server errors, timeouts and dropped connections are retried with backoff; a 404 means the
record no longer exists. TLS trust follows requests' rules (REQUESTS_CA_BUNDLE, which overrides
any per-session setting).
"""

from __future__ import annotations

import asyncio
import logging
import random
import threading
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

import requests
from simple_salesforce import Salesforce
from simple_salesforce.exceptions import SalesforceGeneralError, SalesforceResourceNotFound

from app.settings import Settings

log = logging.getLogger(__name__)


class SalesforceNotConfigured(RuntimeError):
    pass


class TimeoutSession(requests.Session):
    """requests has no session-wide timeout; every Salesforce call gets one here."""

    def __init__(self, timeout: float):
        super().__init__()
        self.timeout = timeout

    def request(self, *args: Any, **kwargs: Any) -> requests.Response:
        kwargs.setdefault("timeout", self.timeout)
        return super().request(*args, **kwargs)


def is_retryable(error: Exception) -> bool:
    if isinstance(error, requests.exceptions.SSLError):
        return False  # an untrusted certificate stays untrusted
    if isinstance(error, (requests.ConnectionError, requests.Timeout)):
        return True
    return isinstance(error, SalesforceGeneralError) and error.status >= 500


class SalesforceRecordReader:
    def __init__(self, settings: Settings):
        self.settings = settings
        self._client: Salesforce | None = None
        self._lock = threading.Lock()

    @staticmethod
    def configured(settings: Settings) -> bool:
        has_session = settings.salesforce_instance_url and settings.salesforce_session_id
        has_login = settings.salesforce_username and settings.salesforce_password
        return bool(has_session or has_login)

    async def fetch_record(self, entity: str, external_id: str) -> Mapping[str, Any] | None:
        attempts = self.settings.salesforce_max_retries + 1
        for attempt in range(1, attempts + 1):
            try:
                return await asyncio.to_thread(self._fetch, entity, external_id)
            except Exception as error:
                if attempt == attempts or not is_retryable(error):
                    raise
                delay = random.uniform(0, min(5.0, 0.2 * 2**attempt))
                log.warning("Salesforce %s %s: %s; retry %d in %.2fs", entity, external_id,
                            type(error).__name__, attempt, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    def _fetch(self, entity: str, external_id: str) -> Mapping[str, Any] | None:
        # The id comes from the event: quoted, it cannot reach another path of the API.
        try:
            return getattr(self._salesforce(), entity).get(quote(external_id, safe=""))
        except SalesforceResourceNotFound:
            return None

    def _salesforce(self) -> Salesforce:
        with self._lock:
            if self._client is None:
                self._client = self._connect()
            return self._client

    def _connect(self) -> Salesforce:
        s = self.settings
        session = TimeoutSession(s.salesforce_timeout_s)
        if s.salesforce_instance_url and s.salesforce_session_id:
            return Salesforce(instance_url=s.salesforce_instance_url,
                              session_id=s.salesforce_session_id.get_secret_value(),
                              version=s.salesforce_api_version, session=session)
        if s.salesforce_username and s.salesforce_password:
            token = s.salesforce_security_token
            return Salesforce(username=s.salesforce_username,
                              password=s.salesforce_password.get_secret_value(),
                              security_token=token.get_secret_value() if token else "",
                              domain=s.salesforce_domain, version=s.salesforce_api_version,
                              session=session)
        raise SalesforceNotConfigured("set SALESFORCE_INSTANCE_URL and SALESFORCE_SESSION_ID, "
                                      "or SALESFORCE_USERNAME and SALESFORCE_PASSWORD")
