"""Adding a CRM entity is one aggregate module and one mapping: proved with a Salesforce Lead.

LEAD_MODULE is `domain/aggregates/lead.py`, LEAD_MAPPING an entry of
`domain/providers/salesforce_entities.py`. One test writes them into a copy of the domain and
records a lead there; the others load the same source into this process to check the details.
"""

from __future__ import annotations

import copy
import json
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from domain_support import ADAPTER, ADAPTERS, CORRELATION_ID, RECEIVED_AT, load_sample

from domain import validation
from domain.aggregates import AGGREGATE_TYPES
from domain.aggregates.record import MissingRequiredField
from domain.events import Created, Updated
from domain.providers import salesforce_entities
from domain.providers.salesforce import commands_from_envelope
from domain.services import needs_current_state, record_change

DOMAIN = Path(__file__).parents[2] / "domain"
LEAD_ID = "00QHs00000LeAdAIAV"

LEAD_MODULE = '''\
"""A lead: a person who may become a client (Salesforce Lead, ...)."""

from domain.aggregates.record import CRMRecordAggregate


class LeadAggregate(CRMRecordAggregate):
    aggregate_type = "lead"
    required_on_create = ("last_name", "company")
'''

LEAD_MAPPING = '''\
LEAD = EntityMapping(
    entity="Lead",
    aggregate_type="lead",
    fields={
        **COMMON,
        "FirstName": "first_name",  # the REST API gives a person's name flat...
        "LastName": "last_name",
        "Company": "company",
        "Email": "email",
        "Status": "lead_status",
    },
    compounds={
        "Name": Compound("", PERSON_NAME_PARTS),  # ...change events nest it under Name
        "Address": Compound("address", ADDRESS_PARTS),
    },
)
'''
ENTITIES_LINE = "(ACCOUNT, CONTACT, OPPORTUNITY)"


@pytest.fixture
def lead_aggregate():
    """LEAD_MODULE and LEAD_MAPPING loaded into this process, for one test."""
    namespace: dict = {"__name__": "domain.aggregates.lead"}
    exec(compile(LEAD_MODULE, "domain/aggregates/lead.py", "exec"), namespace)
    mapping_namespace = dict(vars(salesforce_entities))
    exec(compile(LEAD_MAPPING, "salesforce_entities.py", "exec"), mapping_namespace)
    lead = mapping_namespace["LEAD"]
    salesforce_entities.ENTITIES[lead.entity] = lead
    try:
        yield namespace["LeadAggregate"]
    finally:
        del salesforce_entities.ENTITIES[lead.entity], AGGREGATE_TYPES[lead.aggregate_type]


def lead_envelope(change_type: str, timestamp: int, header: dict | None = None, **fields) -> dict:
    envelope = copy.deepcopy(load_sample("account_create"))
    envelope["detail-type"] = "LeadChangeEvent"
    envelope["detail"]["payload"] = {
        "ChangeEventHeader": {
            **envelope["detail"]["payload"]["ChangeEventHeader"],
            "entityName": "Lead", "recordIds": [LEAD_ID], "changeType": change_type,
            "commitTimestamp": timestamp, "transactionKey": f"tx-{timestamp}", **(header or {}),
        },
        **fields,
    }
    return envelope


LEAD_CREATED = lead_envelope(
    "CREATE", 1_763_633_730_000, Name={"FirstName": "Grace", "LastName": "Hopper"},
    Company="Navy", Email="grace@navy.example", Status="Open - Not Contacted",
    Address={"City": "Arlington"})
LEAD_QUALIFIED = lead_envelope(
    "UPDATE", 1_763_633_790_000, {"changedFields": ["Status"]}, Status="Qualified")


def lead_change(envelope: dict):
    [command] = commands_from_envelope(envelope, correlation_id=CORRELATION_ID,
                                       received_at=RECEIVED_AT)
    assert validation.validate(command, ADAPTERS) == []
    return ADAPTER.translate(command)


