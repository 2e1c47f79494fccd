"""A worker does not fetch its tables' changelogs while it owns them. Faust pauses those
partitions only in what it hands to the agents, so aiokafka's fetcher kept fetching them (the
broker read them on every fetch) and held each one's first records unconsumed, which held back
the worker's fetches for aiokafka's prefetch backoff (100 ms) each time."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

from infrastructure import preload_topic, worker_report

EVENTS = 400
PARTITIONS = 2


def test_the_changelogs_of_owned_tables_are_paused_in_the_fetcher(broker_url):
    topic = f"changelog-fetch-{uuid.uuid4().hex[:8]}"
    asyncio.run(preload_topic(broker_url.removeprefix("kafka://"), topic, PARTITIONS,
                              [(f"record-{n % 40}".encode(), b"{}") for n in range(EVENTS)]))

    report = worker_report(Path(__file__).with_name("changelog_fetch_worker.py"), broker_url,
                           topic, str(EVENTS), str(PARTITIONS))

    assert len(report["changelogs"]) == PARTITIONS  # the table's, written all along
    assert report["paused_in_fetcher"] == report["changelogs"]
    assert report["changelog_records_held"] == []
    # Faust's health check would report them, as an ERROR every few seconds each once the
    # worker has run five minutes, for want of a fetch request since start; the consumer's
    # check leaves out the partitions it paused
    assert sum("-changelog" in line for line in report["reports_of_fausts_own_check"]) \
        == PARTITIONS
    assert report["health_check_reports"] == []
