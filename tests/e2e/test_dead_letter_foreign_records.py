"""`crm-events dead-letter` when the topic holds records the service did not write as letters
(another producer's, another version's, written by hand): each is listed as not a dead letter,
with what is wrong, and never replayed; the real letters around it are listed and replayed as
usual. One such record ended both commands with a traceback, for every letter."""

from __future__ import annotations

import os
import subprocess
import sys

import orjson
import pytest
from infrastructure import preload_topic, unique_name

from app.dead_letters import DeadLetter, InboundMessage
from projections.rebuild import bootstrap_servers

pytestmark = pytest.mark.e2e

FOREIGN = [  # at offsets 1-6, each with the field the commands could not read
    ({"stage": "crm", "origin": "crm.inbound.salesforce", "original_b64": "e30="}, "origin"),
    ({"stage": "crm", "failed_at": 1764064800000, "original_b64": "e30=",
      "origin": {"topic": "crm.inbound.salesforce"}}, "failed_at"),
    ({"stage": "crm", "failed_at": "2026-11-25T10:00:00+00:00", "original_b64": "!not base64",
      "origin": {"topic": "crm.inbound.salesforce", "key": 7}}, "original_b64"),
    ({"stage": ["crm"], "reason": None}, "stage"),
    ({"stage": "crm", "headers": ["correlation-id"]}, "headers"),
    ([1, 2], ""),
]


def crm_events(env: dict[str, str], *args: str) -> str:
    done = subprocess.run([sys.executable, "-m", "app", "dead-letter", *args], env=env,
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0 and done.stderr == "", done.stdout + done.stderr
    return done.stdout


@pytest.fixture
async def mixed_topic(broker_url, fresh_database) -> tuple[dict[str, str], str]:
    """A real crm letter at offset 0, then the foreign records."""
    topic, inbound = unique_name("dead"), unique_name("inbound")
    message = InboundMessage("salesforce", b'{"change": 1}', key="001MIXED", topic=inbound,
                             partition=0, offset=0)
    letter = DeadLetter("crm", "CRM unavailable", message, failed_at="2026-11-25T09:00:00+00:00")
    await preload_topic(bootstrap_servers(broker_url), topic, 1, [
        (b"001MIXED", orjson.dumps(letter.to_record())),
        *((None, orjson.dumps(record)) for record, _ in FOREIGN)])
    env = {**os.environ, "KAFKA_BROKER_URL": broker_url, "DATABASE_URL": fresh_database,
           "DEAD_LETTER_TOPIC": topic}
    return env, inbound


async def test_foreign_records_are_listed_as_such_and_never_replayed(mixed_topic):
    env, inbound = mixed_topic

    listed = {letter["id"]: letter
              for line in crm_events(env, "list", "--json").splitlines()
              for letter in [orjson.loads(line)]}
    replay = crm_events(env, "replay", "--stage", "crm", *(
        argument for offset in range(1, len(FOREIGN) + 1) for argument in ("--id", f"0:{offset}")))

    assert listed["0:0"]["stage"] == "crm"
    for offset, (_, field) in enumerate(FOREIGN, start=1):
        foreign = listed[f"0:{offset}"]
        assert foreign["stage"] == "?" and foreign["reason"].startswith("not a dead-letter record")
        assert field in foreign["reason"]
        assert f"0:{offset} has no inbound origin: it cannot be replayed" in replay
    assert f"replayed 0:0 (crm) to {inbound}" in replay
    assert f"replayed 1 dead letters; skipped 0 replayed before and {len(FOREIGN)}" in replay
    assert "7 dead letters" in crm_events(env, "list")
