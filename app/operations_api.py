"""Endpoints for operators, not for clients: `GET /metrics` (Prometheus) and `GET /ready`; and
the bridge's observation (events received by provider and status, its trace span), done once in
an aiohttp middleware so that every provider's endpoint is covered without touching its view."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping

import faust
from aiohttp import web
from faust.types import TP
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, generate_latest

from app import metrics, tracing
from app.json_errors import json_errors
from app.readiness import BrokerCheck, Check, DatabaseCheck, readiness, tables_check
from app.runtime import Runtime
from app.settings import Settings
from projections.agents import ConsumedOffsets
from projections.rebuild import bootstrap_servers

BRIDGE_PREFIX = "/events/"


def register_operations_api(app: faust.App, runtime: Runtime, settings: Settings,
                            projected: ConsumedOffsets) -> None:
    """`projected`: what the projection agent has applied, for the projection lag."""
    broker = BrokerCheck(bootstrap_servers(settings.broker_url), settings.readiness_timeout_s)
    checks = [broker, DatabaseCheck(lambda: runtime.pool, settings.readiness_timeout_s),
              tables_check(lambda: tables_pending(app, runtime))]
    consumed_topics = {*(t.get_topic_name() for t in runtime.topics.inbound.values()),
                       runtime.topics.domain_events.get_topic_name()}
    domain_events = runtime.topics.domain_events
    metrics.LAGS.watch(
        consumer_lag=lambda: consumer_lag(app.consumer, consumed_topics),
        projection_lag=lambda: projection_lag(app.consumer, domain_events, projected))
    register_probes(app, broker, checks, frozenset(runtime.topics.inbound), consumed_topics)


def register_probes(app: faust.App, broker: BrokerCheck, checks: list[Check],
                    providers: frozenset[str], consumed_topics: Iterable[str] = ()) -> None:
    """What every process serves to operators (the worker and `crm-events bridge`): the
    bridge's observation, errors as JSON, `GET /metrics` (its counters at 0 from the start, for
    `providers` and the `consumed_topics`) and `GET /ready` over `checks`; `broker`'s client is
    closed on shutdown."""
    app.web.web_app.middlewares.extend([observe_bridge(providers), json_errors])
    metrics.start_at_zero(providers, consumed_topics)

    @app.on_before_shutdown.connect
    async def close_readiness_client(sender: faust.App, **kwargs: object) -> None:
        await broker.close()

    @app.page("/metrics")
    class Metrics(View):
        async def get(self, request: Request) -> Response:
            return self.bytes(generate_latest(REGISTRY),
                              headers={"Content-Type": CONTENT_TYPE_LATEST})

    @app.page("/ready")
    class Ready(View):
        async def get(self, request: Request) -> Response:
            ready, report = await readiness(checks)
            return self.json({"status": "ready" if ready else "not ready", "checks": report},
                             status=200 if ready else 503)


def tables_pending(app: faust.App, runtime: Runtime) -> str | None:
    """None once the tables are recovered and the worker finished starting."""
    if not runtime.ready:
        return "worker still starting"
    if not app.tables.recovery.completed.is_set():
        return "tables recovering from their changelogs"
    if app.in_recovery:  # after a rebalance moved table partitions here
        return "tables recovering new partitions from their changelogs"
    return None


def projection_lag(consumer: object, domain_events: faust.TopicT, projected: ConsumedOffsets
                   ) -> dict[tuple[str, str], int]:
    topic = domain_events.get_topic_name()
    try:
        owned = {tp.partition for tp in consumer.assignment() if tp.topic == topic}
    except Exception:  # not started yet, or stopping
        return {}
    return {(topic, partition): lag
            for partition, lag in projected.lag(consumer, domain_events, owned).items()}


def consumer_lag(consumer: object, topics: set[str]) -> dict[tuple[str, str], int]:
    """Per owned partition: the end offset minus the committed one (what is left to do).

    Faust keeps committed and read offsets in private maps. Before a partition's first commit
    the offset after the last one read counts, and before any read the partition's start
    (offset 0: an upper bound where retention removed older messages)."""
    try:
        assignment = consumer.assignment()
    except Exception:  # not started yet, or stopping
        return {}
    committed: Mapping[TP, int | None] = getattr(consumer, "_committed_offset", {})
    read: Mapping[TP, int | None] = getattr(consumer, "_read_offset", {})
    lags = {}
    for tp in assignment:
        end = consumer.highwater(tp)
        if tp.topic not in topics or end is None:
            continue
        done = committed.get(tp)
        if done is None:
            last_read = read.get(tp)
            done = 0 if last_read is None else last_read + 1
        lags[(tp.topic, str(tp.partition))] = max(0, end - done)
    return lags


def observe_bridge(providers: frozenset[str]) -> Callable:
    """Count and trace every request to a provider endpoint (POST /events/<provider>/)."""

    @web.middleware
    async def middleware(request: web.Request,
                         handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
                         ) -> web.StreamResponse:
        if not request.path.startswith(BRIDGE_PREFIX):
            return await handler(request)
        name = request.path[len(BRIDGE_PREFIX):].strip("/")
        provider = name if name in providers else "unknown"  # label values stay a fixed set
        status = 500
        with tracing.span(f"{request.method} {BRIDGE_PREFIX}{provider}/", {
                "http.request.method": request.method, "url.path": request.path,
                "crm.provider": provider}, kind="SERVER") as current:
            try:
                response = await handler(request)
                status = response.status
                return response
            except web.HTTPException as error:
                status = error.status
                raise
            finally:
                metrics.BRIDGE_EVENTS.labels(provider, str(status)).inc()
                tracing.record_status(current, status)

    return middleware
