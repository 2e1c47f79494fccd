"""Clients (CRM accounts) by id: current state, filterable by status and industry."""

from projections.record_view import record_view_projection

PROJECTION = record_view_projection(
    "clients", "client", summary_fields=("name", "industry", "status"),
    filters=("status", "industry"), description=__doc__)
