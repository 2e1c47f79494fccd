"""The read API, served from the projections' tables (and the event store for audit history).

A record by id is routed to the worker owning its partition (`app.table_route`); lists, lookups
by external id, aggregate views and progress are gathered from every owner (`Cluster`).
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp
import faust
from faust.web import Request, Response, View
from multidict import MultiMapping
from yarl import URL

from app.json_errors import RETRY_LATER
from projections.advances import TableAdvances
from projections.cluster import (
    LOCAL_SCOPE,
    Cluster,
    LocalAnswer,
    NotServedHere,
    PartitionsUnavailable,
    PeerUnavailable,
)
from projections.entry import visible
from projections.projector import is_record_key
from projections.queries import (
    local_lookup,
    local_page,
    local_progress,
    merge_pages,
    merge_progress,
    merge_totals,
)
from projections.query_params import check_names, integer, seconds
from projections.read_access import ReadAccess
from projections.tables import ProjectionTable, ProjectionTables

DEFAULT_PAGE = 100
MAX_PAGE = 500
PAGING = ("limit", "after", "scope")
MAX_HISTORY_PAGE = 1000  # events of one aggregate's audit history per answer (and the default)
MAX_VERSION = 2**31 - 1  # an event's version is a PostgreSQL integer
LOOKUP = ("provider", "external_id")
WAITING = ("min_version", "wait")
MAX_WAIT_S = 10.0
PEER_RECHECK_S = 0.05  # how often a waiting lookup asks the other workers again

EventsAfter = Callable[[int, frozenset[str]], Awaitable[int]]
# an aggregate's stored events after a version, at most a limit, in version order
HistoryPage = Callable[[str, int, int], Awaitable[list[Mapping[str, Any]]]]
ConsumerLag = Callable[[set[int]], dict[str, int]]


def register_read_api(app: faust.App, tables: ProjectionTables, cluster: Cluster,
                      history: HistoryPage, events_after: EventsAfter,
                      consumer_lag: ConsumerLag, is_ready: Callable[[], bool],
                      access: ReadAccess | None = None,
                      advances: TableAdvances | None = None) -> None:
    """`access`: the keys GET read endpoints require (default: open); /health stays open.
    `advances`: the projection agent's writes, which reads waiting for a version wait for."""
    access = access or ReadAccess()
    advances = advances or TableAdvances()

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            if is_ready():
                return self.json({"status": "ok"})
            return self.json({"status": "starting"}, status=503)

    @app.page("/aggregates/{aggregate_id}/events")
    @access.guard
    class AggregateEvents(View):
        async def get(self, request: Request, aggregate_id: str) -> Response:
            try:
                after, limit = _history_page(request.query)
            except ValueError as error:
                return self.error(400, str(error))
            # aggregate ids are UUIDs: anything else is unknown (not a database error, a 500)
            known = _canonical_uuid(aggregate_id)
            # one more than a page: whether there is a next one
            events = await history(known, after, limit + 1) if known else []
            if not events and not (after and known and await history(known, 0, 1)):
                return self.error(404, f"no events for aggregate {aggregate_id}")
            page = events[:limit]  # empty past the end of a history
            return self.json({"aggregate_id": known, "events": page, "limit": limit,
                              "next": page[-1]["version"] if len(events) > limit else None})

    @app.page("/views/{view}")
    @access.guard
    class AggregateView(View):
        async def get(self, request: Request, view: str) -> Response:
            try:
                _checked(request.query, ("scope",))
            except ValueError as error:
                return self.error(400, str(error))
            table = tables.with_view(view)
            if table is None:
                return self.error(404, f"no view {view!r}")
            answers = await _gather(self, cluster, table, request,
                                    lambda parts: local_progress(table.table.get, parts),
                                    access=access)
            if not isinstance(answers, list):  # an answer already (scope=local, an error)
                return answers
            dimension = table.projection.views[view]
            return self.json({"view": view, "dimension": dimension,
                              "rows": merge_totals(answers, dimension)})

    @app.page("/projections")
    @access.guard
    class Projections(View):
        async def get(self, request: Request) -> Response:
            try:
                _checked(request.query, ("scope", "projection"))
            except ValueError as error:
                return self.error(400, str(error))
            wanted = request.query.get("projection")
            if wanted is not None and wanted not in tables:
                return self.error(404, f"no projection {wanted!r}; known: {sorted(tables)}")
            if request.query.get("scope") == LOCAL_SCOPE:  # one projection, asked by a peer
                if wanted is None:
                    return self.error(400, "scope=local needs projection=NAME")
                table = tables[wanted]
                return await _gather(self, cluster, table, request, _progress_answer(table),
                                     access=access)
            report = {}
            for name, table in tables.items():
                if wanted is not None and name != wanted:
                    continue
                answers = await _gather(self, cluster, table, request, _progress_answer(table),
                                        url=request.url.update_query(projection=name),
                                        access=access)
                if not isinstance(answers, list):  # an answer already (scope=local, an error)
                    return answers
                progress = merge_progress(answers)
                report[name] = {
                    "generation": table.generation,
                    "table": table.table.name,
                    **progress,
                    "store_events_after": await events_after(
                        progress["last_position"], table.projection.aggregate_types),
                    "consumer_lag": sum(lag for answer in answers
                                        for lag in answer["consumer_lag"].values()),
                }
            return self.json({"projections": report})

    def _progress_answer(table: ProjectionTable) -> LocalAnswer:
        return lambda parts: {**local_progress(table.table.get, parts),
                              "consumer_lag": consumer_lag(parts)}

    for table in tables.values():
        if table.projection.collection:
            _register_collection(app, table, cluster, access, advances)


