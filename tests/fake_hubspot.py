"""A local stand-in for HubSpot's CRM API, for integration and end-to-end tests.

A real HTTP server in a thread answering `GET /crm/v3/objects/{type}/{id}?properties=...` the way
HubSpot does: the record with every requested property (null when unset), 404 with HubSpot's
error body for an unknown or archived record, 401 without the bearer token. Tests set records,
program faults (answer 503 a few times) and count requests.
"""

from __future__ import annotations

import json
import re
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

RECORD_PATH = re.compile(r"^/crm/v3/objects/(?P<type>\w+)/(?P<id>[^/]+)$")


@dataclass(frozen=True)
class Call:
    object_type: str
    record_id: str
    properties: tuple[str, ...]
    authorization: str
    status: int


class FakeHubSpot:
    def __init__(self, *, access_token: str = "hubspot-token"):
        self.access_token = access_token
        self._records: dict[tuple[str, str], dict[str, Any]] = {}
        self._failures: list[int] = []  # statuses the next requests get, in order
        self._calls: list[Call] = []
        self._lock = threading.Lock()
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._server is not None, "start the fake first"
        return f"http://127.0.0.1:{self._server.server_address[1]}"

    def __enter__(self) -> FakeHubSpot:
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        assert self._server is not None and self._thread is not None
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    # -- what tests control and observe ------------------------------------------------------

    def put(self, object_type: str, record_id: str, properties: dict[str, Any]) -> None:
        """`object_type` as in the API path: contacts, companies, deals."""
        with self._lock:
            self._records[(object_type, str(record_id))] = dict(properties)

    def archive(self, object_type: str, record_id: str) -> None:
        with self._lock:
            self._records.pop((object_type, str(record_id)), None)

    def fail_next(self, *statuses: int) -> None:
        with self._lock:
            self._failures.extend(statuses)

    def calls_for(self, object_type: str, record_id: str) -> list[Call]:
        with self._lock:
            return [c for c in self._calls
                    if (c.object_type, c.record_id) == (object_type, str(record_id))]

    # -- the server --------------------------------------------------------------------------

    def _answer(self, path: str, authorization: str) -> tuple[int, dict[str, Any]]:
        parts = urlsplit(path)
        match = RECORD_PATH.match(parts.path)
        if match is None:
            return 404, {"status": "error", "message": "Not found", "category": "OBJECT_NOT_FOUND"}
        object_type, record_id = match["type"], unquote(match["id"])
        query = parse_qs(parts.query)
        requested = tuple(",".join(query.get("properties", [])).split(",")) if query else ()
        with self._lock:
            status, body = self._lookup(object_type, record_id, requested, authorization)
            self._calls.append(Call(object_type, record_id, requested, authorization, status))
        return status, body

    def _lookup(self, object_type: str, record_id: str, requested: tuple[str, ...],
                authorization: str) -> tuple[int, dict[str, Any]]:
        if authorization != f"Bearer {self.access_token}":
            return 401, {"status": "error", "category": "INVALID_AUTHENTICATION",
                         "message": "Authentication credentials not found."}
        if self._failures:
            status = self._failures.pop(0)
            return status, {"status": "error", "category": "INTERNAL_ERROR",
                            "message": "internal error"}
        record = self._records.get((object_type, record_id))
        if record is None:
            return 404, {"status": "error", "category": "OBJECT_NOT_FOUND",
                         "message": "Object not found.  objectId are usually numeric."}
        properties = {name: record.get(name) for name in requested if name}
        properties["hs_object_id"] = record_id
        return 200, {"id": record_id, "properties": properties, "archived": False,
                     "createdAt": record.get("createdate"),
                     "updatedAt": record.get("hs_lastmodifieddate")
                     or record.get("lastmodifieddate")}

    def _handler(self) -> type[BaseHTTPRequestHandler]:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
                status, body = fake._answer(self.path, self.headers.get("Authorization", ""))
                payload = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json;charset=utf-8")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        return Handler
