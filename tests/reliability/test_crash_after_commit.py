"""A worker killed (SIGKILL) after its events are committed and before they are published: once
restarted, every committed event reaches the domain-events topic, in per-aggregate order."""

from __future__ import annotations

import asyncio
import copy
import signal
import time

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer
from service_process import ServiceProcess, load_sample
from stream_fixtures import bootstrap_of, produce

RECORDS = ("001CRASH0000000001", "001CRASH0000000002")


def account_change(kind: str, record_id: str, n: int) -> dict:
    envelope = copy.deepcopy(load_sample("account_create" if kind == "create"
                                         else "account_update"))
    envelope["id"] = f"crash-{record_id}-{n}"
    header = envelope["detail"]["payload"]["ChangeEventHeader"]
    header.update(recordIds=[record_id], commitTimestamp=1_763_700_000_000 + n)
    return envelope


async def test_events_committed_before_a_crash_are_published_after_restart(
        broker_url, fresh_database):
    service = ServiceProcess(broker_url, fresh_database, FAILPOINT="crash_after_commit")
    try:
        await asyncio.to_thread(service.start)
        # straight onto the inbound topic, as the bridge would: posted one by one, the worker
        # could commit (and die) between two posts, and the next post would find it gone
        await produce(bootstrap_of(broker_url), service.topics["inbound"], [
            (RECORDS[0], orjson.dumps(account_change("create", RECORDS[0], 1))),
            (RECORDS[0], orjson.dumps(account_change("update", RECORDS[0], 2))),
            (RECORDS[1], orjson.dumps(account_change("create", RECORDS[1], 3)))])

        returncode = await asyncio.to_thread(service.process.wait, 30)
        assert returncode == -signal.SIGKILL, service.log()[-3000:]
        committed = await stored_events(fresh_database)
        assert committed and await outbox_size(fresh_database) == len(committed)
        assert await published(broker_url, service.topics["domain_events"], wait_s=1) == []

        await asyncio.to_thread(service.restart, FAILPOINT=None)
        await post(service, [account_change("update", RECORDS[1], 4)])

        stored = await wait_for_stored(fresh_database, count=4)
        messages = await published(broker_url, service.topics["domain_events"],
                                   until_ids={event_id for event_id, _, _ in stored})
    finally:
        await asyncio.to_thread(service.stop)

    assert {m["event_id"] for m in messages} == {event_id for event_id, _, _ in stored}
    for aggregate_id in {aggregate for _, aggregate, _ in stored}:
        first_seen = list(dict.fromkeys(
            m["version"] for m in messages if m["aggregate_id"] == aggregate_id))
        assert first_seen == sorted(first_seen), f"{aggregate_id} published out of order"
    assert await outbox_size(fresh_database) == 0


async def post(service: ServiceProcess, envelopes: list[dict]) -> None:
    def send() -> None:
        with service.client() as http:
            for envelope in envelopes:
                assert http.post("/events/salesforce/", json=envelope).status_code == 202

    await asyncio.to_thread(send)


async def stored_events(dsn: str) -> list[tuple[str, str, int]]:
    connection = await asyncpg.connect(dsn)
    try:
        rows = await connection.fetch(
            "SELECT event_id::text, aggregate_id::text, version FROM events ORDER BY position")
    finally:
        await connection.close()
    return [tuple(row) for row in rows]


async def outbox_size(dsn: str) -> int:
    connection = await asyncpg.connect(dsn)
    try:
        return await connection.fetchval("SELECT count(*) FROM outbox")
    finally:
        await connection.close()


async def wait_for_stored(dsn: str, count: int, timeout: float = 30) -> list:
    deadline = time.monotonic() + timeout
    while len(stored := await stored_events(dsn)) < count:
        assert time.monotonic() < deadline, f"only {len(stored)} of {count} events stored"
        await asyncio.sleep(0.2)
    return stored


async def published(broker_url: str, topic: str, *, until_ids: set[str] | None = None,
                    wait_s: float = 30) -> list[dict]:
    """Everything on the topic: until every id in `until_ids` was seen, or for `wait_s`."""
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=broker_url.removeprefix("kafka://"),
                                auto_offset_reset="earliest", enable_auto_commit=False,
                                fetch_max_wait_ms=50)
    await consumer.start()
    messages: list[dict] = []
    try:
        deadline = time.monotonic() + wait_s
        while time.monotonic() < deadline:
            batches = await consumer.getmany(timeout_ms=200)
            messages += [orjson.loads(record.value) for records in batches.values()
                         for record in sorted(records, key=lambda r: r.offset)]
            if until_ids is not None and until_ids <= {m["event_id"] for m in messages}:
                return messages
    finally:
        await consumer.stop()
    if until_ids is not None:
        missing = until_ids - {m["event_id"] for m in messages}
        raise AssertionError(f"{len(missing)} committed events never published: {missing}")
    return messages
