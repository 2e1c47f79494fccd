"""The README's configuration table names every setting the service reads, and only those."""

from __future__ import annotations

import re
from pathlib import Path

from app.settings import Settings

README = Path(__file__).parents[2] / "README.md"


def _configuration_section() -> str:
    text = README.read_text()
    start = text.index("## Configuration")
    return text[start:text.index("\n## ", start + 1)]


def _variables_in_first_column(section: str) -> set[str]:
    first_cells = [line.split(" | ")[0] for line in section.splitlines() if line.startswith("| `")]
    return {name for cell in first_cells for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", cell)}


def _setting_variables() -> set[str]:
    return {(field.alias or name).upper() for name, field in Settings.model_fields.items()}


def test_every_setting_has_a_row_in_the_configuration_table():
    section = _configuration_section()
    named = set(re.findall(r"`([A-Z][A-Z0-9_]+)`", section))

    assert _setting_variables() - named == set()


def test_every_variable_in_the_table_is_a_setting():
    assert _variables_in_first_column(_configuration_section()) - _setting_variables() == set()


def _documented_defaults(section: str) -> dict[str, str]:
    """The rows whose default cell starts with a value in backticks, one per variable named
    (`A` / `B` rows: `1` / `2`)."""
    defaults = {}
    for line in section.splitlines():
        cells = line.split(" | ")
        if not line.startswith("| `") or len(cells) < 3:
            continue
        names = re.findall(r"`([A-Z][A-Z0-9_]+)`", cells[0])
        values = re.match(r"`([^`]*)`(?: / `([^`]*)`)?", cells[1])
        given = [v for v in values.groups() if v is not None] if values else []
        if len(given) == len(names):
            defaults.update(zip(names, given, strict=True))
    return defaults


def _same(documented: str, default: object) -> bool:
    if isinstance(default, bool):
        return documented == str(default).lower()
    if isinstance(default, int | float):
        return float(documented) == default
    return documented == str(default)


def test_the_defaults_in_the_table_are_the_settings_defaults():
    fields = {(field.alias or name).upper(): field for name, field in Settings.model_fields.items()}
    documented = _documented_defaults(_configuration_section())
    assert len(documented) > 30  # the parsing found the table's rows
    wrong = {name: (value, fields[name].default) for name, value in documented.items()
             if not _same(value, fields[name].default)
             and not (value in fields and fields[name].default is None)}  # "`APP_ID`": its value
    assert wrong == {}
