"""The domain stays pure: it imports without any framework and only from the standard library."""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).parents[2]
DOMAIN = REPO / "domain"
DOMAIN_FILES = sorted(DOMAIN.rglob("*.py"))
BLOCKED = ("app", "projections", "faust", "aiokafka", "asyncpg", "pydantic")
# Standard library modules that would mean the domain does I/O itself.
IO_MODULES = {"asyncio", "http", "os", "socket", "sqlite3", "ssl", "subprocess", "urllib"}

BLOCKER = textwrap.dedent(
    """
    import importlib, importlib.abc, pkgutil, sys

    BLOCKED = set({blocked!r})

    class Blocker(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"blocked import of {{name}}")
            return None

    for loaded in [m for m in sys.modules if m.split(".")[0] in BLOCKED]:
        del sys.modules[loaded]
    sys.meta_path.insert(0, Blocker())
    """
).format(blocked=BLOCKED)

IMPORT_ALL = textwrap.dedent(
    """
    import domain

    def refuse(name):
        raise ImportError(f"could not import {name}")

    names = ["domain"]
    for module in pkgutil.walk_packages(domain.__path__, "domain.", onerror=refuse):
        importlib.import_module(module.name)
        names.append(module.name)
    leaked = sorted({m.split(".")[0] for m in sys.modules} & BLOCKED)
    assert not leaked, leaked
    print("\\n".join(names))
    """
)


def run_isolated(code: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def expected_modules() -> set[str]:
    modules = set()
    for path in DOMAIN_FILES:
        parts = path.relative_to(REPO).with_suffix("").parts
        modules.add(".".join(parts[:-1] if parts[-1] == "__init__" else parts))
    return modules


def test_domain_and_all_its_submodules_import_with_frameworks_blocked():
    result = run_isolated(BLOCKER + IMPORT_ALL)

    assert result.returncode == 0, result.stderr
    imported = set(result.stdout.split())
    assert imported == expected_modules()
    assert {
        "domain.services",
        "domain.providers.salesforce",
        "domain.aggregates.record",
    } <= imported


@pytest.mark.parametrize("blocked", ["pydantic", "app.settings"])
def test_the_import_blocker_really_blocks(blocked):
    result = run_isolated(BLOCKER + f"import {blocked}\n")
    assert result.returncode != 0
    assert "blocked import" in result.stderr


def imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), filename=str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            modules.add("domain" if node.level else (node.module or ""))
    return modules


@pytest.mark.parametrize("path", DOMAIN_FILES, ids=lambda p: str(p.relative_to(REPO)))
def test_domain_source_imports_only_the_standard_library_and_domain(path):
    top_levels = {name.split(".")[0] for name in imported_modules(path)}
    foreign = {
        name for name in top_levels if name != "domain" and name not in sys.stdlib_module_names
    }
    assert not foreign, f"{path.name} imports {sorted(foreign)}"
    assert not top_levels & IO_MODULES, f"{path.name} imports I/O modules"


def test_every_domain_package_is_scanned():
    assert len(DOMAIN_FILES) >= 17
    assert DOMAIN / "providers" / "salesforce.py" in DOMAIN_FILES
    assert DOMAIN / "aggregates" / "record.py" in DOMAIN_FILES
