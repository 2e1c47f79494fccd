"""A worker does not fetch its tables' changelogs while it owns them. Faust pauses those
partitions only in what it hands to the agents, so aiokafka's fetcher kept fetching them (the
broker read them on every fetch) and held each one's first records unconsumed, which held back
the worker's fetches for aiokafka's prefetch backoff (100 ms) each time."""

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
EVENTS = 400
PARTITIONS = 2


async def preload(bootstrap: str, topic: str) -> None:
    await create_topics(bootstrap, [topic], PARTITIONS)
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await producer.start()
    try:
        sends = [await producer.send(topic, b"{}", key=f"record-{n % 40}".encode())
                 for n in range(EVENTS)]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


def test_the_changelogs_of_owned_tables_are_paused_in_the_fetcher(broker_url):
    topic = f"changelog-fetch-{uuid.uuid4().hex[:8]}"
    asyncio.run(preload(broker_url.removeprefix("kafka://"), topic))

    worker = subprocess.run(
        [sys.executable, str(ROOT / "tests/integration/changelog_fetch_worker.py"),
         broker_url, topic, str(EVENTS), str(PARTITIONS)],
        capture_output=True, text=True, timeout=120, cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)})

    assert worker.returncode == 0, worker.stderr[-3000:]
    report = json.loads(worker.stdout.strip().splitlines()[-1])
    assert len(report["changelogs"]) == PARTITIONS  # the table's, written all along
    assert report["paused_in_fetcher"] == report["changelogs"]
    assert report["changelog_records_held"] == []
