"""HubSpot and Pipedrive changes run through the same aggregates and domain services as
Salesforce's: the adapters are the only provider-specific code (pure)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from webhook_samples import hubspot_sample, pipedrive_sample

from domain.aggregates import ClientAggregate, ContactAggregate, DealAggregate
from domain.events import Created, Deleted, Undeleted, Updated
from domain.providers.hubspot import HubSpotAdapter, commands_from_event
from domain.providers.pipedrive import PipedriveAdapter, commands_from_webhook
from domain.services import needs_current_state, record_change

RECEIVED_AT = datetime(2025, 12, 1, tzinfo=UTC)
HUBSPOT, PIPEDRIVE = HubSpotAdapter(), PipedriveAdapter()
DANA = {"id": "451", "properties": {"firstname": "Dana", "lastname": "Scully",
                                    "email": "dana@globex.example"}}


def hubspot_change(event: dict):
    [command] = commands_from_event(event, correlation_id="c", received_at=RECEIVED_AT)
    return HUBSPOT.translate(command)


def pipedrive_step(aggregate, webhook: dict) -> list:
    """What the command handler does: the record in the event fills in a record never seen."""
    [command] = commands_from_webhook(webhook, correlation_id="c", received_at=RECEIVED_AT)
    change = PIPEDRIVE.translate(command)
    state = (PIPEDRIVE.record_in_event(command)
             if needs_current_state(aggregate, change) else None)
    return record_change(aggregate, change, state)


def types(events) -> list[type]:
    return [type(event) for event in events]


def test_a_hubspot_creation_records_the_state_read_back_and_same_millisecond_changes_apply():
    [creation, lastname, _] = hubspot_sample("contact_batch")
    contact = ContactAggregate("contact-1")
    created = hubspot_change(creation)

    assert needs_current_state(contact, created)
    events = record_change(contact, created, HUBSPOT.map_record("contact", DANA))
    assert types(events) == [Created] and events[0].data["last_name"] == "Scully"

    assert types(record_change(contact, hubspot_change(lastname))) == [Updated]
    assert record_change(contact, hubspot_change(lastname)) == []  # delivered again
    assert record_change(contact, created, {}) == []  # the creation again


def test_a_hubspot_change_older_than_the_last_applied_one_is_ignored():
    [event] = hubspot_sample("contact_property_change")
    contact = ContactAggregate("contact-1")
    creation = {**event, "eventId": 1, "subscriptionType": "contact.creation"}
    record_change(contact, hubspot_change(creation), HUBSPOT.map_record("contact", DANA))
    record_change(contact, hubspot_change(event))
    stale = {**event, "eventId": 2, "occurredAt": event["occurredAt"] - 60_000,
             "propertyValue": "old@globex.example"}

    assert record_change(contact, hubspot_change(stale)) == []
    assert contact.email == "dana.scully@globex.example"


def test_a_hubspot_deletion_then_restore_reads_the_restored_record():
    [deletion] = hubspot_sample("contact_deletion")
    [restore] = hubspot_sample("contact_restore")
    contact = ContactAggregate("contact-2")
    record_change(contact, hubspot_change({**deletion, "eventId": 7, "occurredAt": 1,
                                           "subscriptionType": "contact.creation"}),
                  HUBSPOT.map_record("contact", DANA))

    assert types(record_change(contact, hubspot_change(deletion))) == [Deleted]
    restored = {**DANA, "properties": {**DANA["properties"], "email": "new@globex.example"}}
    events = record_change(contact, hubspot_change(restore),
                           HUBSPOT.map_record("contact", restored))
    assert types(events) == [Undeleted, Updated]
    assert events[1].data == {"email": "new@globex.example"}


def test_pipedrive_create_change_delete_of_a_person():
    contact = ContactAggregate("contact-3")

    assert types(pipedrive_step(contact, pipedrive_sample("person_create"))) == [Created]
    assert types(pipedrive_step(contact, pipedrive_sample("person_change"))) == [Updated]
    assert types(pipedrive_step(contact, pipedrive_sample("person_delete"))) == [Deleted]
    assert contact.deleted and contact.email == "peter@initech.example"
    assert contact.external_ids == {"pipedrive": "1205"}


def test_a_pipedrive_change_to_a_deal_never_seen_creates_it_from_the_event_itself():
    deal = DealAggregate("deal-1")

    events = pipedrive_step(deal, pipedrive_sample("deal_change"))

    assert types(events) == [Created, Updated]
    assert (events[0].data["name"], events[0].data["amount"]) == (
        "Initech - TPS report licences", 48000)
    assert events[1].data["status"] == "won" and deal.stage == "4"


def test_a_pipedrive_delete_of_a_record_never_seen_leaves_its_last_state_in_the_history():
    client = ClientAggregate("client-1")
    deletion = copy.deepcopy(pipedrive_sample("organization_create"))
    deletion["previous"], deletion["data"] = deletion["data"], None
    deletion["meta"].update(action="delete", id="del-1")

    events = pipedrive_step(client, deletion)

    assert types(events) == [Created, Deleted]
    assert client.name == "Initech" and client.deleted
