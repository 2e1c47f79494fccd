"""A local stand-in for the Salesforce REST API, for integration and end-to-end tests.

A real HTTPS server in a thread: it answers what simple-salesforce's `sf.Account.get(id)` sends
(`GET /services/data/vXX.X/sobjects/{Object}/{id}`) with the record and its `attributes`, or
with Salesforce's own error bodies. Tests set the records, program faults (answer 503 a few times,
answer slowly), and count the requests.

It speaks TLS because simple-salesforce always builds `https://` URLs from the instance URL. The
certificate is self-signed; a client trusts it through `ca_file` (requests reads
`REQUESTS_CA_BUNDLE`).
"""

from __future__ import annotations

import copy
import json
import re
import ssl
import subprocess
import tempfile
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

RECORD_PATH = re.compile(
    r"^/services/data/v(?P<version>[\d.]+)/sobjects/(?P<entity>\w+)/(?P<id>[^/?]+)$"
)
NOT_FOUND = [{"errorCode": "NOT_FOUND", "message": "The requested resource does not exist"}]
INVALID_SESSION = [{"errorCode": "INVALID_SESSION_ID", "message": "Session expired or invalid"}]
UNAVAILABLE = [{"errorCode": "SERVER_UNAVAILABLE", "message": "Service temporarily unavailable"}]


@dataclass
class Fault:
    """What the next `times` matching requests get: an error status, a delay, or both."""

    times: int
    status: int | None = None  # None: the normal answer, after the delay
    delay_s: float = 0.0
    record_id: str | None = None  # None: any record

    def matches(self, record_id: str | None) -> bool:
        return self.times > 0 and self.record_id in (None, record_id)


@dataclass(frozen=True)
class Call:
    method: str
    path: str
    entity: str | None
    record_id: str | None
    authorization: str
    status: int


class FakeSalesforce:
    def __init__(self, *, api_version: str = "64.0", session_id: str = "x"):
        self.api_version = api_version
        self.session_id = session_id
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self._faults: list[Fault] = []
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._directory = tempfile.TemporaryDirectory(prefix="fake-salesforce-")
        self.ca_file = str(Path(self._directory.name) / "cert.pem")
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    # -- lifecycle ---------------------------------------------------------------------------

    @property
    def url(self) -> str:
        """The instance URL to configure (SALESFORCE_INSTANCE_URL)."""
        assert self._server is not None, "start the fake first"
        return f"https://127.0.0.1:{self._server.server_address[1]}"

    def service_settings(self, *, quick_failures: bool = True) -> dict[str, str]:
        """The settings that point a service at this fake (and trust its certificate);
        `quick_failures`: a 2 s timeout and one retry, so outage tests stay short."""
        settings = {"SALESFORCE_INSTANCE_URL": self.url,
                    "SALESFORCE_SESSION_ID": self.session_id,
                    "SALESFORCE_API_VERSION": self.api_version,
                    "REQUESTS_CA_BUNDLE": self.ca_file}
        if quick_failures:
            settings |= {"SALESFORCE_TIMEOUT_S": "2", "SALESFORCE_MAX_RETRIES": "1"}
        return settings

    def start(self) -> FakeSalesforce:
        key_file = str(Path(self._directory.name) / "key.pem")
        _self_signed_certificate(self.ca_file, key_file)
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(self.ca_file, key_file)
        server = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
        server.daemon_threads = False  # stop() joins every request thread
        server.socket = context.wrap_socket(server.socket, server_side=True)
        server.fake = self  # type: ignore[attr-defined]
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, name="fake-salesforce")
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stopping.set()  # ends any slow answer still waiting
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._thread.join()
        self._directory.cleanup()

    def __enter__(self) -> FakeSalesforce:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- what tests set ----------------------------------------------------------------------

    def put(self, entity: str, record_id: str, fields: Mapping[str, Any]) -> None:
        """The record as the REST API returns it (`attributes` and `Id` are added)."""
        with self._lock:
            self._records[entity, record_id] = copy.deepcopy(dict(fields))

    def remove(self, entity: str, record_id: str) -> None:
        with self._lock:
            self._records.pop((entity, record_id), None)

    def fail(self, times: int, *, status: int = 503, record_id: str | None = None) -> None:
        """The next `times` requests (for `record_id`, or any) are answered with `status`."""
        self._add_fault(Fault(times, status=status, record_id=record_id))

    def delay(self, times: int, seconds: float, *, record_id: str | None = None) -> None:
        """The next `times` requests are answered normally, but only after `seconds`."""
        self._add_fault(Fault(times, delay_s=seconds, record_id=record_id))

    def _add_fault(self, fault: Fault) -> None:
        with self._lock:
            self._faults.append(fault)

    # -- what tests read ---------------------------------------------------------------------

    @property
    def calls(self) -> list[Call]:
        with self._lock:
            return list(self._calls)

    def calls_for(self, entity: str, record_id: str) -> int:
        return sum(c.entity == entity and c.record_id == record_id for c in self.calls)

    # -- answering (on the server's request threads) -----------------------------------------

    def answer(self, path: str, authorization: str) -> tuple[int, Any, float]:
        """(status, JSON body, delay in seconds) for one GET."""
        match = RECORD_PATH.match(path)
        entity, record_id = (match["entity"], match["id"]) if match else (None, None)
        with self._lock:
            fault = next((f for f in self._faults if f.matches(record_id)), None)
            if fault is not None:
                fault.times -= 1
            status, body = self._status_and_body(match, authorization, fault)
            self._calls.append(Call("GET", path, entity, record_id, authorization, status))
        return status, body, fault.delay_s if fault else 0.0

    def _status_and_body(
        self, match: re.Match | None, authorization: str, fault: Fault | None
    ) -> tuple[int, Any]:
        if authorization != f"Bearer {self.session_id}":
            return 401, INVALID_SESSION
        if fault is not None and fault.status is not None:
            return fault.status, UNAVAILABLE
        if match is None or match["version"] != self.api_version:
            return 404, NOT_FOUND
        entity, record_id = match["entity"], match["id"]
        record = self._records.get((entity, record_id))
        if record is None:
            return 404, NOT_FOUND
        url = f"/services/data/v{self.api_version}/sobjects/{entity}/{record_id}"
        return 200, {"attributes": {"type": entity, "url": url}, "Id": record_id, **record}


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.0 (the default): one request per connection, so no idle keep-alive thread outlives
    # a test; and a client that connects but never asks is dropped.
    timeout = 5

    def do_GET(self) -> None:  # noqa: N802 (the name http.server dispatches to)
        fake: FakeSalesforce = self.server.fake  # type: ignore[attr-defined]
        status, body, delay_s = fake.answer(self.path, self.headers.get("Authorization", ""))
        if delay_s and fake._stopping.wait(delay_s):
            return  # shutting down: drop the connection unanswered
        payload = json.dumps(body).encode()
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json;charset=UTF-8")
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)
        except (BrokenPipeError, ConnectionResetError, ssl.SSLError):
            pass  # the client gave up waiting (a timeout test): nothing to answer

    def log_message(self, format: str, *args: Any) -> None:
        pass  # requests are recorded in FakeSalesforce.calls instead


def _self_signed_certificate(cert_file: str, key_file: str) -> None:
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
         "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
         "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", key_file, "-out", cert_file],
        check=True, capture_output=True, timeout=30,
    )
