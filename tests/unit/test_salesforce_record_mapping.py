"""Salesforce field mapping outside CDC: REST records, entity types and field names."""

from __future__ import annotations

import pytest
from domain_support import ADAPTER, sample_change

from domain.aggregates import ClientAggregate
from domain.providers.field_mapping import snake_case
from domain.services import record_change

ACCOUNT_ID = "001Hs00003FqYbKIAV"


def test_map_record_maps_a_rest_record_and_ignores_attributes_and_unmapped_fields():
    record = {
        "attributes": {"type": "Account", "url": f"/services/data/v64.0/sobjects/{ACCOUNT_ID}"},
        "Id": ACCOUNT_ID,
        "Name": "Acme Corporation",
        "Industry": "Aerospace",
        "Website": None,
        "Status__c": "Active",
        "BillingAddress": {"city": "London", "postalCode": "EC1A 1BB", "geocodeAccuracy": None},
    }
    assert ADAPTER.map_record("Account", record) == {
        "name": "Acme Corporation",
        "industry": "Aerospace",
        "website": None,
        "status": "Active",
        "billing_address.city": "London",
        "billing_address.postal_code": "EC1A 1BB",
        "billing_address.geocode_accuracy": None,
    }


def test_map_record_of_a_rest_contact_ignores_the_plain_name_string():
    record = {
        "attributes": {"type": "Contact"},
        "Name": "Ada Lovelace",
        "FirstName": "Ada",
        "LastName": "Lovelace",
        "MailingAddress": {"City": "London"},
    }
    assert ADAPTER.map_record("Contact", record) == {
        "first_name": "Ada",
        "last_name": "Lovelace",
        "mailing_address.city": "London",
    }


def test_map_record_of_a_missing_record_is_none():
    assert ADAPTER.map_record("Account", None) is None


@pytest.mark.parametrize(
    ("entity", "aggregate_type"),
    [("Account", "client"), ("Contact", "contact"), ("Opportunity", "deal")],
)
def test_each_entity_maps_to_its_aggregate_type(entity, aggregate_type):
    assert ADAPTER.aggregate_type(entity) == aggregate_type


@pytest.mark.parametrize(
    ("name", "expected"),
    [("Status__c", "status"), ("NumberOfEmployees", "number_of_employees"), ("City", "city")],
)
def test_snake_case_drops_custom_suffix_and_splits_words(name, expected):
    assert snake_case(name) == expected


def test_map_record_writes_rest_datetimes_as_change_events_do():
    record = {
        "Name": "Acme Corporation",
        "CreatedDate": "2026-11-20T10:15:29.000+0000",
        "LastModifiedDate": "2026-11-23T14:00:00+0000",
        "Description": "opened 2026-11-20T10:15:29.000+0000",
    }
    assert ADAPTER.map_record("Account", record) == {
        "name": "Acme Corporation",
        "created_at": "2026-11-20T10:15:29.000Z",
        "last_modified_at": "2026-11-23T14:00:00Z",
        "description": "opened 2026-11-20T10:15:29.000+0000",
    }


def test_a_gap_re_read_of_an_unchanged_record_changes_nothing():
    aggregate = ClientAggregate("agg-1")
    record_change(aggregate, sample_change("account_create"))
    rest_copy = {
        "attributes": {"type": "Account"},
        "Name": "Acme Corporation",
        "Status__c": "Active",
        "CreatedDate": "2026-11-20T10:15:29.000+0000",
        "LastModifiedDate": "2026-11-20T10:15:29.000+0000",
    }
    current = ADAPTER.map_record("Account", rest_copy)
    assert record_change(aggregate, sample_change("account_gap_update"), current) == []
