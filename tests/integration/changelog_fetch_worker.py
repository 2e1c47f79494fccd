"""A Faust worker on the service's transport that counts a topic's events in a table: once it
has seen COUNT and its changelog had time to be fetched, prints as JSON on fd 1 which changelog
partitions aiokafka's fetcher had paused and which it held fetched records of.

`python tests/integration/changelog_fetch_worker.py BROKER_URL TOPIC COUNT PARTITIONS`
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
import uuid

from app.kafka_transport import CRMEventsApp

SETTLE_S = 1.0  # a few dozen fetch rounds after the last changelog write


def main(broker_url: str, topic_name: str, count: int, partitions: int) -> None:
    datadir = tempfile.mkdtemp(prefix="changelog-fetch-")
    app = CRMEventsApp(f"changelog-fetch-{uuid.uuid4().hex[:8]}", broker=broker_url,
                       store="memory://", topic_partitions=partitions, web_enabled=False,
                       autodiscover=False, consumer_auto_offset_reset="earliest",
                       datadir=datadir)
    app.fetch_max_wait_ms = 10
    topic = app.topic(topic_name, key_type=bytes, value_type=bytes, key_serializer="raw",
                      value_serializer="raw", partitions=partitions)
    counts = app.Table("counts", default=int, partitions=partitions, key_type=str,
                       value_type=int)
    seen = 0

    @app.agent(topic)
    async def count_events(stream):
        nonlocal seen
        async for event in stream.events():
            counts[event.key.decode()] += 1
            seen += 1
            if seen == count:
                await asyncio.sleep(SETTLE_S)
                report(app)
                shutil.rmtree(datadir, ignore_errors=True)
                os._exit(0)

    sys.argv = [sys.argv[0], "worker", "--loglevel", "warn", "--without-web"]
    app.main()


def report(app: CRMEventsApp) -> None:
    consumer = app.consumer
    aiokafka_consumer = consumer._thread._consumer
    changelogs = sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment()
                        if consumer._is_changelog_tp(tp))
    paused = sorted(f"{tp.topic}:{tp.partition}" for tp in aiokafka_consumer.paused())
    held = sorted(f"{tp.topic}:{tp.partition}" for tp in aiokafka_consumer._fetcher._records
                  if consumer._is_changelog_tp(tp))
    payload = {"changelogs": changelogs, "paused_in_fetcher": paused,
               "changelog_records_held": held}
    os.write(1, json.dumps(payload).encode() + b"\n")  # Faust redirects sys.stdout


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
