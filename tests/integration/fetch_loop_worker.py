"""A Faust worker on the service's transport and fetch loop (`app.fetch_loop`) whose agent takes
batches as the service's agents do, from a stream buffer small enough to fill: prints, as JSON
on fd 1 once it has seen COUNT events, the values each partition delivered in order and how
many deliveries went straight into the buffer and how many had to wait.

`python tests/integration/fetch_loop_worker.py BROKER_URL TOPIC COUNT`
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid
from collections import Counter, defaultdict

from app import raw_delivery
from app.kafka_transport import CRMEventsApp
from app.stream_batches import batches

BUFFER = 64
deliveries: Counter = Counter()


def counted(handler_of):
    """The raw handler, counting its deliveries by the way they went."""

    def build(*args):
        deliver = handler_of(*args)
        deliver_now = deliver.deliver_now

        async def waiting(message):
            deliveries["waited"] += 1
            await deliver(message)

        def now(message):
            done = deliver_now(message)
            deliveries["at once" if done else "not at once"] += 1
            return done

        waiting.deliver_now = now
        return waiting

    return build


def main(broker_url: str, topic_name: str, count: int) -> None:
    raw_delivery.raw_bytes_handler = counted(raw_delivery.raw_bytes_handler)
    datadir = tempfile.mkdtemp(prefix="fetch-loop-")
    app = CRMEventsApp(f"fetch-loop-{uuid.uuid4().hex[:8]}", broker=broker_url,
                       store="memory://", web_enabled=False, autodiscover=False,
                       key_serializer="raw", value_serializer="raw",
                       consumer_auto_offset_reset="earliest", stream_buffer_maxsize=BUFFER,
                       datadir=datadir)
    app.fetch_max_wait_ms = 10
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    seen: dict[int, list[int]] = defaultdict(list)

    @app.agent(topic)
    async def consume(stream):
        async for events in batches(stream, 50, 0.01):
            for event in events:
                seen[event.message.partition].append(int(event.value))
            await asyncio.sleep(0.002)  # slower than the fetches: the buffer fills
            if sum(map(len, seen.values())) >= count:
                report = {"seen": seen, "deliveries": deliveries}
                os.write(1, json.dumps(report).encode() + b"\n")  # Faust redirects sys.stdout
                shutil.rmtree(datadir, ignore_errors=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
