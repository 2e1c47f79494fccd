"""How a webhook provider's flat record properties become an aggregate's domain fields.

HubSpot and Pipedrive send a record as one flat object of named properties; some need their value
converted (HubSpot writes every value as a string), some spread into several domain fields (a
Pipedrive address, a deal's status). Each property therefore has a reader: value in, domain fields
out.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

Reader = Callable[[Any], dict[str, Any]]


def field(domain_name: str, convert: Callable[[Any], Any] | None = None) -> Reader:
    """A property that is one domain field, its value converted (None stays None)."""

    def read(value: Any) -> dict[str, Any]:
        if convert is None or value is None:
            return {domain_name: value}
        return {domain_name: convert(value)}

    return read


@dataclass(frozen=True)
class PropertyMapping:
    entity: str
    aggregate_type: str
    readers: Mapping[str, Reader]

    def map_values(self, values: Mapping[str, Any]) -> dict[str, Any]:
        """Every mapped property present in `values`, as domain fields."""
        return self.map_names(values, values)

    def map_names(self, names: Iterable[str], values: Mapping[str, Any]) -> dict[str, Any]:
        """The domain fields of the properties `names`, read from `values`."""
        mapped: dict[str, Any] = {}
        for name in names:
            reader = self.readers.get(name)
            if reader is not None:
                mapped.update(reader(values.get(name)))
        return mapped


# -- conversions ------------------------------------------------------------------------------


def text(value: Any) -> str | None:
    """A string, or None when empty: both providers clear a property by sending ""."""
    if isinstance(value, str):
        return value if value.strip() else None
    return str(value)


def number(value: Any) -> int | float | None:
    """Amounts and counts: ints stay ints, so 12 and "12" compare equal after reading. What is
    no finite number ("abc", "Infinity", "1e400", "NaN") reads as no value: JSON, the event
    store and the read model have no infinities."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        parsed = float(cleaned)
    except ValueError:
        return None
    if not math.isfinite(parsed):
        return None
    return int(parsed) if parsed.is_integer() and "." not in cleaned else parsed


def flag(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    cleaned = text(value)
    return None if cleaned is None else cleaned.lower() == "true"


def instant(value: Any) -> str | None:
    """One spelling for a point in time, `2026-11-20T10:15:29.000Z`, whether the provider sent
    epoch milliseconds (HubSpot webhooks) or ISO 8601 (HubSpot's REST API, Pipedrive): the same
    instant must not look like a change."""
    cleaned = text(value)
    if cleaned is None:
        return None
    try:
        if cleaned.lstrip("-").isdigit():
            moment = datetime.fromtimestamp(int(cleaned) / 1000, tz=UTC)
        else:
            moment = datetime.fromisoformat(cleaned.replace("Z", "+00:00"))
    except (ValueError, OverflowError, OSError):
        return cleaned  # not a time after all: keep what the provider said
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
