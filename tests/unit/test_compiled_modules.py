"""The worker's hot path runs compiled (setup.py), and a stale compiled module is detected."""

from __future__ import annotations

import importlib
import importlib.machinery
import os

import pytest

from app.compiled import compiled_modules, stale_modules

SUFFIX = importlib.machinery.EXTENSION_SUFFIXES[0]


@pytest.mark.parametrize("module", ["domain.services", "projections.projector",
                                    "app.command_handler", "app.event_store"])
def test_the_hot_path_is_compiled_by_make_install(module):
    path = importlib.import_module(module).__file__
    assert path.endswith(tuple(importlib.machinery.EXTENSION_SUFFIXES)), (
        f"{module} runs interpreted ({path}): build it with `make install`")


def test_a_compiled_module_older_than_its_source_is_stale(tmp_path):
    package = tmp_path / "domain"
    package.mkdir()
    fresh, changed = package / "fresh.py", package / "changed.py"
    for source in (fresh, changed):
        source.write_text("")
        built = source.with_name(source.stem + SUFFIX)
        built.write_bytes(b"")
        os.utime(source, (1_000, 1_000))
        os.utime(built, (2_000, 2_000))
    os.utime(changed, (3_000, 3_000))  # edited after the build
    (package / "interpreted.py").write_text("")

    assert compiled_modules(tmp_path) == [changed, fresh]
    assert stale_modules(tmp_path) == [changed]
