"""A measured figure, and how the run reports them: a markdown table and bench/results.json."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from pathlib import Path

RESULTS = Path(__file__).parent / "results.json"


@dataclass(frozen=True)
class Figure:
    key: str
    label: str
    value: float
    unit: str
    note: str = ""


def rate(key: str, label: str, count: int, seconds: float, unit: str = "events/s",
         note: str = "") -> Figure:
    return Figure(key, label, count / seconds, unit, note)


def median(runs: list[Figure]) -> Figure:
    """The run with the median value (the machine is shared: one run can be unlucky)."""
    chosen = sorted(runs, key=lambda figure: figure.value)[len(runs) // 2]
    note = f"median of {len(runs)}" + (f"; {chosen.note}" if chosen.note else "")
    return replace(chosen, note=note)


def markdown_table(figures: list[Figure]) -> str:
    lines = ["| figure | value | unit | note |", "|---|---:|---|---|"]
    for figure in figures:
        value = f"{figure.value:,.2f}" if figure.value < 100 else f"{figure.value:,.0f}"
        lines.append(f"| {figure.label} | {value} | {figure.unit} | {figure.note} |")
    return "\n".join(lines)


def write_results(figures: list[Figure], path: Path = RESULTS) -> None:
    path.write_text(json.dumps({f.key: asdict(f) for f in figures}, indent=2) + "\n")
