"""A Faust worker on the service's transport that counts a topic's events in a table: once it
has seen COUNT and its changelog had time to be fetched, prints as JSON on fd 1 which changelog
partitions aiokafka's fetcher had paused and which it held fetched records of.

`python tests/integration/changelog_fetch_worker.py BROKER_URL TOPIC COUNT PARTITIONS`
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from typing import Any

from worker_script import report_and_exit, run_worker, worker_app

from app.kafka_transport import CRMEventsApp

SETTLE_S = 1.0  # a few dozen fetch rounds after the last changelog write


def main(broker_url: str, topic_name: str, count: int, partitions: int) -> None:
    app = worker_app("changelog-fetch", broker_url, topic_partitions=partitions)
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
                report_and_exit(app, fetcher_state(app))

    run_worker(app)


def fetcher_state(app: CRMEventsApp) -> dict[str, list[str]]:
    consumer = app.consumer
    aiokafka_consumer = consumer._thread._consumer
    changelogs = sorted(f"{tp.topic}:{tp.partition}" for tp in consumer.assignment()
                        if consumer._is_changelog_tp(tp))
    paused = sorted(f"{tp.topic}:{tp.partition}" for tp in aiokafka_consumer.paused())
    held = sorted(f"{tp.topic}:{tp.partition}" for tp in aiokafka_consumer._fetcher._records
                  if consumer._is_changelog_tp(tp))
    return {"changelogs": changelogs, "paused_in_fetcher": paused,
            "changelog_records_held": held,
            "health_check_reports": health_check_reports(app, app.consumer),
            "reports_of_fausts_own_check": health_check_reports(app, app.consumer._thread)}


def health_check_reports(app: CRMEventsApp, checker: Any) -> list[str]:
    """What Faust's health check of every assigned partition (`verify_event_path`, through the
    consumer or straight through its thread) reports an hour from now, when every check that
    counts from the worker's start is due."""
    reported: list[str] = []

    class Reports(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if "fetch request" in record.getMessage():
                reported.append(record.getMessage())

    handler = Reports()
    logging.getLogger().addHandler(handler)
    try:
        for tp in app.consumer.assignment():
            checker.verify_event_path(time.monotonic() + 3600, tp)
    finally:
        logging.getLogger().removeHandler(handler)
    return reported


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
