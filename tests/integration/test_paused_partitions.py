"""A partition paused because its stream's buffer is full is fetched again as soon as the
buffer drains. Faust's fetch loop waits up to a second for records of the partitions active
when it asked (and sleeps a second when none is active), so a resumed partition sat idle for up
to a second each time: a 1 s stall under any backlog larger than the stream buffer."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

from aiokafka import AIOKafkaProducer
from infrastructure import create_topics

ROOT = Path(__file__).resolve().parents[2]
EVENTS = 4_000
PARTITIONS = 4
PAYLOAD = b"x" * 2_000  # several fetches per partition (a fetch brings at most 1 MB of each)


async def preload(bootstrap: str, topic: str) -> None:
    await create_topics(bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(topic, PAYLOAD, key=f"record-{n % 100}".encode())
                 for n in range(EVENTS)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def test_a_resumed_partition_is_fetched_without_a_second_of_stall(broker_url):
    topic = f"paused-{uuid.uuid4().hex[:8]}"
    asyncio.run(preload(broker_url.removeprefix("kafka://"), topic))

    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests/integration/paused_partitions_worker.py"),
         broker_url, topic, str(EVENTS)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})

    assert worker.returncode == 0, worker.stderr[-3000:]
    report = json.loads(worker.stdout.strip().splitlines()[-1])
    assert report["seen"] == EVENTS
    # Paused and resumed dozens of times over the run: a stall of Faust's second would show.
    assert report["longest_wait_s"] < 0.5
