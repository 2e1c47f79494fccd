"""The projection agent's table writes on a real broker: each table's writes reach its own
changelog, in the order written, its last record in a batch of its own (so the embedded broker
reports the true end), and the persisted offset names that last record; a send that fails is
counted and retried until the writes are in the changelog."""

from __future__ import annotations

import asyncio
import uuid

import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from infrastructure import create_topics
from prometheus_client import REGISTRY
from table_fakes import Table

from app.embedded import free_port
from projections.table_writes import ChangelogWrites

PARTITIONS = 2


class Store(dict):
    """A table's local store, recording the persisted offsets it is given."""

    def __init__(self) -> None:
        super().__init__()
        self.persisted: dict[TopicPartition, int] = {}

    def set_persisted_offset(self, tp, offset: int) -> None:
        self.persisted[TopicPartition(tp.topic, tp.partition)] = offset


async def changelog(bootstrap: str, topic: str) -> tuple[dict[int, list], dict[int, int]]:
    """Every record of `topic` per partition as (offset, key, value), and the end offsets the
    broker reports."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in range(PARTITIONS)]
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = {tp.partition: end for tp, end in (await consumer.end_offsets(tps)).items()}
        records: dict[int, list] = {p: [] for p in range(PARTITIONS)}
        while sum(map(len, records.values())) < sum(ends.values()):
            for tp, messages in (await consumer.getmany(timeout_ms=1000)).items():
                records[tp.partition] += [(m.offset, m.key.decode(), orjson.loads(m.value))
                                          for m in messages]
        return records, ends
    finally:
        await consumer.stop()


def test_each_tables_writes_reach_its_own_changelog_in_order(broker_url):
    bootstrap = broker_url.removeprefix("kafka://")
    names = [f"writes-{uuid.uuid4().hex[:8]}-{n}-changelog" for n in ("a", "b")]

    async def scenario():
        await create_topics(bootstrap, names, PARTITIONS)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()

        async def started() -> AIOKafkaProducer:
            return producer

        try:
            tables = [Table(name, Store()) for name in names]
            writes = ChangelogWrites(started)
            for round_ in range(2):  # two batches: offsets carry on from the first
                for n, table in enumerate(tables):
                    for partition in range(PARTITIONS):
                        value = {"table": n, "partition": partition, "round": round_}
                        writes.write(table, partition, [("k1", value), ("k2", value)])
                        writes.write(table, partition, [("k1", value), ("k3", value)])
                await writes.flush()
            return tables, [await changelog(bootstrap, name) for name in names]
        finally:
            await producer.stop()

    tables, changelogs = asyncio.run(scenario())

    for n, (table, (records, ends)) in enumerate(zip(tables, changelogs, strict=True)):
        assert table.data == {"k1": {"table": n, "partition": 1, "round": 1},
                              "k2": {"table": n, "partition": 1, "round": 1},
                              "k3": {"table": n, "partition": 1, "round": 1}}
        for partition in range(PARTITIONS):
            written = [(key, value["round"]) for _, key, value in records[partition]]
            assert written == [(k, r) for r in (0, 1) for k in ("k1", "k2", "k1", "k3")]
            assert {value["table"] for _, _, value in records[partition]} == {n}
            assert {value["partition"] for _, _, value in records[partition]} == {partition}
            assert ends[partition] == 8  # the true end, though the records went in batches
            tp = TopicPartition(names[n], partition)
            assert table.data.persisted[tp] == records[partition][-1][0] == 7


def test_a_failed_changelog_send_is_counted_and_retried_until_sent(broker_url):
    bootstrap = broker_url.removeprefix("kafka://")
    name = f"writes-{uuid.uuid4().hex[:8]}-retried-changelog"
    failures = "crm_projection_changelog_failures_total"

    async def scenario():
        await create_topics(bootstrap, [name], PARTITIONS)
        producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
        await producer.start()
        attempts = 0

        async def first_a_broker_that_is_not_there() -> AIOKafkaProducer:
            nonlocal attempts
            attempts += 1
            if attempts == 1:  # nothing listens on that port: the connection is refused
                await AIOKafkaProducer(bootstrap_servers=f"127.0.0.1:{free_port()}").start()
            return producer

        try:
            table = Table(name, Store())
            writes = ChangelogWrites(first_a_broker_that_is_not_there)
            writes.write(table, 0, [("k1", {"n": 1})])
            before = REGISTRY.get_sample_value(failures) or 0
            await writes.flush()
            return attempts, REGISTRY.get_sample_value(failures) - before, await changelog(
                bootstrap, name)
        finally:
            await producer.stop()

    attempts, counted, (records, ends) = asyncio.run(scenario())

    assert attempts == 2 and counted == 1
    assert [(key, value) for _, key, value in records[0]] == [("k1", {"n": 1})]
    assert ends == {0: 1, 1: 0}
