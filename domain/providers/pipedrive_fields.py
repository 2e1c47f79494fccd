"""Pipedrive objects the service understands, and their domain field names.

Names follow the Salesforce mappings (`client_external_id`, `billing_address.city`, `amount`), so a
record reads the same whichever CRM it came from. Custom fields (`custom_fields`, keyed by hash)
are not mapped.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from domain.providers.property_mapping import PropertyMapping, field, instant, number, text


def primary_value(domain_name: str):
    """Pipedrive keeps e-mails and phones as lists (`[{"value", "primary", "label"}]`): the
    domain keeps the primary one."""

    def read(entries: Any) -> dict[str, Any]:
        if not isinstance(entries, list):
            return {domain_name: text(entries) if entries is not None else None}
        found = [e for e in entries
                 if isinstance(e, Mapping) and e.get("value") is not None and text(e["value"])]
        primary = next((e for e in found if e.get("primary")), found[0] if found else None)
        return {domain_name: text(primary["value"]) if primary else None}

    return read


def address(prefix: str):
    """An organization's address object (`street_number`, `route`, `locality`, ...)."""

    def read(value: Any) -> dict[str, Any]:
        parts = value if isinstance(value, Mapping) else {}
        street = " ".join(p for p in (_part(parts, "street_number"), _part(parts, "route")) if p)
        if not street:  # no parsed parts: the address as typed
            street = text(value) if isinstance(value, str) else _part(parts, "value")
        return {
            f"{prefix}.street": street or None,
            f"{prefix}.city": _part(parts, "locality"),
            f"{prefix}.state": _part(parts, "admin_area_level_1"),
            f"{prefix}.postal_code": _part(parts, "postal_code"),
            f"{prefix}.country": _part(parts, "country"),
        }

    return read


def _part(parts: Mapping[str, Any], name: str) -> str | None:
    value = parts.get(name)
    return None if value is None else text(value)


def deal_status(value: Any) -> dict[str, Any]:
    """`open`, `won` or `lost`: also whether the deal is closed and won, as Salesforce says."""
    status = text(value) if value is not None else None
    return {
        "status": status,
        "closed": None if status is None else status in ("won", "lost"),
        "won": None if status is None else status == "won",
    }


COMMON = {
    "owner_id": field("owner_id", text),
    "add_time": field("created_at", instant),
    "update_time": field("last_modified_at", instant),
}

ORGANIZATION = PropertyMapping(
    entity="organization",
    aggregate_type="client",
    readers={
        **COMMON,
        "name": field("name", text),
        "address": address("billing_address"),
    },
)

PERSON = PropertyMapping(
    entity="person",
    aggregate_type="contact",
    readers={
        **COMMON,
        "name": field("name", text),
        "first_name": field("first_name", text),
        "last_name": field("last_name", text),
        "emails": primary_value("email"),
        "phones": primary_value("phone"),
        "job_title": field("title", text),
        "org_id": field("client_external_id", text),
    },
)

DEAL = PropertyMapping(
    entity="deal",
    aggregate_type="deal",
    readers={
        **COMMON,
        "title": field("name", text),
        "value": field("amount", number),
        "currency": field("currency", text),
        "status": deal_status,
        "stage_id": field("stage", text),
        "pipeline_id": field("pipeline", text),
        "probability": field("probability", number),
        "expected_close_date": field("close_date", text),
        "lost_reason": field("lost_reason", text),
        "org_id": field("client_external_id", text),
        "person_id": field("contact_external_id", text),
    },
)

ENTITIES = {mapping.entity: mapping for mapping in (ORGANIZATION, PERSON, DEAL)}


def record_fields(entity: str, record: Mapping[str, Any]) -> dict[str, Any]:
    """Every domain field of a whole Pipedrive record."""
    fields = ENTITIES[entity].map_values(record)
    if entity == "person" and not fields.get("last_name") and fields.get("name"):
        # Pipedrive requires only a person's `name` and leaves `last_name` empty for a one-word
        # name; a contact needs a last name, and the whole name is the best one there is.
        fields["last_name"] = fields["name"]
    return fields
