"""A Faust worker on the service's transport whose stream buffer is tiny, so that its partitions
are paused and resumed all the time: prints how many events it saw and the longest wait between
two of them, as JSON on fd 1, once it has seen COUNT.

`python tests/integration/paused_partitions_worker.py BROKER_URL TOPIC COUNT`
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid

from app.kafka_transport import CRMEventsApp

BUFFER = 1024


def main(broker_url: str, topic_name: str, count: int) -> None:
    datadir = tempfile.mkdtemp(prefix="paused-")
    app = CRMEventsApp(f"paused-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       web_enabled=False, autodiscover=False, key_serializer="raw",
                       value_serializer="raw", consumer_auto_offset_reset="earliest",
                       stream_buffer_maxsize=BUFFER, datadir=datadir)
    app.fetch_max_wait_ms = 10
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    state = {"seen": 0, "last": 0.0, "longest": 0.0}

    @app.agent(topic)
    async def consume(stream):
        async for _ in stream:
            now = time.monotonic()
            if state["seen"]:
                state["longest"] = max(state["longest"], now - state["last"])
            state["seen"] += 1
            state["last"] = now
            if state["seen"] == count:
                report = {"seen": state["seen"], "longest_wait_s": state["longest"]}
                os.write(1, json.dumps(report).encode() + b"\n")  # Faust redirects sys.stdout
                shutil.rmtree(datadir, ignore_errors=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
