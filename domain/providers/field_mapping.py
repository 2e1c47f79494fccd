"""How one provider entity's fields map onto an aggregate's domain field names.

Compound fields (an address, a person's name) arrive nested; they are flattened to dotted domain
names (`billing_address.city`) or, with an empty prefix, to top-level names (`first_name`).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any

ADDRESS_PARTS = (
    "Street", "City", "State", "StateCode", "PostalCode", "Country", "CountryCode",
    "Latitude", "Longitude", "GeocodeAccuracy",
)
PERSON_NAME_PARTS = ("Salutation", "FirstName", "MiddleName", "LastName", "Suffix")


@lru_cache(maxsize=4096)  # a handful of field names, converted for every change that has them
def snake_case(name: str) -> str:
    name = name.removesuffix("__c")
    return re.sub(r"(?<=[a-z0-9])(?=[A-Z])", "_", name).lower()


@dataclass(frozen=True)
class Compound:
    """A nested provider field: its parts become `prefix.part` (or `part` with no prefix)."""

    prefix: str
    parts: tuple[str, ...]

    def domain_name(self, part: str) -> str:
        name = snake_case(part)
        return f"{self.prefix}.{name}" if self.prefix else name


@dataclass(frozen=True)
class EntityMapping:
    entity: str
    aggregate_type: str
    fields: Mapping[str, str]
    compounds: Mapping[str, Compound] = field(default_factory=dict)

    def map_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every mapped field present in `values`, nested compounds flattened."""
        mapped: dict[str, Any] = {}
        for name, value in values.items():
            mapped.update(self.map_field(name, value))
        return mapped

    def map_field(self, name: str, value: Any) -> dict[str, Any]:
        compound = self.compounds.get(name)
        if compound is not None and isinstance(value, Mapping):
            # CDC names parts `City`; the REST API names them `city`, `postalCode`.
            parts = {part[:1].upper() + part[1:]: part_value for part, part_value in value.items()}
            return {
                compound.domain_name(part): part_value
                for part, part_value in parts.items()
                if part in compound.parts
            }
        if name in self.fields:
            return {self.fields[name]: value}
        return {}

    def map_paths(self, paths: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any]:
        """The fields named by provider paths (`Industry`, `BillingAddress.City`)."""
        mapped: dict[str, Any] = {}
        for path in paths:
            name, _, part = path.partition(".")
            value = values.get(name)
            if part:
                compound = self.compounds.get(name)
                if compound is not None and part in compound.parts:
                    part_value = value.get(part) if isinstance(value, Mapping) else None
                    mapped[compound.domain_name(part)] = part_value
            else:
                mapped.update(self.map_field(name, value))
        return mapped

    def nulls(self, paths: Iterable[str]) -> dict[str, None]:
        """Domain fields cleared by provider paths; a whole compound clears all of its parts."""
        cleared: dict[str, None] = {}
        for path in paths:
            name, _, part = path.partition(".")
            compound = self.compounds.get(name)
            if compound is not None:
                parts = [part] if part else list(compound.parts)
                cleared.update(
                    {compound.domain_name(p): None for p in parts if p in compound.parts}
                )
            elif name in self.fields:
                cleared[self.fields[name]] = None
        return cleared