def _register_collection(app: faust.App, table: ProjectionTable, cluster: Cluster,
                         access: ReadAccess, advances: TableAdvances) -> None:
    collection = table.projection.collection
    store = table.table
    allowed = set(table.projection.filters) | set(PAGING) | set(LOOKUP) | set(WAITING)

    @app.table_route(table=store, match_info="aggregate_id")
    async def routed_get(view: View, request: Request, aggregate_id: str) -> Response:
        try:
            wanted = Wanted.of(request.query)
        except ValueError as error:
            return view.error(400, str(error))

        async def read() -> dict[str, Any] | None:
            # asked again after every wake-up: a rebalance may have moved the key meanwhile
            cluster.check_serves(table, aggregate_id)
            return visible(store.get(aggregate_id)) if is_record_key(aggregate_id) else None

        try:
            found = await advances.until(read, wanted.reached, table.name, wanted.wait_s)
        except NotServedHere as error:
            return view.error(503, str(error), headers=RETRY_LATER)
        if found is None:
            return view.error(404, f"no {collection} record {aggregate_id}")
        return view.json(found)

    @app.page(f"/{collection}/{{aggregate_id}}", name=f"{collection}-by-id")
    @access.guard
    class ById(View):
        async def get(self, request: Request, aggregate_id: str) -> Response:
            try:
                check_names(request.query, WAITING)
            except ValueError as error:
                return self.error(400, str(error))
            canonical = _canonical_uuid(aggregate_id)
            if canonical is not None and canonical != aggregate_id:
                # keys are ids as the API writes them, and a key's partition (so the worker a
                # read is routed to) comes from its text: another form is sent to this one
                location = request.rel_url.with_path(f"/{collection}/{canonical}").with_query(
                    request.query)
                return self.error(308, f"the id is written {canonical}",
                                  headers={"Location": str(location)})
            await _know_partitions(app, store)
            try:  # Faust forwards a key another worker owns to that worker
                return await routed_get(self, request, aggregate_id=aggregate_id)
            except (aiohttp.ClientError, TimeoutError) as error:
                return self.error(503, f"the worker owning {aggregate_id} did not answer "
                                       f"({type(error).__name__}: rebalancing?); retry",
                                  headers=RETRY_LATER)

    @app.page(f"/{collection}", name=f"{collection}-list")
    @access.guard
    class Listing(View):
        async def get(self, request: Request) -> Response:
            query = request.query
            try:
                _checked(query, allowed)
            except ValueError as error:
                return self.error(400, str(error))
            provider, external_id = query.get("provider"), query.get("external_id")
            # given, even empty, they ask for one record: never answered with the whole list
            if provider is not None or external_id is not None:
                if not (provider and external_id):
                    return self.error(400, "provider and external_id go together, "
                                           "neither empty")
                extra = sorted(set(query) - {*LOOKUP, *WAITING, "scope"})
                if extra:
                    return self.error(400, f"a lookup by provider and external_id takes "
                                           f"min_version and wait, not {extra}")
                return await self.lookup(request, f"{provider}:{external_id}")
            if set(WAITING) & set(query):
                return self.error(400, "min_version and wait go with a lookup by provider and "
                                       "external_id, or a record by id")
            try:
                limit = integer(query, "limit", DEFAULT_PAGE, 1, MAX_PAGE)
            except ValueError as error:
                return self.error(400, str(error))
            after = query.get("after")
            filters = {name: query[name] for name in table.projection.filters if name in query}
            answers = await _gather(self, cluster, table, request, lambda parts: local_page(
                store.items(), parts, filters, after, limit), access=access)
            if not isinstance(answers, list):  # an answer already (scope=local, an error)
                return answers
            return self.json(merge_pages(answers, limit))

        async def lookup(self, request: Request, secondary: str) -> Response:
            try:
                wanted = Wanted.of(request.query)
            except ValueError as error:
                return self.error(400, str(error))

            answered: list[Response] = []  # an answer already (asked with scope=local, an error)

            async def read() -> dict[str, Any] | None:
                answers = await _gather(self, cluster, table, request, lambda parts: (
                    local_lookup(table.projection, store.get, parts, secondary)), access=access)
                if not isinstance(answers, list):
                    answered.append(answers)
                    return None
                return next((item for answer in answers for item in answer["items"]), None)

            # A peer asked with scope=local answers at once: the asking worker does the waiting,
            # asking again on its own writes and every PEER_RECHECK_S for the other workers'.
            found = await advances.until(
                read, lambda found: bool(answered) or wanted.reached(found), table.name,
                wanted.wait_s, recheck_s=PEER_RECHECK_S if cluster.has_peers(table) else None)
            if answered:
                return answered[-1]
            if found is None:
                return self.error(404, f"no {collection} record {secondary}")
            return self.json(found)


