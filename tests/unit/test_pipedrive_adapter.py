"""The Pipedrive adapter: webhooks v2 in, provider-neutral RecordChanges out (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

import pytest
from webhook_samples import pipedrive_sample, sample_names

from domain import validation
from domain.changes import ChangeKind, ChangePosition
from domain.commands import ProcessCRMEventCommand
from domain.ports import RecordInEvent
from domain.providers.pipedrive import PipedriveAdapter, commands_from_webhook, epoch_ms

ADAPTER = PipedriveAdapter()
RECEIVED_AT = datetime(2025, 12, 1, tzinfo=UTC)


def command(webhook: dict) -> ProcessCRMEventCommand:
    [only] = commands_from_webhook(webhook, correlation_id="corr-1", received_at=RECEIVED_AT)
    return only


def problems(webhook: dict) -> list[str]:
    return [f"{p.field}: {p.message}"
            for p in validation.validate(command(webhook), {"pipedrive": ADAPTER})]


@pytest.mark.parametrize("name", sample_names("pipedrive"))
def test_every_sample_is_valid(name):
    assert problems(pipedrive_sample(name)) == []


def test_an_organization_create_is_a_client_with_its_whole_record():
    change = ADAPTER.translate(command(pipedrive_sample("organization_create")))

    assert change.kind is ChangeKind.CREATE
    assert (change.aggregate_type, change.entity, change.external_id) == (
        "client", "organization", "73")
    assert change.fields == {
        "name": "Initech", "owner_id": "12415231",
        "created_at": "2025-11-24T13:18:55.000Z", "last_modified_at": "2025-11-24T13:18:55.000Z",
        "billing_address.street": "4120 Freidrich Lane", "billing_address.city": "Austin",
        "billing_address.state": "Texas", "billing_address.postal_code": "78744",
        "billing_address.country": "United States",
    }
    assert change.source_event_id == "pipedrive:ece7b901-5898-4c80-986a-6b7feeabebe4:73"
    assert change.position == ChangePosition(
        epoch_ms("2025-11-24T13:18:55.315Z"), "ece7b901-5898-4c80-986a-6b7feeabebe4")
    assert change.occurred_at == datetime(2025, 11, 24, 13, 18, 55, 315000, tzinfo=UTC)
    assert change.change_origin == "app"


def test_a_change_carries_only_the_fields_named_in_previous_with_their_new_values():
    organization = ADAPTER.translate(command(pipedrive_sample("organization_change")))
    person = ADAPTER.translate(command(pipedrive_sample("person_change")))

    assert organization.kind is ChangeKind.UPDATE
    # custom_fields changed too, but custom fields are not mapped
    assert organization.fields == {"name": "Initech Ltd",
                                   "last_modified_at": "2025-11-24T15:21:23.000Z"}
    assert person.fields == {"email": "peter@initech.example",
                             "last_modified_at": "2025-11-24T15:40:11.000Z"}


def test_a_person_is_a_contact_with_primary_email_and_phone():
    change = ADAPTER.translate(command(pipedrive_sample("person_create")))

    assert change.aggregate_type == "contact"
    assert {k: change.fields[k] for k in (
        "first_name", "last_name", "email", "phone", "client_external_id")} == {
        "first_name": "Peter", "last_name": "Gibbons", "email": "peter.gibbons@initech.example",
        "phone": "+1 512 555 0143", "client_external_id": "73"}


def test_a_person_with_a_one_word_name_gets_it_as_last_name():
    webhook = copy.deepcopy(pipedrive_sample("person_create"))
    webhook["data"].update(name="Prince", first_name="Prince", last_name=None)

    assert ADAPTER.translate(command(webhook)).fields["last_name"] == "Prince"


def test_a_won_deal_is_closed_and_won():
    change = ADAPTER.translate(command(pipedrive_sample("deal_change")))

    assert change.aggregate_type == "deal"
    assert change.fields == {"status": "won", "closed": True, "won": True,
                             "last_modified_at": "2025-11-24T16:05:31.000Z"}


def test_a_delete_has_no_fields_but_the_record_in_the_event_is_its_last_state():
    deletion = command(pipedrive_sample("person_delete"))

    assert ADAPTER.translate(deletion).kind is ChangeKind.DELETE
    assert ADAPTER.translate(deletion).fields == {}
    assert ADAPTER.record_in_event(deletion)["email"] == "peter@initech.example"


def test_the_record_in_a_change_is_the_whole_record_after_it():
    state = ADAPTER.record_in_event(command(pipedrive_sample("deal_change")))

    assert isinstance(ADAPTER, RecordInEvent)
    assert state["name"] == "Initech - TPS report licences"
    assert (state["amount"], state["currency"], state["status"]) == (48000, "USD", "won")
    assert (state["client_external_id"], state["contact_external_id"]) == ("73", "1205")


def test_v1_actions_unmapped_entities_and_missing_blocks_are_refused_with_reasons():
    webhook = pipedrive_sample("person_change")
    v1 = {**webhook, "meta": {**webhook["meta"], "action": "updated"}}
    note = {**webhook, "meta": {**webhook["meta"], "entity": "note"}}
    no_previous = {**webhook, "previous": None}

    assert problems(v1) == [
        "meta.action: unknown value 'updated' (create, change, delete: webhooks v2)"]
    assert problems(note) == ["meta.entity: 'note' is not mapped (deal, organization, person)"]
    assert problems(no_previous) == ["previous: a change names what changed"]


def test_technical_problems_are_reported_together():
    webhook = pipedrive_sample("organization_create")
    broken = {**webhook, "data": None,
              "meta": {**webhook["meta"], "entity_id": None, "timestamp": "soon"}}

    assert problems(broken) == [
        "meta.entity_id: no record id",
        "meta.timestamp: not a time",
        "data: a create carries the record here",
    ]


@pytest.mark.parametrize(("timestamp", "expected"), [
    ("2022-11-24T13:18:55.315Z", 1669295935315),
    (1669304389, 1669304389000),
    ("1669304389", 1669304389000),
    ("next tuesday", None),
    (True, None),
])
def test_timestamps_in_either_spelling(timestamp, expected):
    assert epoch_ms(timestamp) == expected
