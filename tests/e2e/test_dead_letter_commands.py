"""`crm-events dead-letter` on a real broker and database, without a service: `replay --limit`
sends a record's oldest parked changes first, a letter asked for again is named as replayed
before, `--stage` and `--id` add up, `list --json` says what was replayed, and an id not on the
topic is an error. The commands print nothing on stderr when all goes well (no library INFO)."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from dataclasses import dataclass
from datetime import datetime

import orjson
import pytest
from aiokafka import AIOKafkaConsumer
from infrastructure import preload_topic, unique_name

from app.dead_letters import DeadLetter, InboundMessage
from projections.rebuild import bootstrap_servers


@dataclass
class ParkedTopic:
    env: dict[str, str]
    bootstrap: str
    inbound: str

    def crm_events(self, *args: str, exit_code: int = 0) -> str:
        done = subprocess.run([sys.executable, "-m", "app", "dead-letter", *args], env=self.env,
                              capture_output=True, text=True, timeout=120)
        assert done.returncode == exit_code, done.stdout + done.stderr
        if exit_code == 0:
            assert done.stderr == ""
        return done.stdout + done.stderr

    def listed(self, *filters: str) -> list[dict]:
        return [orjson.loads(line) for line in self.crm_events("list", "--json", *filters)
                .splitlines()]


def parked_change(stage: str, number: int, inbound: str) -> bytes:
    message = InboundMessage("salesforce", f'{{"change": {number}}}'.encode(), key="001PARKED",
                             headers={"correlation-id": f"c-{number}"}, topic=inbound,
                             partition=0, offset=number)
    return orjson.dumps(DeadLetter(stage, "CRM unavailable", message,
                                   failed_at=f"2026-11-25T10:00:0{number}+00:00").to_record())


@pytest.fixture
async def parked(broker_url, fresh_database) -> ParkedTopic:
    """One partition holding, at offsets 0-3: the record's changes 3, 2 and 1 (parked with stage
    crm, newest first on the topic) and a validation letter older than all of them."""
    topic, inbound = unique_name("dead"), unique_name("inbound")
    bootstrap = bootstrap_servers(broker_url)
    await preload_topic(bootstrap, topic, 1, [
        *((b"001PARKED", parked_change("crm", n, inbound)) for n in (3, 2, 1)),
        (b"001OTHER", parked_change("validation", 0, inbound))])
    env = {**os.environ, "KAFKA_BROKER_URL": broker_url, "DATABASE_URL": fresh_database,
           "DEAD_LETTER_TOPIC": topic}
    return ParkedTopic(env, bootstrap, inbound)


async def replayed_values(bootstrap: str, topic: str, count: int) -> list[bytes]:
    consumer = AIOKafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest",
                                enable_auto_commit=False, fetch_max_wait_ms=100)
    await consumer.start()
    try:
        values: list[bytes] = []
        async with asyncio.timeout(20):
            while len(values) < count:
                batches = await consumer.getmany(timeout_ms=200)
                values += [m.value for batch in batches.values() for m in batch]
        return values
    finally:
        await consumer.stop()


async def test_a_partial_replay_sends_a_records_oldest_changes_first(parked):
    first = parked.crm_events("replay", "--stage", "crm", "--limit", "1")
    second = parked.crm_events("replay", "--stage", "crm", "--limit", "1")

    assert f"replayed 0:2 (crm) to {parked.inbound}" in first  # change 1
    assert f"replayed 0:1 (crm) to {parked.inbound}" in second  # change 2
    assert "replayed 1 dead letters; skipped 1 replayed before" in second
    assert await replayed_values(parked.bootstrap, parked.inbound, 2) == [
        b'{"change": 1}', b'{"change": 2}']


async def test_a_letter_asked_for_again_is_named_as_replayed_before(parked):
    parked.crm_events("replay", "--id", "0:2")

    again = parked.crm_events("replay", "--id", "0:2")
    dry_run = parked.crm_events("replay", "--id", "0:2", "--id", "0:0", "--dry-run")

    assert again.splitlines()[0].startswith("0:2 was replayed before 20")
    assert again.splitlines()[0].endswith(": not sent again")
    assert "replayed 0 dead letters; skipped 1 replayed before" in again
    assert "would replay 1: 0:0; would skip 1 replayed before" in dry_run


async def test_the_json_listing_says_what_was_replayed(parked):
    parked.crm_events("replay", "--id", "0:2")

    replayed_at = {letter["id"]: letter["replayed_at"] for letter in parked.listed()}

    assert datetime.fromisoformat(replayed_at.pop("0:2")).tzinfo is not None
    assert replayed_at == {"0:0": None, "0:1": None, "0:3": None}


async def test_stage_and_id_add_up_oldest_first(parked):
    assert [x["id"] for x in parked.listed("--stage", "validation", "--id", "0:0")] == [
        "0:3", "0:0"]
    assert [x["id"] for x in parked.listed("--stage", "crm", "--limit", "2")] == ["0:2", "0:1"]


async def test_an_id_not_on_the_topic_is_named_and_fails_the_command(parked):
    output = parked.crm_events("replay", "--id", "0:2", "--id", "0:99", exit_code=1)

    assert "replayed 0:2 (crm)" in output
    assert f"no dead letter 0:99 on {parked.env['DEAD_LETTER_TOPIC']}" in output
