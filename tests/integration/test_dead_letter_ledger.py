"""The replay ledger in PostgreSQL: a letter is sent back once, with its original key, bytes and
headers; a letter at the same place on a recreated topic is a new letter."""

from __future__ import annotations

import base64

import pytest

from app.dead_letter_replay import REPLAY_HEADER, ParkedLetter, replay_letter


class RecordingProducer:
    def __init__(self):
        self.sent: list[tuple] = []

    async def send_and_wait(self, topic, *, value, key, headers):
        self.sent.append((topic, value, key, headers))


def letter(failed_at: str) -> ParkedLetter:
    record = {"stage": "crm", "failed_at": failed_at, "source_event_id": "salesforce:e1:001",
              "origin": {"topic": "crm.inbound.salesforce", "key": "001"},
              "headers": {"correlation-id": "c-1", "provider": "salesforce"},
              "original_b64": base64.b64encode(b'{"id": "e1"}').decode()}
    return ParkedLetter("crm.dead-letter", 2, 7, record)


async def test_a_letter_is_replayed_once_as_it_was_received(pool):
    producer = RecordingProducer()
    assert await replay_letter(letter("2026-11-25T10:00:00+00:00"), producer, pool)
    assert not await replay_letter(letter("2026-11-25T10:00:00+00:00"), producer, pool)

    assert producer.sent == [("crm.inbound.salesforce", b'{"id": "e1"}', b"001", [
        ("correlation-id", b"c-1"), ("provider", b"salesforce"),
        (REPLAY_HEADER, b"crm.dead-letter/2:7")])]
    row = await pool.fetchrow("SELECT stage, source_event_id, replayed_to "
                              "FROM dead_letter_replays")
    assert dict(row) == {"stage": "crm", "source_event_id": "salesforce:e1:001",
                         "replayed_to": "crm.inbound.salesforce"}


async def test_the_same_place_on_a_recreated_topic_is_a_new_letter(pool):
    producer = RecordingProducer()
    assert await replay_letter(letter("2026-11-25T10:00:00+00:00"), producer, pool)
    assert await replay_letter(letter("2026-11-26T09:00:00+00:00"), producer, pool)
    assert len(producer.sent) == 2


async def test_nothing_is_recorded_when_the_broker_refuses(pool):
    class Refusing:
        async def send_and_wait(self, *args, **kwargs):
            raise ConnectionError("broker down")

    with pytest.raises(ConnectionError):
        await replay_letter(letter("2026-11-25T10:00:00+00:00"), Refusing(), pool)
    assert await pool.fetchval("SELECT count(*) FROM dead_letter_replays") == 0
    assert await replay_letter(letter("2026-11-25T10:00:00+00:00"), RecordingProducer(), pool)
