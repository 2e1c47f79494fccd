"""Contacts by id: current state, filterable by status and by their client's external id."""

from projections.record_view import record_view_projection

PROJECTION = record_view_projection(
    "contacts", "contact",
    summary_fields=("first_name", "last_name", "email", "status", "client_external_id"),
    filters=("status", "client_external_id", "deleted"), description=__doc__)
