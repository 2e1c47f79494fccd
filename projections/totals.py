"""Running totals: measures per bucket per dimension, added and subtracted exactly (pure).

Measures are kept as decimal strings so that adding and later subtracting an amount leaves no
floating-point residue, and added without rounding (`EXACT`: Python's default context keeps 28
digits, so 1e30 + 0.25 - 1e30 gave 0); a bucket whose measures all return to zero disappears.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from decimal import MAX_EMAX, MAX_PREC, MIN_EMIN, Context, Decimal
from typing import Any

from projections.projection import Totals

NO_VALUE = ""  # the bucket of records without a value in that dimension
INT64_MIN, INT64_MAX = -(2**63), 2**63 - 1
EXACT = Context(prec=MAX_PREC, Emax=MAX_EMAX, Emin=MIN_EMIN)  # sums as long as they need
SMALLEST_EXPONENT, LARGEST_EXPONENT = -324, 308  # of a float's range


def bucket(value: Any) -> str:
    return NO_VALUE if value is None else str(value)


def measure(value: Any) -> Decimal:
    """A numeric field as an exact decimal; missing, non-numeric or non-finite counts as
    zero."""
    if isinstance(value, bool) or value is None:
        return Decimal(0)
    try:
        # a float through its shortest repr (0.1, not its binary expansion)
        exact_value = Decimal(value if isinstance(value, (str, int)) else str(value))
    except ArithmeticError:
        return Decimal(0)
    # "Infinity" and "NaN" parse, but would poison every later sum of the bucket
    return exact_value if exact_value.is_finite() else Decimal(0)


def summable(value: Any) -> Any:
    """A record's amount as its tally adds it: one beyond a float's range ("1e400", "1e-400")
    as zero, so that the exact sums of its bucket ("1e300" + "1e-300") stay a few hundred
    digits long at most."""
    number = measure(value)
    if number.is_zero() or SMALLEST_EXPONENT <= number.adjusted() <= LARGEST_EXPONENT:
        return value
    return 0


def exact(value: Any) -> int | Decimal:
    """`measure`, with counts (ints, and the decimal strings of ints) kept as ints: nearly
    every measure is a count, added at every moved bucket and every view read (with `Decimal`s
    throughout, tallying a record and moving its bucket took about 10 us)."""
    if type(value) is int:
        return value
    if type(value) is str:
        try:
            return int(value)
        except ValueError:
            pass
    return measure(value)


def plus(total: int | Decimal, value: int | Decimal, sign: int = 1) -> int | Decimal:
    """`total + sign * value`, exactly: ints as ints, decimals without rounding."""
    if type(total) is int and type(value) is int:
        return total + sign * value
    return EXACT.add(total, value if sign > 0 else EXACT.minus(value))


def combine(totals: Mapping[str, Any], change: Mapping[str, Any], sign: int = 1) -> Totals:
    """`totals` plus (or minus, sign=-1) `change`, as a new value."""
    result = copied(totals)
    add(result, change, sign)
    return result


def add(totals: Totals, change: Mapping[str, Any], sign: int = 1) -> None:
    """Add `change` to `totals` in place (sign=-1: subtract it)."""
    for dimension, buckets in change.items():
        target = totals.setdefault(dimension, {})
        _add_buckets(target, buckets, sign)
        if not target:
            del totals[dimension]


def difference(before: Mapping[str, Any], after: Mapping[str, Any]) -> Totals:
    """What turns `before` into `after`: only the dimensions that differ (a record's change
    usually moves one bucket, or none)."""
    change: Totals = {}
    move(change, before, after)
    return change


def move(totals: Totals, before: Mapping[str, Any], after: Mapping[str, Any]) -> None:
    """`add(totals, difference(before, after))` in place, without building the difference (the
    projection agent's path for a record whose tally changed)."""
    for dimension in after.keys() | before.keys():
        was, now = before.get(dimension, {}), after.get(dimension, {})
        if was != now:
            target = totals.setdefault(dimension, {})
            _add_buckets(target, now, 1)
            _add_buckets(target, was, -1)
            if not target:
                del totals[dimension]


def copied(totals: Mapping[str, Any]) -> Totals:
    return {dimension: {name: dict(measures) for name, measures in buckets.items()}
            for dimension, buckets in totals.items()}


def _add_buckets(target: dict[str, dict[str, Any]], buckets: Mapping[str, Any],
                 sign: int) -> None:
    """A bucket whose measures all return to zero disappears."""
    for name, measures in buckets.items():
        current = target.get(name)
        if current is None:
            current = target[name] = {}
        left = False  # a measure not zero after the addition
        for key, value in measures.items():
            total = plus(exact(current.get(key, 0)), exact(value), sign)
            current[key] = str(total)
            left = left or total != 0
        if not left and not any(exact(v) for k, v in current.items() if k not in measures):
            del target[name]


def sum_totals(parts: Iterable[Mapping[str, Any]]) -> Totals:
    """The sum of many totals (the partials of every partition, a rebuild's records' tallies):
    added up as numbers, written as decimal strings once at the end; zero buckets left out."""
    sums: dict[str, dict[str, dict[str, int | Decimal]]] = {}
    for part in parts:
        for dimension, buckets in part.items():
            target = sums.get(dimension)
            if target is None:
                target = sums[dimension] = {}
            for name, measures in buckets.items():
                current = target.get(name)
                if current is None:
                    current = target[name] = {}
                for key, value in measures.items():
                    current[key] = plus(current.get(key, 0), exact(value))
    totals: Totals = {}
    for dimension, buckets in sums.items():
        kept = {name: {key: str(value) for key, value in measures.items()}
                for name, measures in buckets.items() if any(measures.values())}
        if kept:
            totals[dimension] = kept
    return totals


def rows(totals: Mapping[str, Any], dimension: str) -> list[dict[str, Any]]:
    """One row per bucket of a dimension, for the read API: counts as integers, amounts as
    numbers, buckets in name order (the empty bucket, records without a value, as null)."""
    rendered = []
    for name, measures in sorted(totals.get(dimension, {}).items()):
        row: dict[str, Any] = {dimension: name if name != NO_VALUE else None}
        for key, value in sorted(measures.items()):
            row[key] = json_number(Decimal(value))
        rendered.append(row)
    return rendered


def json_number(number: Decimal) -> int | float | None:
    """A measure as a JSON number: an int while it fits in 64 bits (the JSON encoder refuses
    larger ints: a deal of 1e19 would fail the whole view), else a float; null beyond a
    float's range (a sum of huge amounts), which no JSON number can hold."""
    if number == number.to_integral_value() and INT64_MIN <= number <= INT64_MAX:
        return int(number)
    as_float = float(number)
    return as_float if math.isfinite(as_float) else None
