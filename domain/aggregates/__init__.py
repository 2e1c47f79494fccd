"""Aggregates, one module per CRM entity; each registers itself by its aggregate type.

Every module of this package is imported here, so adding an entity's aggregate is adding its
module: no list names it.
"""

import importlib
import pkgutil

from domain.aggregates.client import ClientAggregate
from domain.aggregates.contact import ContactAggregate
from domain.aggregates.deal import DealAggregate
from domain.aggregates.record import AGGREGATE_TYPES, CRMRecordAggregate, replay

for _module in pkgutil.iter_modules(__path__):
    importlib.import_module(f"{__name__}.{_module.name}")

__all__ = [
    "AGGREGATE_TYPES",
    "CRMRecordAggregate",
    "ClientAggregate",
    "ContactAggregate",
    "DealAggregate",
    "replay",
]
