"""Reading a read API request's query strictly: every parameter known and given once, numbers
in ASCII digits (Python's `int` and `float` also take "1_0", "５", "nan" and "inf"). A query
that is not understood is answered 400 with the reason, never half-used."""

from __future__ import annotations

import re
from collections.abc import Iterable

from multidict import MultiMapping

INTEGER = re.compile(r"-?[0-9]{1,10}")
SECONDS = re.compile(r"-?[0-9]{1,6}(\.[0-9]{1,6})?")


def check_names(query: MultiMapping[str], allowed: Iterable[str]) -> None:
    """Raise `ValueError` for a parameter not in `allowed`, or one given more than once."""
    known = set(allowed)
    unknown = sorted(set(query) - known)
    if unknown:
        raise ValueError(f"unknown parameters {unknown}; known: {sorted(known)}")
    repeated = sorted({name for name in query if len(query.getall(name)) > 1})
    if repeated:
        raise ValueError(f"parameters given more than once: {repeated}")


def integer(query: MultiMapping[str], name: str, default: int, low: int,
            high: int | None = None) -> int:
    text = query.get(name)
    if text is None:
        return default
    if not INTEGER.fullmatch(text):
        raise ValueError(f"{name} must be an integer")
    value = int(text)
    if high is None and value < low:
        raise ValueError(f"{name} must be at least {low}")
    if high is not None and not low <= value <= high:
        raise ValueError(f"{name} must be between {low} and {high}")
    return value


def seconds(query: MultiMapping[str], name: str, high: float) -> float:
    """A number of seconds from 0 to `high` (0 when not given)."""
    text = query.get(name)
    if text is None:
        return 0.0
    if not SECONDS.fullmatch(text):
        raise ValueError(f"{name} must be a number of seconds")
    value = float(text)
    if not 0 <= value <= high:
        raise ValueError(f"{name} must be between 0 and {high:g} seconds")
    return value
