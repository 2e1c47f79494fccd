"""The service's producer sends a batch's records for one partition (a projection batch's
changelog writes, a command batch's domain events) as one Kafka batch, not one per 16 KB
(aiokafka's default): a producer has one request in flight per broker, so every extra batch of
a partition waited for a round trip of its own (see the README's performance section)."""

from __future__ import annotations

import asyncio
import uuid

from infrastructure import create_topics

from app.batch_send import send_batches, started_producer
from app.faust_app import create_app
from app.settings import Settings


def test_a_partitions_records_go_in_one_batch(broker_url, tmp_path):
    bootstrap = broker_url.removeprefix("kafka://")
    topic = f"batches-{uuid.uuid4().hex[:8]}"
    records = [(0, f"client-{n}".encode(), b"x" * 400) for n in range(1_000)]  # ~420 KB
    batches_sent = []

    async def scenario() -> dict[int, int]:
        await create_topics(bootstrap, [topic], 1)
        app = create_app(Settings(kafka_broker_url=broker_url, data_dir=tmp_path))
        producer = await started_producer(app)
        send_batch = producer.send_batch

        async def counted(batch, *args, **kwargs):
            batches_sent.append(batch.record_count())
            return await send_batch(batch, *args, **kwargs)

        producer.send_batch = counted
        try:
            return await send_batches(producer, topic, records)
        finally:
            await app.producer.stop()

    assert asyncio.run(scenario()) == {0: len(records) - 1}
    assert batches_sent == [len(records)]
