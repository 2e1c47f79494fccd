"""A fetch returns records of the partitions that were active when it asked, and no others.

Faust hands aiokafka its live set of active partitions, and aiokafka reads an empty set as
"every partition". Table recovery pauses the changelogs while the streams are still paused,
which empties that set during a fetch's wait: the records of the paused stream partitions came
back, Faust did not deliver them, and the consumer's position had moved past them. Found as
723-2,275 of 10,000 changes never stored after a worker was killed and restarted five times
(tests/reliability/test_worker_kills.py)."""

from __future__ import annotations

import asyncio
import logging
import uuid

from aiokafka import AIOKafkaProducer, TopicPartition
from faust.types import TP
from infrastructure import create_topics
from prometheus_client import REGISTRY

from app.kafka_transport import CRMEventsApp


async def produce(bootstrap: str, topic: str, partition: int, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(count):
            await producer.send_and_wait(topic, f"record-{n}".encode(), partition=partition)
    finally:
        await producer.stop()


async def test_a_fetch_whose_active_set_empties_returns_no_paused_partition(broker_url):
    bootstrap = broker_url.removeprefix("kafka://")
    topic = f"asked-{uuid.uuid4().hex[:8]}"
    active, paused = TopicPartition(topic, 0), TopicPartition(topic, 1)
    await create_topics(bootstrap, [topic], 2)
    await produce(bootstrap, topic, paused.partition, 20)  # fetched, held for the paused one

    app = CRMEventsApp(f"asked-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       web_enabled=False, autodiscover=False, key_serializer="raw",
                       value_serializer="raw", consumer_auto_offset_reset="earliest")
    consumer = app.consumer  # the service's transport's consumer, its aiokafka in a thread
    thread = consumer._thread
    await thread.start()
    try:
        async def assign() -> None:
            thread._consumer.assign([active, paused])

        await thread.call_thread(assign)
        active_partitions = {active}  # Faust's live set
        fetch = asyncio.ensure_future(consumer._getmany(active_partitions, timeout=10.0))
        await asyncio.sleep(2.0)  # the paused partition's records are fetched and held
        assert not fetch.done()  # nothing for the active one yet: the fetch waits

        active_partitions.clear()  # recovery pauses the last active partition
        await produce(bootstrap, topic, active.partition, 1)  # wakes the waiting fetch
        records = await asyncio.wait_for(fetch, 10.0)

        assert paused not in records
        assert set(records) <= {active}
    finally:
        await thread.stop()


async def test_offsets_skipped_between_deliveries_are_logged_and_counted(caplog):
    topic = f"gap-{uuid.uuid4().hex[:8]}"
    app = CRMEventsApp(topic, broker="kafka://localhost:9", store="memory://",
                       web_enabled=False, autodiscover=False)
    with caplog.at_level(logging.WARNING, logger="app.kafka_transport"):
        await app.consumer._add_gap(TP(topic, 2), 100, 140)

    assert f"{topic}[2]: offsets 100-139 skipped" in caplog.text
    assert REGISTRY.get_sample_value("crm_consumer_offsets_skipped_total",
                                     {"topic": topic}) == 40
