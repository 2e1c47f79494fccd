"""aiokafka's consumer runs on the app's event loop, not in a thread of Faust's (see
`ConsumerOnAppLoop` in app/kafka_transport.py): it fetches there, and stopping it leaves the
loop's other tasks alone (Faust's thread cancels every task left on its own loop when it ends)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from dataclasses import dataclass

from aiokafka import TopicPartition
from infrastructure import preload_topic

from app.kafka_transport import CRMEventsApp

MESSAGES = [(b"key", f"record-{n}".encode()) for n in range(5)]


def consumer_app(broker_url: str, on_app_loop: bool) -> CRMEventsApp:
    app = CRMEventsApp(f"loop-{uuid.uuid4().hex[:8]}", broker=broker_url, store="memory://",
                       web_enabled=False, autodiscover=False, key_serializer="raw",
                       value_serializer="raw", consumer_auto_offset_reset="earliest")
    app.consumer_on_app_loop = on_app_loop
    return app


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


@dataclass
class ConsumerRun:
    threads_before: set[threading.Thread]
    threads_while_consuming: set[threading.Thread]
    thread_loop: asyncio.AbstractEventLoop
    values: list[bytes]


async def consume_preloaded(broker_url: str, on_app_loop: bool) -> ConsumerRun:
    """Start the app's consumer, fetch MESSAGES from a topic of their own, stop it."""
    topic = f"loop-{uuid.uuid4().hex[:8]}"
    await preload_topic(broker_url.removeprefix("kafka://"), topic, 1, MESSAGES)
    app = consumer_app(broker_url, on_app_loop)
    thread = app.consumer._thread
    threads_before = set(threading.enumerate())
    await thread.start()
    try:
        threads_while_consuming = set(threading.enumerate())
        values = await fetch_all(app, TopicPartition(topic, 0), len(MESSAGES))
    finally:
        await asyncio.wait_for(thread.stop(), 30)
    return ConsumerRun(threads_before, threads_while_consuming, thread.thread_loop, values)


async def test_the_consumer_fetches_on_the_apps_loop_and_its_stop_leaves_other_tasks(broker_url):
    bystander = asyncio.ensure_future(asyncio.sleep(60))  # e.g. an agent still finishing

    run = await consume_preloaded(broker_url, on_app_loop=True)

    assert run.threads_while_consuming == run.threads_before  # no thread of its own
    assert run.thread_loop is asyncio.get_running_loop()
    assert run.values == [value for _, value in MESSAGES]
    assert not bystander.cancelled()
    bystander.cancel()


async def test_the_ceiling_baseline_keeps_fausts_consumer_thread(broker_url):
    run = await consume_preloaded(broker_url, on_app_loop=False)

    assert len(run.threads_while_consuming - run.threads_before) == 1
    assert run.thread_loop is not asyncio.get_running_loop()
    assert run.values == [value for _, value in MESSAGES]
