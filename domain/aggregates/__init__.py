"""Aggregates, one module per CRM entity; each registers itself by its aggregate type."""

from domain.aggregates.client import ClientAggregate
from domain.aggregates.contact import ContactAggregate
from domain.aggregates.deal import DealAggregate
from domain.aggregates.record import AGGREGATE_TYPES, CRMRecordAggregate, replay

__all__ = [
    "AGGREGATE_TYPES",
    "CRMRecordAggregate",
    "ClientAggregate",
    "ContactAggregate",
    "DealAggregate",
    "replay",
]
