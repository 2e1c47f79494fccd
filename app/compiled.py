"""Which of the package's modules run compiled (see setup.py), and which compiled ones are stale.

A module compiled in place is imported instead of its source; one whose source changed after
it was built would run old code without a word, so the test session and the worker check.
"""

from __future__ import annotations

import importlib.machinery
from pathlib import Path

PACKAGES = ("app", "domain", "projections")
ROOT = Path(__file__).resolve().parents[1]


def compiled_modules(root: Path = ROOT) -> list[Path]:
    """The sources that have a compiled module beside them."""
    return [source for source, _ in _pairs(root)]


def stale_modules(root: Path = ROOT) -> list[Path]:
    """Sources changed after their compiled module was built."""
    return [source for source, built in _pairs(root)
            if source.stat().st_mtime > built.stat().st_mtime]


def _pairs(root: Path) -> list[tuple[Path, Path]]:
    pairs = []
    for package in PACKAGES:
        for suffix in importlib.machinery.EXTENSION_SUFFIXES:
            for built in (root / package).rglob(f"*{suffix}"):
                source = built.with_name(built.name.removesuffix(suffix) + ".py")
                if source.exists():
                    pairs.append((source, built))
    return sorted(pairs)
