"""With OTEL_EXPORTER_OTLP_ENDPOINT set, spans reach the collector over OTLP/HTTP.

Runs in a child process: OpenTelemetry accepts one global tracer provider per process."""

from __future__ import annotations

import http.server
import os
import subprocess
import sys
import threading

from app.embedded import free_port

EXPORT_ONE_SPAN = """
from app import tracing
from app.settings import Settings
assert tracing.configure(Settings())
with tracing.span("event_store.append", {"crm.events": 3}):
    pass
tracing.shutdown()
"""


class Collector(http.server.BaseHTTPRequestHandler):
    received: list[tuple[str, str, bytes]] = []

    def do_POST(self) -> None:  # noqa: N802 (the http.server hook's name)
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Collector.received.append((self.path, self.headers["Content-Type"], body))
        self.send_response(200)
        self.send_header("Content-Type", "application/x-protobuf")
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


def test_spans_are_posted_to_the_collectors_traces_path():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", free_port()), Collector)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        done = subprocess.run(
            [sys.executable, "-c", EXPORT_ONE_SPAN], capture_output=True, text=True, timeout=60,
            env={**os.environ, "OTEL_ENABLED": "true", "OTEL_SERVICE_NAME": "crm-test",
                 "OTEL_EXPORTER_OTLP_ENDPOINT": f"http://127.0.0.1:{server.server_port}"})
    finally:
        server.shutdown()
        thread.join()
    assert done.returncode == 0, done.stderr
    ((path, content_type, body),) = Collector.received
    assert path == "/v1/traces" and content_type == "application/x-protobuf"
    assert b"event_store.append" in body and b"crm-test" in body
