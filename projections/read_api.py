"""The read API, served from the read-model tables (and the event store for audit history)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from typing import Any

import faust
from faust.web import Request, Response, View

from projections.tables import ReadModelTables, external_id_key

HistoryReader = Callable[[str], Awaitable[list[Mapping[str, Any]]]]
COLLECTIONS = {"clients": "client", "contacts": "contact", "deals": "deal"}
LIST_FILTERS = ("status", "industry", "stage")
MAX_PAGE = 500


def register_read_api(app: faust.App, tables: ReadModelTables, history: HistoryReader,
                      is_ready: Callable[[], bool]) -> None:
    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if is_ready():
                return self.json({"status": "ok"})
            return self.json({"status": "starting"}, status=503)

    @app.page("/aggregates/{aggregate_id}/events")
    class AggregateEvents(View):
        async def get(self, request: Request, aggregate_id: str) -> Response:
            events = await history(aggregate_id)
            if not events:
                return self.error(404, f"no events for aggregate {aggregate_id}")
            return self.json({"aggregate_id": aggregate_id, "events": events})

    for collection, aggregate_type in COLLECTIONS.items():
        _register_collection(app, tables, collection, aggregate_type)


def _register_collection(app: faust.App, tables: ReadModelTables, collection: str,
                         aggregate_type: str) -> None:
    table = tables.view_table(aggregate_type)

    @app.page(f"/{collection}/{{aggregate_id}}", name=f"{collection}-by-id")
    class ById(View):
        async def get(self, request: Request, aggregate_id: str) -> Response:
            view = table.get(aggregate_id)
            if view is None:
                return self.error(404, f"no {aggregate_type} {aggregate_id}")
            return self.json(view)

    @app.page(f"/{collection}", name=f"{collection}-list")
    class Listing(View):
        async def get(self, request: Request) -> Response:
            query = request.query
            provider, external_id = query.get("provider"), query.get("external_id")
            if provider or external_id:
                if not (provider and external_id):
                    return self.error(400, "provider and external_id go together")
                key = external_id_key(aggregate_type, provider, external_id)
                aggregate_id = tables.external_ids.get(key)
                view = table.get(aggregate_id) if aggregate_id else None
                if view is None:
                    return self.error(404, f"no {aggregate_type} {provider}:{external_id}")
                return self.json(view)
            try:
                limit = min(int(query.get("limit", 100)), MAX_PAGE)
                offset = max(int(query.get("offset", 0)), 0)
            except ValueError:
                return self.error(400, "limit and offset must be integers")
            wanted = {name: query[name] for name in LIST_FILTERS if name in query}
            matches = [view for _, view in sorted(table.items()) if view and all(
                str(view["fields"].get(name)) == value for name, value in wanted.items())]
            return self.json({"items": matches[offset:offset + limit], "total": len(matches),
                              "limit": limit, "offset": offset})
