"""Operating the dead-letter topic: list what was parked, and replay it once its cause is fixed.

A replay re-submits a parked message to the inbound topic it came from, with its original key
(so it joins its record's partition and order), bytes and headers, plus a `replay-of` header
naming the letter. Each replayed letter is recorded in PostgreSQL (`dead_letter_replays`), in
the transaction that waits for the broker's ack, so a second replay skips it. A letter is its
place on the topic plus the time it failed: a topic recreated on the embedded broker numbers its
offsets from 0 again. Should the process die between the ack and the commit, the letter is sent
again on the next replay; that is harmless, as the command side records each source event once.
"""

from __future__ import annotations

import asyncio
import base64
import dataclasses
from collections.abc import Collection, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import asyncpg
import orjson
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from pydantic import BaseModel, ValidationError, field_validator

from app.envelopes import error_list

REPLAY_HEADER = "replay-of"
# The embedded broker reports a partition's end as its last batch's base offset + 1, so reading
# stops only once the reported ends are reached and the broker has gone quiet for this long.
QUIET_S = 1.0


class LetterOrigin(BaseModel):
    topic: str = ""
    key: str | None = None


class LetterFields(BaseModel):
    """What `list` and `replay` read of a letter, with the types they need. A record on the
    topic without them (another producer's, another version's, written by hand) is shown and
    never replayed, rather than ending the command with a traceback for every letter."""

    stage: str = ""
    failed_at: str = ""
    origin: LetterOrigin | None = None
    headers: dict[str, str] | None = None
    original_b64: str | None = None

    @field_validator("original_b64")
    @classmethod
    def base64_text(cls, value: str | None) -> str | None:
        if value is not None:
            base64.b64decode(value, validate=True)  # binascii.Error: a ValueError
        return value


@dataclass(frozen=True)
class ParkedLetter:
    """One record of the dead-letter topic, and where it sits there."""

    topic: str
    partition: int
    offset: int
    record: dict[str, Any]
    replayed_at: datetime | None = None

    @property
    def id(self) -> str:
        return f"{self.partition}:{self.offset}"

    @property
    def failed_at(self) -> str:
        return self.record.get("failed_at", "")

    @property
    def stage(self) -> str:
        return self.record.get("stage", "")

    @property
    def origin_topic(self) -> str:
        return (self.record.get("origin") or {}).get("topic") or ""

    @property
    def replayable(self) -> bool:
        return bool(self.origin_topic and self.record.get("original_b64") is not None)

    def to_json(self) -> dict[str, Any]:
        """What `list --json` prints: the id, when it was replayed (None while parked), the
        record."""
        return {"id": self.id, "replayed_at": self.replayed_at, **self.record}

    def summary(self) -> str:
        record = self.record
        state = f"replayed{_at(self.replayed_at)}" if self.replayed_at else "parked"
        return (f"{self.id:>10}  {self.stage:<10} {self.failed_at[:19]:19}  "
                f"{state:<28} {record.get('source_event_id') or '-'}\n"
                f"{'':>12}{record.get('reason', '')}")


@dataclass
class ReplayReport:
    replayed: list[ParkedLetter] = field(default_factory=list)
    already_replayed: list[ParkedLetter] = field(default_factory=list)
    not_replayable: list[ParkedLetter] = field(default_factory=list)

    def skipped_by_id(self, ids: Collection[str]) -> list[str]:
        """Why each letter asked for by id is not sent (a stage's are only counted)."""
        return [*(f"{x.id} was replayed before{_at(x.replayed_at)}: not sent again"
                  for x in self.already_replayed if x.id in ids),
                *(f"{x.id} has no inbound origin: it cannot be replayed"
                  for x in self.not_replayable if x.id in ids)]

    def skipped(self) -> str:
        return (f"{len(self.already_replayed)} replayed before and "
                f"{len(self.not_replayable)} without an inbound origin")

    def summary(self) -> str:
        return f"replayed {len(self.replayed)} dead letters; skipped {self.skipped()}"


def select(letters: Iterable[ParkedLetter], *, stages: Collection[str] = (),
           ids: Collection[str] = (), pending_only: bool = False,
           limit: int | None = None) -> list[ParkedLetter]:
    """Letters of any of `stages` or `ids` (both empty: all), oldest first: the order they
    failed in; with `limit`, the oldest `limit` of them."""
    chosen = [letter for letter in letters
              if ((not stages and not ids) or letter.stage in stages or letter.id in ids)
              and not (pending_only and letter.replayed_at)]
    chosen.sort(key=lambda letter: (letter.failed_at, letter.partition, letter.offset))
    return chosen[:limit]


def plan_replay(asked: Sequence[ParkedLetter],
                limit: int | None = None) -> tuple[list[ParkedLetter], ReplayReport]:
    """What a replay of `asked` (oldest first) sends: the oldest `limit` (default all) of those
    not replayed before, so that a partial replay re-submits a record's changes in the order
    they failed in; and a report already naming the letters it skips."""
    report = ReplayReport(already_replayed=[x for x in asked if x.replayed_at],
                          not_replayable=[x for x in asked
                                          if not x.replayed_at and not x.replayable])
    return [x for x in asked if not x.replayed_at and x.replayable][:limit], report


