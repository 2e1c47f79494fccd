"""The projections the service keeps: every module in this package that exports `PROJECTION`.

Adding a projection is adding one module here; the service declares its table, the projection
agent applies it, the read API serves it and `crm-events projections rebuild NAME` rebuilds it.
"""

from __future__ import annotations

import importlib
import pkgutil
from functools import cache

from projections.projection import Projection


@cache
def projections() -> dict[str, Projection]:
    """Every projection by name, in module name order."""
    found: dict[str, Projection] = {}
    for module_info in sorted(pkgutil.iter_modules(__path__), key=lambda info: info.name):
        module = importlib.import_module(f"{__name__}.{module_info.name}")
        projection = getattr(module, "PROJECTION", None)
        if not isinstance(projection, Projection):
            continue
        if projection.name in found:
            raise ValueError(f"two projections named {projection.name!r}")
        found[projection.name] = projection
    return found
