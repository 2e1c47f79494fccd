"""Choosing dead letters to list or replay: by stage, by id, only those not replayed yet, the
newest N; and telling a replayable letter from a record that is not one."""

from __future__ import annotations

from datetime import UTC, datetime

from app.dead_letter_replay import ParkedLetter, _decode, select


def letter(partition: int, offset: int, stage: str, failed_at: str,
           replayed: bool = False) -> ParkedLetter:
    record = {"stage": stage, "failed_at": failed_at, "reason": "r", "original_b64": "",
              "origin": {"topic": "crm.inbound.salesforce", "key": "001"}}
    return ParkedLetter("crm.dead-letter", partition, offset, record,
                        datetime(2026, 1, 1, tzinfo=UTC) if replayed else None)


LETTERS = [
    letter(1, 0, "crm", "2026-11-25T10:00:03"),
    letter(0, 0, "validation", "2026-11-25T10:00:01"),
    letter(0, 1, "crm", "2026-11-25T10:00:02", replayed=True),
    letter(2, 5, "decode", "2026-11-25T10:00:04"),
]


def ids(letters: list[ParkedLetter]) -> list[str]:
    return [x.id for x in letters]


def test_all_letters_oldest_first():
    assert ids(select(LETTERS)) == ["0:0", "0:1", "1:0", "2:5"]


def test_by_stage_by_id_and_both():
    assert ids(select(LETTERS, stages={"crm"})) == ["0:1", "1:0"]
    assert ids(select(LETTERS, ids={"2:5", "0:0"})) == ["0:0", "2:5"]
    assert ids(select(LETTERS, stages={"crm"}, ids={"1:0", "2:5"})) == ["1:0"]


def test_pending_only_leaves_out_replayed_letters():
    assert ids(select(LETTERS, stages={"crm"}, pending_only=True)) == ["1:0"]


def test_limit_keeps_the_newest():
    assert ids(select(LETTERS, limit=2)) == ["1:0", "2:5"]


def test_a_record_that_is_not_a_dead_letter_is_shown_but_never_replayed():
    stray = ParkedLetter("crm.dead-letter", 0, 9, _decode(b"\xffnot json"))
    assert stray.stage == "?" and not stray.replayable
    assert LETTERS[0].replayable
    assert "parked" in LETTERS[0].summary() and "replayed 2026-01-01" in LETTERS[2].summary()
