"""Compiles the worker's per-event modules with Cython when it and a C compiler are there.

The sources stay plain Python: Cython compiles them unchanged, with Python's dynamic semantics
(`annotation_typing` off: annotations are not enforced). Each compiled module is a drop-in for
its source; without Cython or a compiler (e.g. a slim image) the package installs as pure
Python. Why: README, Performance ("Compiled hot path"). `CRM_EVENTS_COMPILE=0` skips it.
"""

from __future__ import annotations

import os
from pathlib import Path

from setuptools import setup

# the worker's path from a raw event to its projection, measured hot (README, Performance);
# modules with pydantic models, settings and start-up code stay interpreted
COMPILED = [
    "domain/**/*.py",
    "projections/**/*.py",
    "app/agents.py", "app/aggregate_cache.py", "app/batch_send.py", "app/command_handler.py",
    "app/db.py", "app/dead_letters.py", "app/event_store.py", "app/identity_map.py",
    "app/kafka_io.py", "app/kafka_transport.py", "app/message_delivery.py",
    "app/raw_delivery.py", "app/stream_batches.py", "app/structured_logging.py",
]


def compiled_sources() -> list[str]:
    root = Path(__file__).parent
    return sorted(str(path.relative_to(root)) for pattern in COMPILED
                  for path in root.glob(pattern) if path.name != "__init__.py")


def extensions() -> list:
    if os.environ.get("CRM_EVENTS_COMPILE") == "0":
        return []
    try:
        from Cython.Build import cythonize
    except ImportError:
        return []
    modules = cythonize(compiled_sources(), nthreads=os.cpu_count() or 1, quiet=True,
                        compiler_directives={"language_level": 3, "binding": True,
                                             "annotation_typing": False})
    for module in modules:
        module.optional = True  # no compiler: that module stays interpreted
    return modules


if __name__ == "__main__":
    setup(ext_modules=extensions())