@dataclass(frozen=True)
class Wanted:
    """`?min_version=N&wait=S`: answer once the record is visible at version N or later (1 if
    only `wait` is given), waiting at most S seconds (read-your-writes); after that, the answer
    as it stands (404, or the record at the version it has reached)."""

    min_version: int = 1
    wait_s: float = 0.0

    @classmethod
    def of(cls, query: MultiMapping[str]) -> Wanted:
        return cls(integer(query, "min_version", 1, 1), seconds(query, "wait", MAX_WAIT_S))

    def reached(self, found: Mapping[str, Any] | None) -> bool:
        return found is not None and found["version"] >= self.min_version


def _history_page(query: MultiMapping[str]) -> tuple[int, int]:
    """`after` (a version, 0: from the start) and `limit` of an audit history page."""
    check_names(query, ("after", "limit"))
    return (integer(query, "after", 0, 0, MAX_VERSION),
            integer(query, "limit", MAX_HISTORY_PAGE, 1, MAX_HISTORY_PAGE))


def _checked(query: MultiMapping[str], allowed: Iterable[str]) -> None:
    """Raise `ValueError` unless the query holds only `allowed` names, once each, and a
    `scope` (a peer's question) is `local`."""
    check_names(query, allowed)
    if query.get("scope", LOCAL_SCOPE) != LOCAL_SCOPE:
        raise ValueError(f"scope must be {LOCAL_SCOPE!r} (a worker's own partitions)")


def _canonical_uuid(text: str) -> str | None:
    """The id in PostgreSQL's form, or None if it is no UUID (Python's parser also takes
    forms PostgreSQL refuses, such as `urn:uuid:...`)."""
    try:
        return str(uuid.UUID(text))
    except ValueError:
        return None


async def _gather(view: View, cluster: Cluster, table: ProjectionTable, request: Request,
                  answer: LocalAnswer, url: URL | None = None, *, access: ReadAccess
                  ) -> list[Mapping[str, Any]] | Response:
    """This worker's answer alone (as the response) when asked with scope=local, else every
    owner's answer, fetched from `url` (default: the request's own URL)."""
    if request.query.get("scope") == LOCAL_SCOPE:
        return view.json(cluster.local(table, answer))
    try:
        return await cluster.gather(table, url or request.url, answer,
                                    headers=access.forwarded_headers(request))
    except (PartitionsUnavailable, PeerUnavailable) as error:
        return view.error(503, str(error), headers=RETRY_LATER)


async def _know_partitions(app: faust.App, store: faust.types.TableT) -> None:
    """Faust routes a key by the producer's metadata of the table's changelog topic, which the
    producer fetches only when it first writes there: a read before that write would fail."""
    topic = store.changelog_topic.get_topic_name()
    producer = app.producer._ensure_producer()  # the aiokafka producer Faust routes with
    if producer._metadata.partitions_for_topic(topic) is None:
        await producer.partitions_for(topic)