RECORD_A_LEAD = textwrap.dedent("""
    import json, sys
    from datetime import UTC, datetime
    from domain import validation
    from domain.aggregates import AGGREGATE_TYPES
    from domain.providers.salesforce import SalesforceAdapter, commands_from_envelope
    from domain.services import record_change

    adapter = SalesforceAdapter()
    [command] = commands_from_envelope(json.loads(sys.argv[1]), correlation_id="c",
                                       received_at=datetime(2030, 1, 1, tzinfo=UTC))
    problems = validation.validate(command, {"salesforce": adapter})
    change = adapter.translate(command)
    events = record_change(AGGREGATE_TYPES[change.aggregate_type]("agg-lead"), change)
    print(json.dumps({"problems": [str(p) for p in problems],
                      "events": [event.to_dict() for event in events]}, default=str))
""")


def test_a_lead_module_and_a_lead_mapping_are_all_the_domain_needs(tmp_path):
    shutil.copytree(DOMAIN, tmp_path / "domain", ignore=shutil.ignore_patterns("__pycache__"))
    (tmp_path / "domain" / "aggregates" / "lead.py").write_text(LEAD_MODULE)
    entities = tmp_path / "domain" / "providers" / "salesforce_entities.py"
    source = entities.read_text()
    assert source.count(ENTITIES_LINE) == 1, "the ENTITIES line changed: update this test"
    head, tail = source.split("ENTITIES = ")
    entities.write_text(f"{head}{LEAD_MAPPING}\nENTITIES = "
                        + tail.replace(ENTITIES_LINE, "(ACCOUNT, CONTACT, OPPORTUNITY, LEAD)"))

    run = subprocess.run([sys.executable, "-c", RECORD_A_LEAD, json.dumps(LEAD_CREATED)],
                         cwd=tmp_path, capture_output=True, text=True, timeout=60, check=False)

    assert run.returncode == 0, run.stderr
    result = json.loads(run.stdout)
    assert result["problems"] == []
    [created] = result["events"]
    assert (created["event_type"], created["aggregate_type"]) == ("Created", "lead")
    assert created["data"]["company"] == "Navy" and created["data"]["last_name"] == "Hopper"


def test_a_lead_is_validated_translated_and_recorded_like_any_entity(lead_aggregate):
    create, update = lead_change(LEAD_CREATED), lead_change(LEAD_QUALIFIED)
    assert create.aggregate_type == "lead"
    lead = AGGREGATE_TYPES["lead"]("agg-lead")
    assert isinstance(lead, lead_aggregate)

    events = record_change(lead, create) + record_change(lead, update)

    assert [(type(e), e.version) for e in events] == [(Created, 1), (Updated, 2)]
    assert events[0].data == {"first_name": "Grace", "last_name": "Hopper", "company": "Navy",
                              "email": "grace@navy.example", "lead_status": "Open - Not Contacted",
                              "address.city": "Arlington"}
    assert lead.fields["lead_status"] == "Qualified"
    assert events[1].metadata.external_id == LEAD_ID


def test_a_lead_never_seen_is_created_from_its_rest_copy(lead_aggregate):
    update = lead_change(LEAD_QUALIFIED)
    lead = lead_aggregate("agg-lead")
    assert needs_current_state(lead, update)
    rest_copy = {"attributes": {"type": "Lead"}, "Name": "Grace Hopper", "FirstName": "Grace",
                 "LastName": "Hopper", "Company": "Navy", "Status": "Qualified",
                 "LastModifiedDate": "2026-11-20T10:16:30.000+0000"}

    events = record_change(lead, update, ADAPTER.map_record("Lead", rest_copy))

    assert [type(e) for e in events] == [Created, Updated]
    assert events[0].data["last_modified_at"] == "2026-11-20T10:16:30.000Z"


def test_a_lead_keeps_its_own_rules(lead_aggregate):
    nameless = lead_envelope("CREATE", 1_763_633_730_000, Name={"LastName": "Hopper"})
    with pytest.raises(MissingRequiredField, match="a lead needs company"):
        record_change(lead_aggregate("agg-lead"), lead_change(nameless))


def test_every_salesforce_mapping_names_a_registered_aggregate():
    mapped = {mapping.aggregate_type for mapping in salesforce_entities.ENTITIES.values()}
    assert mapped <= set(AGGREGATE_TYPES)