async def read_letters(bootstrap: str, topic: str, pool: asyncpg.Pool) -> list[ParkedLetter]:
    """Every letter on the topic, each with the time it was replayed, if it was."""
    replayed = {(row["partition"], row["offset"], row["failed_at"]): row["replayed_at"]
                for row in await pool.fetch(
                    'SELECT partition, "offset", failed_at, replayed_at FROM dead_letter_replays'
                    " WHERE topic = $1", topic)}
    letters = [ParkedLetter(topic, message.partition, message.offset, _decode(message.value))
               for message in await _read_topic(bootstrap, topic)]
    return [dataclasses.replace(letter, replayed_at=replayed.get(
                (letter.partition, letter.offset, letter.failed_at))) for letter in letters]


async def replay(asked: Sequence[ParkedLetter], bootstrap: str, pool: asyncpg.Pool, *,
                 limit: int | None = None) -> ReplayReport:
    """Re-submit the letters `plan_replay` picks from `asked`, in that order."""
    to_send, report = plan_replay(asked, limit)
    if not to_send:
        return report
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all",
                                enable_idempotence=False)
    try:
        await producer.start()
        for letter in to_send:
            if await replay_letter(letter, producer, pool):
                report.replayed.append(letter)
            else:  # by another replay since the letters were read
                report.already_replayed.append(letter)
    finally:
        await producer.stop()
    return report


async def replay_letter(letter: ParkedLetter, producer: AIOKafkaProducer,
                       pool: asyncpg.Pool) -> bool:
    """Send the letter's original message back, unless it was replayed before; True if sent."""
    async with pool.acquire() as connection, connection.transaction():
        claimed = await connection.fetchval(
            'INSERT INTO dead_letter_replays (topic, partition, "offset", failed_at, stage,'
            " source_event_id, replayed_to) VALUES ($1, $2, $3, $4, $5, $6, $7)"
            " ON CONFLICT DO NOTHING RETURNING 1",
            letter.topic, letter.partition, letter.offset, letter.failed_at, letter.stage,
            letter.record.get("source_event_id") or "", letter.origin_topic)
        if not claimed:
            return False
        record = letter.record
        key = record["origin"].get("key")
        headers = [(name, str(value).encode()) for name, value in
                   (record.get("headers") or {}).items() if name != REPLAY_HEADER]
        headers.append((REPLAY_HEADER, f"{letter.topic}/{letter.id}".encode()))
        # awaiting the ack inside the transaction: no ack, no record of a replay
        await producer.send_and_wait(letter.origin_topic,
                                     value=base64.b64decode(record["original_b64"]),
                                     key=key.encode() if key is not None else None,
                                     headers=headers)
        return True


async def _read_topic(bootstrap: str, topic: str) -> list[Any]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, enable_auto_commit=False,
                                group_id=None, auto_offset_reset="earliest",
                                fetch_max_wait_ms=100)
    try:
        await consumer.start()  # in the try: a consumer that failed to start is closed too
        partitions = await _partitions(consumer, topic)
        if not partitions:
            return []
        consumer.assign(partitions)
        await consumer.seek_to_beginning(*partitions)
        ends = await consumer.end_offsets(partitions)
        messages: list[Any] = []
        quiet_since = asyncio.get_running_loop().time()
        while True:
            batches = await consumer.getmany(timeout_ms=200)
            now = asyncio.get_running_loop().time()
            if any(batches.values()):
                messages += [message for batch in batches.values() for message in batch]
                quiet_since = now
            reached = all([await consumer.position(tp) >= end for tp, end in ends.items()])
            if reached and now - quiet_since >= QUIET_S:
                return messages
    finally:
        await consumer.stop()


async def _partitions(consumer: AIOKafkaConsumer, topic: str) -> list[TopicPartition]:
    # From one metadata fetch: `consumer.topics()` fetches it but `partitions_for_topic` reads
    # the client's cached copy, which once lacked a topic the fetch had listed (a TypeError).
    cluster = await consumer._client.fetch_all_metadata()
    return [TopicPartition(topic, p) for p in sorted(cluster.partitions_for_topic(topic) or ())]


def _at(moment: datetime | None) -> str:
    return f" {moment:%Y-%m-%d %H:%M:%S}" if moment else ""


def _decode(value: bytes) -> dict[str, Any]:
    """A letter as written by `DeadLetter.to_record`; anything else is shown, never replayed."""
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError:
        record = None
    if not isinstance(record, dict):
        return {"stage": "?", "reason": "not a dead-letter record"}
    try:
        LetterFields.model_validate(record)
    except ValidationError as error:
        problems = "; ".join(f"{problem['field']}: {problem['message']}"
                             for problem in error_list(error.errors()))
        return {"stage": "?", "reason": f"not a dead-letter record ({problems})",
                "record": record}
    return record
