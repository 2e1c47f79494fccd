"""The service's fetch loop (`app.fetch_loop`) hands each fetched partition's records over in one
run: every record reaches the agent once and in its partition's order, straight into the
stream's buffer while there is room, and by Faust's waiting delivery when it is full."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from infrastructure import preload_topic, worker_report

EVENTS = 3_000
PARTITIONS = 4


def test_every_record_arrives_once_in_its_partitions_order_full_buffer_or_not(broker_url):
    topic = f"fetch-loop-{uuid.uuid4().hex[:8]}"
    asyncio.run(preload_topic(broker_url.removeprefix("kafka://"), topic, PARTITIONS,
                              [(f"record-{n % 100}".encode(), str(n).encode())
                               for n in range(EVENTS)]))

    report = worker_report(Path(__file__).with_name("fetch_loop_worker.py"), broker_url,
                           topic, str(EVENTS))

    seen = report["seen"]
    assert sorted(n for values in seen.values() for n in values) == list(range(EVENTS))
    for values in seen.values():
        assert values == sorted(values)  # produced in order, so each partition's order
    assert len(seen) == PARTITIONS
    deliveries = report["deliveries"]
    assert deliveries["at once"] > EVENTS / 2  # the run's own way
    assert deliveries["not at once"] > 0 and deliveries["waited"] > 0  # the buffer filled
    assert deliveries["at once"] + deliveries["waited"] == EVENTS
