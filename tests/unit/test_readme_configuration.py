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
