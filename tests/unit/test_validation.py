"""The validation pipeline: technical checks, then business checks, all problems at once."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import timedelta

import pytest
from domain_support import (
    ADAPTER,
    ADAPTERS,
    SAMPLE_NAMES,
    changed_sample,
    command_of,
    commands_of,
    load_sample,
    sample_change,
    sample_command,
)

from domain.errors import CommandRejected, ValidationProblem
from domain.validation import CLOCK_SKEW, MAX_ID_LENGTH, MAX_PAYLOAD_BYTES, check, validate

HEADER_PATH = "detail.payload.ChangeEventHeader"


def fields_of(problems: list[ValidationProblem]) -> set[str]:
    return {problem.field for problem in problems}


@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_every_sample_envelope_is_valid(name):
    for command in commands_of(load_sample(name)):
        assert validate(command, ADAPTERS) == []
        check(command, ADAPTERS)  # does not raise


def test_all_technical_problems_are_returned_together():
    envelope = changed_sample("account_update", changeType="MERGE", commitTimestamp="yesterday")
    envelope["id"] = ""
    command = command_of(envelope, raw_size=MAX_PAYLOAD_BYTES + 1)

    problems = validate(command, ADAPTERS)

    assert fields_of(problems) == {"id", "body", "changeType", "commitTimestamp"}
    assert {problem.stage for problem in problems} == {"technical"}


def test_missing_header_is_reported_with_the_other_technical_problems():
    envelope = copy.deepcopy(load_sample("account_update"))
    envelope["id"] = ""
    command = replace(
        command_of(envelope, raw_size=MAX_PAYLOAD_BYTES + 1), payload={"Industry": "Aerospace"}
    )

    problems = validate(command, ADAPTERS)

    assert fields_of(problems) == {HEADER_PATH, "id", "body"}
    assert all(problem.stage == "technical" for problem in problems)


def test_header_that_is_not_an_object_is_a_technical_problem():
    command = replace(sample_command("account_update"), payload={"ChangeEventHeader": "UPDATE"})
    assert fields_of(validate(command, ADAPTERS)) == {HEADER_PATH}


@pytest.mark.parametrize("timestamp", ["1763712072000", 1763712072000.0, None, True, -1,
                                       # past the year 9999: no datetime holds it (once a
                                       # batch-failing error, parked as "unexpected")
                                       10**16, 253_402_300_800_000])
def test_commit_timestamp_must_be_integer_epoch_milliseconds(timestamp):
    command = command_of(changed_sample("account_update", commitTimestamp=timestamp))
    assert fields_of(validate(command, ADAPTERS)) == {"commitTimestamp"}


def test_sequence_number_must_be_an_integer():
    command = command_of(changed_sample("account_update", sequenceNumber="1"))
    assert fields_of(validate(command, ADAPTERS)) == {"sequenceNumber"}


def test_header_lists_must_be_lists():
    envelope = changed_sample("account_update", changedFields="Industry", nulledFields={})
    assert fields_of(validate(command_of(envelope), ADAPTERS)) == {"changedFields", "nulledFields"}


def test_a_record_change_without_record_id_is_a_technical_problem():
    command = command_of(changed_sample("account_update", recordIds=[]))
    assert command.record_id is None
    assert fields_of(validate(command, ADAPTERS)) == {"recordIds"}


def test_overlong_ids_are_technical_problems():
    long_id = "x" * (MAX_ID_LENGTH + 1)
    command = replace(sample_command("account_update"), record_id=long_id, correlation_id=long_id)
    problems = validate(command, ADAPTERS)
    assert fields_of(problems) == {"record_id", "correlation_id"}
    assert all(str(MAX_ID_LENGTH) in problem.message for problem in problems)


def test_payload_at_exactly_the_size_limit_is_accepted():
    assert validate(sample_command("account_update", raw_size=MAX_PAYLOAD_BYTES), ADAPTERS) == []


def test_missing_entity_is_a_technical_problem():
    command = command_of(changed_sample("account_update", entityName=""))
    problems = validate(command, ADAPTERS)
    assert ValidationProblem("technical", "entityName", "the entity is required") in problems


def test_unsupported_provider_is_a_business_problem_naming_the_supported_ones():
    command = replace(sample_command("account_update"), provider="hubspot")
    problems = validate(command, ADAPTERS)
    assert len(problems) == 1
    assert (problems[0].stage, problems[0].field) == ("business", "provider")
    assert "'hubspot'" in problems[0].message
    assert "salesforce" in problems[0].message


def test_unsupported_provider_is_reported_with_technical_problems():
    command = replace(sample_command("account_update"), provider="hubspot", event_id="")
    assert fields_of(validate(command, ADAPTERS)) == {"id", "provider"}
    assert "none" in validate(command, {})[-1].message


def test_unmapped_entity_is_a_business_problem():
    command = command_of(changed_sample("account_update", entityName="Lead"))
    problems = validate(command, ADAPTERS)
    assert len(problems) == 1
    assert (problems[0].stage, problems[0].field) == ("business", "entityName")
    assert "'Lead'" in problems[0].message
    assert "Account" in problems[0].message


def test_unmapped_entity_is_reported_with_technical_problems():
    command = command_of(changed_sample("account_update", entityName="Lead", changeType="MERGE"))
    problems = validate(command, ADAPTERS)
    assert [(p.stage, p.field) for p in problems] == [
        ("technical", "changeType"),
        ("business", "entityName"),
    ]


def test_commit_time_in_the_future_beyond_clock_skew_is_rejected():
    occurred_at = sample_change("account_update").occurred_at
    received_at = occurred_at - CLOCK_SKEW - timedelta(seconds=1)
    problems = validate(sample_command("account_update", received_at=received_at), ADAPTERS)
    assert [(p.stage, p.field) for p in problems] == [("business", "commitTimestamp")]
    assert "after it was received" in problems[0].message


def test_commit_time_in_the_future_within_clock_skew_is_accepted():
    occurred_at = sample_change("account_update").occurred_at
    received_at = occurred_at - CLOCK_SKEW + timedelta(seconds=1)
    assert validate(sample_command("account_update", received_at=received_at), ADAPTERS) == []


def test_check_raises_command_rejected_carrying_every_problem():
    envelope = changed_sample("account_update", changeType="MERGE")
    envelope["id"] = ""
    command = command_of(envelope)

    with pytest.raises(CommandRejected) as raised:
        check(command, ADAPTERS)

    assert raised.value.problems == validate(command, ADAPTERS)
    assert fields_of(raised.value.problems) == {"id", "changeType"}
    assert raised.value.stage == "technical"
    assert "[technical] changeType: unknown value 'MERGE'" in str(raised.value)


def test_command_rejected_stage_is_the_first_problem_stage_or_validation():
    business = ValidationProblem("business", "entityName", "not mapped")
    assert CommandRejected([business]).stage == "business"
    assert CommandRejected([]).stage == "validation"


def test_validation_problem_reads_as_stage_field_and_message():
    assert str(ValidationProblem("technical", "id", "required")) == "[technical] id: required"


def test_adapter_technical_problems_accept_a_resync_without_record_id():
    command = sample_command("account_gap_overflow")
    assert ADAPTER.technical_problems(command) == []
