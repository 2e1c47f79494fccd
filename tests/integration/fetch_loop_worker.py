"""A Faust worker on the service's transport and fetch loop (`app.fetch_loop`) whose agent takes
batches as the service's agents do, from a stream buffer small enough to fill: prints, as JSON
on fd 1 once it has seen COUNT events, the values each partition delivered in order and how
many deliveries went straight into the buffer and how many had to wait.

`python tests/integration/fetch_loop_worker.py BROKER_URL TOPIC COUNT`
"""

from __future__ import annotations

import asyncio
import sys
from collections import Counter, defaultdict

from worker_script import report_and_exit, run_worker, worker_app

from app import raw_delivery
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
    app = worker_app("fetch-loop", broker_url, key_serializer="raw", value_serializer="raw",
                     stream_buffer_maxsize=BUFFER)
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes)
    seen: dict[int, list[int]] = defaultdict(list)

    @app.agent(topic)
    async def consume(stream):
        async for events in batches(stream, 50, 0.01):
            for event in events:
                seen[event.message.partition].append(int(event.value))
            await asyncio.sleep(0.002)  # slower than the fetches: the buffer fills
            if sum(map(len, seen.values())) >= count:
                report_and_exit(app, {"seen": seen, "deliveries": deliveries})

    run_worker(app)


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
