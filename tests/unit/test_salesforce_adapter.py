"""The Salesforce CDC adapter: EventBridge envelopes in, provider-neutral RecordChanges out."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import UTC, datetime

import pytest
from domain_support import (
    ADAPTER,
    CORRELATION_ID,
    RECEIVED_AT,
    changed_sample,
    command_of,
    commands_of,
    load_sample,
    sample_change,
    sample_command,
)

from domain.changes import ChangeKind, ChangePosition
from domain.providers.field_mapping import ADDRESS_PARTS, snake_case
from domain.providers.salesforce import change_payload, commands_from_envelope

ACCOUNT_ID = "001Hs00003FqYbKIAV"
ALL_BILLING_PARTS = {f"billing_address.{snake_case(part)}" for part in ADDRESS_PARTS}


# -- envelopes and commands -------------------------------------------------------------------


def test_event_relay_and_appflow_envelopes_give_the_same_record_change():
    relay = sample_change("account_update")
    appflow = sample_change("appflow_account_update")

    assert relay.fields == {
        "industry": "Aerospace",
        "employees": 5600,
        "last_modified_at": "2026-11-21T08:01:12.000Z",
    }
    # Only the envelope id (so the source event id) differs between the two routes.
    assert relay.source_event_id != appflow.source_event_id
    assert replace(appflow, source_event_id=relay.source_event_id) == relay


def test_change_payload_finds_the_header_under_payload_or_directly_under_detail():
    relay = change_payload(load_sample("account_update"))
    appflow = change_payload(load_sample("appflow_account_update"))
    assert relay["ChangeEventHeader"] == appflow["ChangeEventHeader"]
    assert change_payload({}) == {}


def test_mass_update_gives_one_command_per_record_id():
    envelope = load_sample("contact_mass_update")
    commands = commands_of(envelope)

    record_ids = ["003Hs00002XyZaAIAV", "003Hs00002XyZbAIAV", "003Hs00002XyZcAIAV"]
    assert [c.record_id for c in commands] == record_ids
    assert {c.event_id for c in commands} == {envelope["id"]}
    assert len({c.source_event_id for c in commands}) == 3
    for command, record_id in zip(commands, record_ids, strict=True):
        change = ADAPTER.translate(command)
        assert change.external_id == record_id
        assert change.fields == {
            "mailing_address.city": "Manchester",
            "last_modified_at": "2026-11-21T10:00:00.000Z",
        }


def test_only_record_id_narrows_a_mass_update_to_that_record():
    envelope = load_sample("contact_mass_update")
    kwargs = {"correlation_id": "c", "received_at": RECEIVED_AT}
    one = commands_from_envelope(envelope, only_record_id="003Hs00002XyZbAIAV", **kwargs)
    assert [c.record_id for c in one] == ["003Hs00002XyZbAIAV"]
    unknown = commands_from_envelope(envelope, only_record_id="003UNKNOWN", **kwargs)
    assert len(unknown) == 3


def test_command_carries_envelope_id_entity_correlation_and_size():
    envelope = load_sample("account_create")
    command = command_of(envelope, raw_size=1234)
    assert command.provider == "salesforce"
    assert command.event_id == envelope["id"]
    assert command.entity == "Account"
    assert command.record_id == ACCOUNT_ID
    assert command.correlation_id == CORRELATION_ID
    assert command.received_at == RECEIVED_AT
    assert command.raw_size == 1234
    assert command.source_event_id == f"salesforce:{envelope['id']}:{ACCOUNT_ID}"


# -- CREATE -----------------------------------------------------------------------------------


def test_create_maps_fields_and_flattens_billing_address():
    change = sample_change("account_create")
    assert change.kind is ChangeKind.CREATE
    assert change.aggregate_type == "client"
    assert change.fields == {
        "name": "Acme Corporation",
        "type": "Customer - Direct",
        "industry": "Manufacturing",
        "annual_revenue": 125000000.0,
        "employees": 5400,
        "phone": "+44 20 7946 0958",
        "website": "https://acme.example",
        "billing_address.street": "1 Market Street",
        "billing_address.city": "London",
        "billing_address.postal_code": "EC1A 1BB",
        "billing_address.country": "United Kingdom",
        "status": "Active",
        "owner_id": "005Hs00000AbCdEIAX",
        "created_at": "2026-11-20T10:15:29.000Z",
        "last_modified_at": "2026-11-20T10:15:29.000Z",
    }


def test_create_ignores_unmapped_fields_unknown_compound_parts_and_nulls():
    envelope = copy.deepcopy(load_sample("account_create"))
    payload = envelope["detail"]["payload"]
    payload["SomethingElse__c"] = "x"
    payload["BillingAddress"]["Planet"] = "Earth"
    payload["Description"] = None
    fields = ADAPTER.translate(command_of(envelope)).fields
    assert "something_else" not in fields
    assert "billing_address.planet" not in fields
    assert "description" not in fields


def test_contact_name_compound_maps_to_first_name_last_name_and_salutation():
    change = sample_change("contact_create")
    assert change.aggregate_type == "contact"
    assert change.fields == {
        "salutation": "Ms.",
        "first_name": "Ada",
        "last_name": "Lovelace",
        "email": "ada@acme.example",
        "client_external_id": ACCOUNT_ID,
        "mailing_address.city": "London",
        "mailing_address.country": "United Kingdom",
        "created_at": "2026-11-20T10:20:00.000Z",
        "last_modified_at": "2026-11-20T10:20:00.000Z",
    }


# -- UPDATE -----------------------------------------------------------------------------------


def test_update_carries_only_the_changed_fields():
    change = sample_change("account_update")
    assert change.kind is ChangeKind.UPDATE
    assert set(change.fields) == {"industry", "employees", "last_modified_at"}


def test_update_ignores_payload_values_not_listed_in_changed_fields():
    envelope = copy.deepcopy(load_sample("account_update"))
    envelope["detail"]["payload"]["Phone"] = "+1 555"
    assert "phone" not in ADAPTER.translate(command_of(envelope)).fields


def test_nulled_fields_become_none():
    change = sample_change("account_update_nulled")
    assert change.fields == {"website": None, "last_modified_at": "2026-11-21T09:30:00.000Z"}


def test_dotted_compound_changed_field_maps_to_dotted_domain_name():
    envelope = changed_sample("contact_mass_update", recordIds=["003Hs00002XyZaAIAV"])
    change = ADAPTER.translate(command_of(envelope))
    assert change.fields["mailing_address.city"] == "Manchester"
    assert "mailing_address.country" not in change.fields


def test_nulled_whole_compound_clears_all_of_its_parts():
    envelope = changed_sample(
        "account_update_nulled",
        changedFields=["BillingAddress", "LastModifiedDate"],
        nulledFields=["BillingAddress"],
    )
    fields = ADAPTER.translate(command_of(envelope)).fields
    assert {k for k in fields if k.startswith("billing_address.")} == ALL_BILLING_PARTS
    assert all(fields[k] is None for k in ALL_BILLING_PARTS)
    assert "website" not in fields


def test_nulled_compound_part_clears_only_that_part():
    envelope = changed_sample(
        "account_update_nulled",
        changedFields=["BillingAddress.City", "LastModifiedDate"],
        nulledFields=["BillingAddress.City"],
    )
    fields = ADAPTER.translate(command_of(envelope)).fields
    assert fields == {"billing_address.city": None, "last_modified_at": "2026-11-21T09:30:00.000Z"}


def test_contact_name_part_update_maps_to_top_level_name():
    envelope = changed_sample(
        "contact_mass_update",
        recordIds=["003Hs00002XyZaAIAV"],
        changedFields=["Name.FirstName", "LastModifiedDate"],
        nulledFields=["Name.Salutation"],
    )
    envelope["detail"]["payload"]["Name"] = {"FirstName": "Augusta"}
    fields = ADAPTER.translate(command_of(envelope)).fields
    assert fields == {
        "first_name": "Augusta",
        "salutation": None,
        "last_modified_at": "2026-11-21T10:00:00.000Z",
    }


def test_opportunity_update_maps_stage_and_amount_of_a_deal():
    change = sample_change("opportunity_update")
    assert change.aggregate_type == "deal"
    assert change.fields == {
        "stage": "Closed Won",
        "amount": 250000.0,
        "last_modified_at": "2026-11-21T11:00:00.000Z",
    }


def test_position_occurred_at_and_origin_come_from_the_header():
    change = sample_change("account_update")
    assert change.position == ChangePosition(
        1763712072000, "00045a6b-7c8d-4e1f-a2b3-c4d5e6f7a8c1", 1
    )
    assert change.occurred_at == datetime(2025, 11, 21, 8, 1, 12, tzinfo=UTC)
    assert change.change_origin == "com/salesforce/api/rest/64.0;client=workbench/"
    assert change.correlation_id == CORRELATION_ID
    assert change.provider == "salesforce"
    assert change.entity == "Account"


# -- other change kinds -----------------------------------------------------------------------


def test_delete_has_no_fields():
    change = sample_change("account_delete")
    assert (change.kind, change.fields, change.external_id) == (ChangeKind.DELETE, {}, ACCOUNT_ID)


def test_undelete_carries_the_restored_fields():
    change = sample_change("account_undelete")
    assert change.kind is ChangeKind.UNDELETE
    assert change.fields == {
        "name": "Acme Corporation",
        "status": "Active",
        "last_modified_at": "2026-11-23T13:00:00.000Z",
    }


@pytest.mark.parametrize("change_type", ["GAP_CREATE", "GAP_UPDATE", "GAP_DELETE", "GAP_UNDELETE"])
def test_every_gap_change_type_is_a_gap_without_fields(change_type):
    envelope = changed_sample("account_gap_update", changeType=change_type)
    change = ADAPTER.translate(command_of(envelope))
    assert (change.kind, change.fields, change.external_id) == (ChangeKind.GAP, {}, ACCOUNT_ID)


def test_an_update_sending_a_mapped_field_as_a_diff_is_read_back_like_a_gap():
    # Salesforce sends a large text value as a unified diff (`diffFields`), not the value
    envelope = changed_sample("account_update", changedFields=["Description", "Industry"],
                              diffFields=["Description"])
    envelope["detail"]["payload"]["Description"] = "@@ -1 +1 @@\n-old\n+new"
    change = ADAPTER.translate(command_of(envelope))
    assert (change.kind, change.fields) == (ChangeKind.GAP, {})


def test_a_diff_of_an_unmapped_field_leaves_the_update_as_it_is():
    envelope = changed_sample("account_update", diffFields=["SicDesc"])
    change = ADAPTER.translate(command_of(envelope))
    assert change.kind is ChangeKind.UPDATE and change.fields


def test_gap_overflow_is_one_resync_command_without_record_id():
    command = sample_command("account_gap_overflow")
    assert command.record_id is None
    assert command.source_event_id.endswith(":*")
    change = ADAPTER.translate(command)
    assert (change.kind, change.external_id, change.fields) == (ChangeKind.RESYNC, "", {})
