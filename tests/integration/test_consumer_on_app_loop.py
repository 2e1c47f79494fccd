"""aiokafka's consumer runs on the app's event loop, not in a thread of Faust's (see
`ConsumerOnAppLoop` in app/kafka_transport.py): it fetches there, and stopping it leaves the
loop's other tasks alone (Faust's thread cancels every task left on its own loop when it ends)."""

from __future__ import annotations

import asyncio
import threading
import uuid

from aiokafka import AIOKafkaProducer, TopicPartition
from infrastructure import create_topics

from app.kafka_transport import CRMEventsApp


def consumer_app(broker_url: str, on_app_loop: bool) -> CRMEventsApp:
    app = CRMEventsApp(f"loop-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       web_enabled=False, autodiscover=False, key_serializer="raw",
                       value_serializer="raw", consumer_auto_offset_reset="earliest")
    app.consumer_on_app_loop = on_app_loop
    return app


async def produce(bootstrap: str, topic: str, count: int) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap)
    await producer.start()
    try:
        for n in range(count):
            await producer.send(topic, f"record-{n}".encode(), partition=0)
        await producer.flush()
    finally:
        await producer.stop()


async def fetch_all(app: CRMEventsApp, tp: TopicPartition, count: int) -> list[bytes]:
    consumer = app.consumer
    thread = consumer._thread

    async def assign() -> None:
        thread._consumer.assign([tp])

    await thread.call_thread(assign)
    values: list[bytes] = []
    while len(values) < count:
        records = await asyncio.wait_for(consumer._getmany({tp}, timeout=1.0), 10.0)
        values += [record.value for record in records.get(tp, [])]
    return values


async def test_the_consumer_fetches_on_the_apps_loop_and_its_stop_leaves_other_tasks(broker_url):
    bootstrap = broker_url.removeprefix("kafka://")
    topic = f"loop-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic], 1)
    await produce(bootstrap, topic, 5)
    app = consumer_app(broker_url, on_app_loop=True)
    thread = app.consumer._thread
    threads_before = set(threading.enumerate())
    bystander = asyncio.ensure_future(asyncio.sleep(60))  # e.g. an agent still finishing

    await thread.start()
    try:
        assert set(threading.enumerate()) == threads_before  # no thread of its own
        assert thread.thread_loop is asyncio.get_running_loop()
        values = await fetch_all(app, TopicPartition(topic, 0), 5)
    finally:
        await asyncio.wait_for(thread.stop(), 30)

    assert values == [f"record-{n}".encode() for n in range(5)]
    assert not bystander.cancelled()
    bystander.cancel()


async def test_the_ceiling_baseline_keeps_fausts_consumer_thread(broker_url):
    bootstrap = broker_url.removeprefix("kafka://")
    topic = f"loop-{uuid.uuid4().hex[:8]}"
    await create_topics(bootstrap, [topic], 1)
    await produce(bootstrap, topic, 3)
    app = consumer_app(broker_url, on_app_loop=False)
    thread = app.consumer._thread
    threads_before = set(threading.enumerate())

    await thread.start()
    try:
        assert len(set(threading.enumerate()) - threads_before) == 1
        assert thread.thread_loop is not asyncio.get_running_loop()
        values = await fetch_all(app, TopicPartition(topic, 0), 3)
    finally:
        await asyncio.wait_for(thread.stop(), 30)

    assert values == [f"record-{n}".encode() for n in range(3)]
