"""Helpers for fault tests: a stream of Salesforce changes produced straight onto the inbound
topic (as the bridge would), and readers of what the service stored and published."""

from __future__ import annotations

import asyncio
import copy
import json
import uuid
from datetime import UTC, datetime

import asyncpg
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from service_process import load_sample

BASE_COMMIT_MS = 1_763_633_730_000


def change_stream(records: int, updates_per_record: int) -> list[tuple[str, bytes]]:
    """(record id, envelope) for each record's CREATE then its UPDATEs, interleaved."""
    create, update = load_sample("account_create"), load_sample("account_update")
    stream = []
    for step in range(updates_per_record + 1):
        for record in range(records):
            record_id = f"001KILL{record:011d}"
            envelope = copy.deepcopy(create if step == 0 else update)
            envelope["id"] = str(uuid.uuid4())
            header = envelope["detail"]["payload"]["ChangeEventHeader"]
            header["recordIds"] = [record_id]
            header["commitTimestamp"] = BASE_COMMIT_MS + step * 1000
            header["transactionKey"] = f"tx-{record}-{step}"
            if step:
                envelope["detail"]["payload"]["NumberOfEmployees"] = step
            stream.append((record_id, json.dumps(envelope).encode()))
    return stream


async def produce(bootstrap: str, topic: str, stream: list[tuple[str, bytes]]) -> None:
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all", linger_ms=5)
    await producer.start()
    try:
        now = datetime.now(UTC).isoformat().encode()
        sends = [await producer.send(topic, value=value, key=key.encode(), headers=[
            ("correlation-id", str(uuid.uuid4()).encode()), ("received-at", now),
            ("provider", b"salesforce")]) for key, value in stream]
        await asyncio.gather(*sends)
    finally:
        await producer.stop()


async def published_events(bootstrap: str, topic: str) -> list[dict]:
    """Everything on the domain-events topic, read to its end."""
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, group_id=None)
    await consumer.start()
    try:
        await consumer.topics()  # fetches metadata for every topic
        partitions = [TopicPartition(topic, p) for p in consumer.partitions_for_topic(topic)]
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        events = []
        while any([await consumer.position(tp) < end for tp, end in ends.items()]):
            batches = await consumer.getmany(timeout_ms=1000)
            events += [json.loads(m.value) for records in batches.values() for m in records]
        return events
    finally:
        await consumer.stop()


async def stored_counts(dsn: str) -> tuple[int, int]:
    connection = await asyncpg.connect(dsn)
    try:
        return (await connection.fetchval("SELECT count(*) FROM events"),
                await connection.fetchval("SELECT count(*) FROM processed_source_events"))
    finally:
        await connection.close()


async def stored_events(dsn: str) -> list[asyncpg.Record]:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetch("SELECT event_id::text, aggregate_id::text, version, "
                                      "metadata->>'source_event_id' AS source FROM events")
    finally:
        await connection.close()


def bootstrap_of(broker_url: str) -> str:
    return broker_url.removeprefix("kafka://").replace(";", ",")
