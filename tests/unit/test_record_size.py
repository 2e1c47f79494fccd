"""The record-size check: every change is checked against a per-aggregate upper bound of the
record's fields, and the record is encoded only when the bound says it may be too large."""

from __future__ import annotations

import gc
import weakref

import orjson
import pytest
from domain_support import make_change

from app.record_size import ENVELOPE_BYTES, RecordSizeCheck, RecordTooLarge, fields_limit
from domain.aggregates import ClientAggregate
from domain.changes import ChangeKind
from domain.services import record_change

MAX_MESSAGE_BYTES = 400_000
LIMIT = fields_limit(MAX_MESSAGE_BYTES)  # 183,616
UNDER_64_KB = 40_000


def size_of(fields) -> int:
    return len(orjson.dumps(fields, default=str))


class Record:
    """An aggregate changed the way the command handler changes it: checked, then recorded."""

    def __init__(self, check: RecordSizeCheck, aggregate_id: str = "agg-1"):
        self.check, self.aggregate, self.at = check, ClientAggregate(aggregate_id), 1_000

    def create(self, **fields) -> None:
        self.change(ChangeKind.CREATE, {"name": "Acme", **fields})

    def update(self, **fields) -> None:
        self.change(ChangeKind.UPDATE, fields)

    def change(self, kind: ChangeKind, fields: dict, current: dict | None = None) -> None:
        self.at += 1
        change = make_change(kind, self.at, fields)
        self.check.check_fits(self.aggregate, change, current, MAX_MESSAGE_BYTES)
        record_change(self.aggregate, change, current)

    @property
    def bound(self) -> int | None:
        return self.check.bound(self.aggregate)


def test_the_fields_may_take_half_of_what_a_message_leaves_beside_its_envelope():
    assert fields_limit(1_000_000) == (1_000_000 - ENVELOPE_BYTES) // 2


def test_a_record_is_measured_exactly_on_its_first_change():
    record = Record(RecordSizeCheck())

    record.create(description="d" * 1_000)

    assert record.bound == size_of(record.aggregate.fields)


def test_each_later_change_grows_the_bound_by_its_fields_encoded_size():
    record = Record(RecordSizeCheck())
    record.create()
    before = record.bound

    record.update(industry="i" * 500)
    record.update(industry="j" * 700)  # overwrites: the record shrinks, the bound does not

    assert record.bound == before + size_of({"industry": "i" * 500}) + size_of(
        {"industry": "j" * 700})
    assert record.bound >= size_of(record.aggregate.fields)


def test_the_bound_is_never_below_the_record_whatever_its_changes_overwrite():
    record = Record(RecordSizeCheck())
    record.create()
    for n in range(200):
        record.update(**{["industry", "website", "phone"][n % 3]: "x" * (n * 37 % 5_000)})

        assert record.bound >= size_of(record.aggregate.fields)


def test_a_bound_over_the_limit_is_reset_to_the_exact_size_when_the_record_fits():
    record = Record(RecordSizeCheck())
    record.create()
    for _ in range(5):  # 5 x 40 KB counted, but each overwrites the last: the record stays small
        record.update(description="d" * UNDER_64_KB)

    assert record.bound == size_of(record.aggregate.fields) < LIMIT


def test_many_changes_under_64_kb_that_grow_a_record_past_the_limit_are_refused_at_the_crossing():
    record = Record(RecordSizeCheck())
    record.create()
    for name in ("description", "industry", "website", "type"):
        record.update(**{name: "x" * UNDER_64_KB})
    fields, bound = dict(record.aggregate.fields), record.bound

    with pytest.raises(RecordTooLarge, match="the record with this change takes"):
        record.update(phone="p" * UNDER_64_KB)

    assert record.aggregate.fields == fields  # nothing recorded
    assert record.bound == bound  # a refused change does not grow the bound


def test_a_change_that_fits_after_a_refused_one_is_recorded():
    record = Record(RecordSizeCheck())
    record.create()
    for name in ("description", "industry", "website", "type"):
        record.update(**{name: "x" * UNDER_64_KB})
    with pytest.raises(RecordTooLarge):
        record.update(phone="p" * UNDER_64_KB)

    record.update(phone="p" * 20_000)

    assert record.aggregate.fields["phone"] == "p" * 20_000


def test_an_aggregate_loaded_again_is_measured_exactly_not_trusted_to_an_older_bound():
    """The same record reloaded (after an eviction, a restart) is a new object: another
    worker may have grown it, or its old object may hold changes never stored."""
    check = RecordSizeCheck()
    old = Record(check)
    old.create()
    grown_elsewhere = Record(RecordSizeCheck())  # the same record, changed by another worker
    grown_elsewhere.create()
    for name in ("description", "industry", "website", "type"):
        grown_elsewhere.update(**{name: "x" * UNDER_64_KB})
    reloaded = Record(check)
    reloaded.aggregate, reloaded.at = grown_elsewhere.aggregate, grown_elsewhere.at

    with pytest.raises(RecordTooLarge):
        reloaded.update(phone="p" * UNDER_64_KB)  # the old object's small bound is not used


def test_the_check_keeps_no_aggregate_alive():
    """Its bounds are as many as the aggregates the cache and the batch in hand hold."""
    check = RecordSizeCheck()
    record = Record(check)
    record.create()
    aggregate = weakref.ref(record.aggregate)

    del record
    gc.collect()

    assert aggregate() is None and check.bound(ClientAggregate("agg-1")) is None


def test_the_crms_copy_of_the_record_is_checked_and_counted_in_the_bound():
    record = Record(RecordSizeCheck())
    record.create()
    before = record.bound
    crm_copy = {"name": "Acme", "description": "d" * 1_000}

    record.change(ChangeKind.GAP, {}, current=crm_copy)

    assert record.bound == before + size_of(crm_copy) + size_of({})
    with pytest.raises(RecordTooLarge, match="the CRM's copy of the record takes"):
        record.change(ChangeKind.GAP, {}, current={"description": "d" * (LIMIT + 1)})
