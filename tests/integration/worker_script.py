"""What the integration tests' Faust worker scripts share: an app on the service's transport
with its data in a directory of its own, its report as JSON on fd 1, and its run."""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import uuid
from typing import Any, NoReturn

from app.kafka_transport import CRMEventsApp


def worker_app(name: str, broker_url: str, **options: Any) -> CRMEventsApp:
    """A worker app reading its topics from the beginning, fetching with a 10 ms wait."""
    app = CRMEventsApp(f"{name}-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       web_enabled=False, autodiscover=False,
                       consumer_auto_offset_reset="earliest",
                       datadir=tempfile.mkdtemp(prefix=f"{name}-"), **options)
    app.fetch_max_wait_ms = 10
    return app


def report_and_exit(app: CRMEventsApp, report: dict) -> NoReturn:
    os.write(1, json.dumps(report).encode() + b"\n")  # Faust redirects sys.stdout
    shutil.rmtree(app.conf.datadir, ignore_errors=True)
    os._exit(0)


def run_worker(app: CRMEventsApp) -> None:
    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()
