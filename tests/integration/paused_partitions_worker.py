"""A Faust worker on the service's transport whose stream buffer is tiny, so that its partitions
are paused and resumed all the time: prints how many events it saw and the longest wait between
two of them, as JSON on fd 1, once it has seen COUNT.

`python tests/integration/paused_partitions_worker.py BROKER_URL TOPIC COUNT`
"""

from __future__ import annotations

import sys
import time

from worker_script import report_and_exit, run_worker, worker_app

BUFFER = 1024


def main(broker_url: str, topic_name: str, count: int) -> None:
    app = worker_app("paused", broker_url, key_serializer="raw", value_serializer="raw",
                     stream_buffer_maxsize=BUFFER)
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
                report_and_exit(app, {"seen": state["seen"],
                                      "longest_wait_s": state["longest"]})

    run_worker(app)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
