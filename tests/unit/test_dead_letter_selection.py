"""Choosing dead letters to list or replay: by stage or by id (the two add up), only those not
replayed yet, the oldest N; what a replay skips and why; and telling a replayable letter from a
record that is not one."""

from __future__ import annotations

from datetime import UTC, datetime

from app.dead_letter_replay import ParkedLetter, _decode, plan_replay, select


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


def test_by_stage_by_id_and_both_together_as_a_union():
    assert ids(select(LETTERS, stages={"crm"})) == ["0:1", "1:0"]
    assert ids(select(LETTERS, ids={"2:5", "0:0"})) == ["0:0", "2:5"]
    assert ids(select(LETTERS, stages={"crm"}, ids={"1:0", "2:5"})) == ["0:1", "1:0", "2:5"]


def test_pending_only_leaves_out_replayed_letters():
    assert ids(select(LETTERS, stages={"crm"}, pending_only=True)) == ["1:0"]


def test_limit_keeps_the_oldest_in_the_order_they_failed():
    assert ids(select(LETTERS, limit=2)) == ["0:0", "0:1"]
    assert ids(select(LETTERS, pending_only=True, limit=2)) == ["0:0", "1:0"]


def test_a_replay_sends_the_oldest_pending_and_names_those_replayed_before():
    stray = ParkedLetter("crm.dead-letter", 3, 0, {"stage": "crm",
                                                   "failed_at": "2026-11-25T10:00:00"})
    asked = select([*LETTERS, stray], stages={"crm"}, ids={"0:0"})

    to_send, report = plan_replay(asked, limit=1)

    assert ids(to_send) == ["0:0"]  # neither the one replayed before nor the stray count
    assert ids(report.already_replayed) == ["0:1"] and ids(report.not_replayable) == ["3:0"]
    assert report.skipped_by_id({"0:1", "3:0"}) == [
        "0:1 was replayed before 2026-01-01 00:00:00: not sent again",
        "3:0 has no inbound origin: it cannot be replayed"]
    assert report.skipped_by_id({"0:0"}) == []  # a stage's letters are only counted
    assert report.summary() == ("replayed 0 dead letters; skipped 1 replayed before and 1 "
                                "without an inbound origin")


def test_the_json_of_a_letter_says_when_it_was_replayed():
    assert LETTERS[0].to_json()["replayed_at"] is None
    assert LETTERS[2].to_json()["replayed_at"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert LETTERS[2].to_json()["id"] == "0:1" and LETTERS[2].to_json()["stage"] == "crm"


def test_a_record_that_is_not_a_dead_letter_is_shown_but_never_replayed():
    stray = ParkedLetter("crm.dead-letter", 0, 9, _decode(b"\xffnot json"))
    assert stray.stage == "?" and not stray.replayable
    assert LETTERS[0].replayable
    assert "parked" in LETTERS[0].summary() and "replayed 2026-01-01" in LETTERS[2].summary()
