"""The bridge's producer lingers (fewer, larger batches) but sends a partition's batch as soon as
it holds BRIDGE_BATCH_RECORDS records (`app.counted_linger`), on the real broker."""

from __future__ import annotations

import asyncio
import uuid

from infrastructure import create_topics

from app.batch_send import started_producer
from app.faust_app import create_app
from app.settings import Settings

LINGER_S = 60.0  # far longer than the test: whatever is sent went before its linger ended


def test_a_batch_goes_once_it_holds_enough_records_and_not_before(broker_url, tmp_path):
    topic = f"counted-{uuid.uuid4().hex[:8]}"

    async def scenario() -> None:
        await create_topics(broker_url.removeprefix("kafka://"), [topic], 1)
        app = create_app(Settings(kafka_broker_url=broker_url, data_dir=tmp_path))
        app.conf.producer_linger = LINGER_S
        app.producer_batch_records = 4
        producer = await started_producer(app)
        try:
            acks = [await producer.send(topic, b"k", f"{n}".encode(), partition=0)
                    for n in range(3)]
            await asyncio.sleep(1.0)
            assert not any(ack.done() for ack in acks), "three records went before the linger"

            acks.append(await producer.send(topic, b"k", b"3", partition=0))
            sent = await asyncio.wait_for(asyncio.gather(*acks), timeout=10)
            assert [record.offset for record in sent] == [0, 1, 2, 3]

            next_batch = [await producer.send(topic, b"k", b"4", partition=0)]
            await asyncio.sleep(1.0)
            assert not next_batch[0].done(), "the next batch lingers again"
            next_batch += [await producer.send(topic, b"k", f"{n}".encode(), partition=0)
                           for n in range(5, 8)]
            sent = await asyncio.wait_for(asyncio.gather(*next_batch), timeout=10)
            assert [record.offset for record in sent] == [4, 5, 6, 7]
        finally:
            await app.producer.stop()

    asyncio.run(scenario())
