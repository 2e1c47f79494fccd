"""The framework's ceiling: a Faust agent that only consumes (run as its own process).

`python -m bench.faust_ceiling BROKER_URL TOPIC COUNT PARTITIONS [faust|inline]` prints the
seconds from the first to the last of COUNT events, and the process's CPU seconds meanwhile
(every thread), as JSON. Built like the service's app (same
transport, same consumer settings), so the comparison isolates what the service does per event;
`faust` (the framework's ceiling) keeps Faust's own fetch loop, delivery of each message to the
stream and consumer thread, `inline` takes the service's (see `app.fetch_loop`,
`app.message_delivery`, `app.raw_delivery` and `ConsumerOnAppLoop` in `app.kafka_transport`).
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tempfile
import time
import uuid

from app.event_loop import use_uvloop
from app.kafka_transport import CRMEventsApp
from app.settings import Settings


def main(broker_url: str, topic_name: str, count: int, partitions: int,
         delivery: str = "faust") -> None:
    use_uvloop()  # as the service's worker
    datadir = tempfile.mkdtemp(prefix="ceiling-")
    app = CRMEventsApp(f"ceiling-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       topic_partitions=partitions, web_enabled=False, autodiscover=False,
                       key_serializer="raw", value_serializer="raw",
                       consumer_auto_offset_reset="earliest", broker_session_timeout=6,
                       broker_rebalance_timeout=6, broker_heartbeat_interval=1,
                       stream_buffer_maxsize=8192, datadir=datadir)
    app.fetch_max_wait_ms = Settings.model_fields["kafka_fetch_max_wait_ms"].default
    app.inline_delivery = app.consumer_on_app_loop = delivery == "inline"
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, partitions=partitions)
    state = {"seen": 0, "first": 0.0, "first_cpu": 0.0}

    @app.agent(topic)
    async def only_consume(stream):
        async for _ in stream:
            state["seen"] += 1
            if state["seen"] == 1:
                state["first"], state["first_cpu"] = time.monotonic(), time.process_time()
            if state["seen"] == count:
                # straight to fd 1: the Faust worker redirects sys.stdout into its logger
                report = json.dumps({"seconds": time.monotonic() - state["first"],
                                     "cpu_seconds": time.process_time() - state["first_cpu"]})
                os.write(1, report.encode() + b"\n")
                shutil.rmtree(datadir, ignore_errors=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]), *sys.argv[5:6])
