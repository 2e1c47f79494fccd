"""Whatever a webhook says, the HubSpot and Pipedrive adapters answer with problems or a change,
never an exception: the command handler would otherwise retry the whole batch (pure, property
based, starting from the real samples)."""

from __future__ import annotations

import copy
from datetime import UTC, datetime

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from webhook_samples import hubspot_sample, pipedrive_sample, sample_names

from domain import validation
from domain.changes import RecordChange
from domain.providers.hubspot import HubSpotAdapter, commands_from_event
from domain.providers.hubspot_properties import OBJECTS
from domain.providers.pipedrive import PipedriveAdapter, commands_from_webhook

RECEIVED_AT = datetime(2025, 12, 1, tzinfo=UTC)
HUBSPOT, PIPEDRIVE = HubSpotAdapter(), PipedriveAdapter()
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=30),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner,
                                                                  max_size=3),
    max_leaves=8)
TRICKY = st.sampled_from([
    "", "0", "-1", "1e400", "99999999999999999999", "2025-13-45T99:00:00Z", "true", "null",
    "contact.creation", "note", "delete", "change", 10**19, -5, 1.5, [], {}, ["delete"],
])
VALUES = JSON | TRICKY

HUBSPOT_EVENTS = [event for name in sample_names("hubspot") for event in hubspot_sample(name)]
PIPEDRIVE_WEBHOOKS = [pipedrive_sample(name) for name in sample_names("pipedrive")]
PROPERTY_SETTINGS = settings(max_examples=300, deadline=None,
                             suppress_health_check=[HealthCheck.too_slow])


def outcome(adapter, commands) -> list:
    results = []
    for command in commands:
        problems = validation.validate(command, {adapter.provider: adapter})
        if not problems:
            assert isinstance(adapter.translate(command), RecordChange)
        results.append(problems)
    return results


@PROPERTY_SETTINGS
@given(st.sampled_from(HUBSPOT_EVENTS), st.dictionaries(
    st.sampled_from(["eventId", "subscriptionId", "occurredAt", "subscriptionType", "objectId",
                     "propertyName", "propertyValue", "changeSource"]), VALUES, max_size=4))
def test_a_mutated_hubspot_event_gives_problems_or_a_change(event, mutations):
    mutated = {**event, **mutations}
    commands = commands_from_event(mutated, correlation_id="c", received_at=RECEIVED_AT)
    outcome(HUBSPOT, commands)
    for command in commands:
        if command.entity in OBJECTS:  # every converter, on whatever the value is
            readers = OBJECTS[command.entity].readers
            value = mutated.get("propertyValue")
            HUBSPOT.map_record(command.entity, {"properties": dict.fromkeys(readers, value)})


@PROPERTY_SETTINGS
@given(st.sampled_from(PIPEDRIVE_WEBHOOKS),
       st.dictionaries(st.sampled_from(["action", "entity", "entity_id", "id", "timestamp",
                                        "change_source"]), VALUES, max_size=3),
       st.dictionaries(st.sampled_from(["data", "previous"]), VALUES, max_size=2),
       st.dictionaries(st.sampled_from(["name", "emails", "phones", "address", "status", "value",
                                        "update_time", "org_id", "last_name"]), VALUES,
                       max_size=3))
def test_a_mutated_pipedrive_webhook_gives_problems_or_a_change(webhook, meta, blocks, fields):
    mutated = copy.deepcopy(webhook)
    mutated["meta"].update(meta)
    mutated.update(blocks)
    for block in ("data", "previous"):
        if isinstance(mutated.get(block), dict):
            mutated[block].update(fields)
    commands = commands_from_webhook(mutated, correlation_id="c", received_at=RECEIVED_AT)
    for command, problems in zip(commands, outcome(PIPEDRIVE, commands), strict=True):
        if not problems:
            PIPEDRIVE.record_in_event(command)
