"""The HubSpot adapter: webhook events in, provider-neutral RecordChanges out (pure)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from webhook_samples import hubspot_sample, sample_names

from app.hubspot_envelopes import record_keys
from domain import validation
from domain.changes import ChangeKind, ChangePosition
from domain.commands import ProcessCRMEventCommand
from domain.providers.hubspot import HubSpotAdapter, commands_from_event
from domain.providers.hubspot_properties import API_OBJECT_TYPES, OBJECTS

ADAPTER = HubSpotAdapter()
RECEIVED_AT = datetime(2025, 12, 1, tzinfo=UTC)


def command(event: dict) -> ProcessCRMEventCommand:
    [only] = commands_from_event(event, correlation_id="corr-1", received_at=RECEIVED_AT)
    return only


def problems(event: dict) -> list[str]:
    return [f"{p.field}: {p.message}"
            for p in validation.validate(command(event), {"hubspot": ADAPTER})]


@pytest.mark.parametrize("name", sample_names("hubspot"))
def test_every_sample_event_is_valid(name):
    for event in hubspot_sample(name):
        assert problems(event) == []


def test_a_property_change_is_an_update_of_that_one_mapped_field():
    [industry, employees] = hubspot_sample("company_property_change")

    change = ADAPTER.translate(command(industry))
    assert change.kind is ChangeKind.UPDATE
    assert (change.aggregate_type, change.entity, change.external_id) == (
        "client", "company", "18342789012")
    assert change.fields == {"industry": "COMPUTER_SOFTWARE"}
    # HubSpot writes every value as a string; numbers are numbers in the domain.
    assert ADAPTER.translate(command(employees)).fields == {"employees": 450}


def test_a_creation_carries_no_fields_so_the_record_must_be_read_back():
    [creation, lastname, other] = hubspot_sample("contact_batch")

    change = ADAPTER.translate(command(creation))

    assert change.kind is ChangeKind.GAP and change.fields == {}
    assert (change.aggregate_type, change.external_id) == ("contact", "451")
    assert ADAPTER.translate(command(lastname)).fields == {"last_name": "Scully"}
    assert ADAPTER.translate(command(other)).external_id == "452"


def test_deletion_restore_and_privacy_deletion_kinds():
    [deletion] = hubspot_sample("contact_deletion")
    [restore] = hubspot_sample("contact_restore")
    privacy = {**deletion, "subscriptionType": "contact.privacyDeletion", "eventId": 99}

    assert ADAPTER.translate(command(deletion)).kind is ChangeKind.DELETE
    assert ADAPTER.translate(command(privacy)).kind is ChangeKind.ERASE
    assert ADAPTER.translate(command(restore)).kind is ChangeKind.GAP


def merge_event(**ids) -> dict:
    [deletion] = hubspot_sample("contact_deletion")
    return {**deletion, "subscriptionType": "contact.merge", "eventId": 77, **ids}


def test_a_merge_re_reads_the_surviving_record_and_deletes_the_merged_ones():
    merge = merge_event(objectId=451, primaryObjectId=451, mergedObjectIds=[452, 453])
    commands = commands_from_event(merge, correlation_id="c", received_at=RECEIVED_AT)

    changes = [ADAPTER.translate(c) for c in commands]
    assert [(c.external_id, c.kind) for c in changes] == [
        ("451", ChangeKind.GAP), ("452", ChangeKind.DELETE), ("453", ChangeKind.DELETE)]
    assert len({c.source_event_id for c in commands}) == 3  # each record's own claim
    assert all(not validation.validate(c, {"hubspot": ADAPTER}) for c in commands)


def test_a_merge_into_a_new_record_ends_the_primary_too():
    merge = merge_event(objectId=451, primaryObjectId=451, mergedObjectIds=[452],
                        newObjectId=999)
    changes = [ADAPTER.translate(c) for c in
               commands_from_event(merge, correlation_id="c", received_at=RECEIVED_AT)]

    assert [(c.external_id, c.kind) for c in changes] == [
        ("999", ChangeKind.GAP), ("452", ChangeKind.DELETE), ("451", ChangeKind.DELETE)]


def test_a_merge_that_names_no_merged_record_is_refused():
    assert problems(merge_event(objectId=451, primaryObjectId=451, mergedObjectIds=[])) == [
        "mergedObjectIds: a merge must name the records merged"]


def test_position_is_the_occurrence_time_and_the_event_so_same_millisecond_events_both_apply():
    [industry, employees] = hubspot_sample("company_property_change")

    first, second = ADAPTER.translate(command(industry)), ADAPTER.translate(command(employees))

    assert first.position == ChangePosition(industry["occurredAt"], "3816281007-2404")
    assert first.occurred_at == datetime(2025, 11, 24, 9, 15, 42, 337000, tzinfo=UTC)
    assert first.position.is_after(second.position) and second.position.is_after(first.position)
    assert first.source_event_id == "hubspot:3816281007-2404:18342789012"
    assert first.change_origin == "CRM_UI"


def test_a_redelivered_event_has_the_same_source_event_id():
    [event] = hubspot_sample("contact_property_change")
    retry = {**event, "attemptNumber": 3}

    assert command(retry).source_event_id == command(event).source_event_id


def test_an_emptied_property_is_cleared_and_an_unmapped_one_changes_nothing():
    [event] = hubspot_sample("contact_property_change")
    emptied = {**event, "propertyValue": ""}
    unmapped = {**event, "propertyName": "hs_analytics_num_visits", "propertyValue": "7"}

    assert ADAPTER.translate(command(emptied)).fields == {"email": None}
    assert ADAPTER.translate(command(unmapped)).fields == {}


@pytest.mark.parametrize("value", ["Infinity", "-Infinity", "NaN", "1e400", "abc"])
def test_an_amount_that_is_no_finite_number_reads_as_no_value(value):
    [event] = hubspot_sample("deal_property_change")
    amount = {**event, "propertyName": "amount", "propertyValue": value}

    assert ADAPTER.translate(command(amount)).fields == {"amount": None}


def test_a_time_reads_the_same_from_a_webhook_and_from_the_api():
    [event] = hubspot_sample("deal_property_change")
    webhook = {**event, "propertyName": "closedate", "propertyValue": "1765756800000"}
    api_record = {"id": "9817264501", "properties": {"closedate": "2025-12-15T00:00:00Z"}}

    from_webhook = ADAPTER.translate(command(webhook)).fields
    from_api = ADAPTER.map_record("deal", api_record)

    assert from_webhook == {"close_date": "2025-12-15T00:00:00.000Z"}
    assert from_api["close_date"] == from_webhook["close_date"]


def test_map_record_reads_the_api_properties_and_none_means_deleted():
    record = {"id": "451", "archived": False, "properties": {
        "firstname": "Dana", "lastname": "Scully", "email": None, "associatedcompanyid": "183",
        "city": "Washington", "hs_object_id": "451", "lastmodifieddate": "2025-11-24T10:02:11.5Z"}}

    assert ADAPTER.map_record("contact", record) == {
        "first_name": "Dana", "last_name": "Scully", "email": None, "client_external_id": "183",
        "mailing_address.city": "Washington", "last_modified_at": "2025-11-24T10:02:11.500Z"}
    assert ADAPTER.map_record("contact", None) is None


def test_unsupported_subscription_types_and_unmapped_objects_are_refused_with_reasons():
    [event] = hubspot_sample("contact_property_change")

    assert problems({**event, "subscriptionType": "contact.snapshot"}) == [
        "subscriptionType: unsupported value 'contact.snapshot' (<object>.creation, "
        "<object>.propertyChange, <object>.deletion, <object>.privacyDeletion, "
        "<object>.restore, <object>.merge, <object>.associationChange)"]
    assert problems({**event, "subscriptionType": "ticket.propertyChange"}) == [
        "subscriptionType: 'ticket' is not mapped (company, contact, deal)"]


def test_technical_problems_are_reported_together():
    [event] = hubspot_sample("contact_property_change")
    broken = {**event, "objectId": None, "occurredAt": "yesterday", "propertyName": None}

    assert problems(broken) == [
        "objectId: no record id for this event",
        "occurredAt: must be epoch milliseconds",
        "propertyName: required for a change",
    ]


def test_an_event_from_the_future_is_refused_by_the_ordering_check():
    [event] = hubspot_sample("contact_property_change")
    future = {**event, "occurredAt": int(datetime(2026, 1, 1, tzinfo=UTC).timestamp() * 1000)}

    assert problems(future) == [
        "commitTimestamp: committed at 2026-01-01T00:00:00+00:00, after it was received"]


def test_every_mapped_object_has_an_api_path():
    assert set(API_OBJECT_TYPES) == set(OBJECTS)


def test_an_association_change_re_reads_the_record_whose_association_changed():
    contact_side, company_side = hubspot_sample("contact_association_change")

    for event, entity, record_id in ((contact_side, "contact", "452"),
                                      (company_side, "company", "18342789012")):
        change = ADAPTER.translate(command(event))
        assert (change.kind, change.entity, change.external_id) == (
            ChangeKind.GAP, entity, record_id)
        assert change.position == ChangePosition(event["occurredAt"], command(event).event_id)
        assert record_keys(event) == [record_id]  # the record's inbound partition


def test_an_association_change_naming_no_record_is_refused():
    [contact_side, _] = hubspot_sample("contact_association_change")

    assert problems({**contact_side, "fromObjectId": None}) == [
        "fromObjectId: no record id for this event"]
