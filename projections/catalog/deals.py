"""Deals (opportunities) by id: current state, filterable by stage and status."""

from projections.record_view import record_view_projection

PROJECTION = record_view_projection(
    "deals", "deal", summary_fields=("name", "stage", "amount", "status", "client_external_id"),
    filters=("stage", "status", "client_external_id"), description=__doc__)
