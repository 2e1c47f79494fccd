"""The bridge on its own: a producer-only process that serves the provider webhook endpoints
and nothing else (`crm-events bridge`).

The worker serves the same endpoints, so one process is enough to run everything; a bridge
process of its own keeps the webhook answers off the event loop that runs the command and
projection agents (their batches stalled the answers), uses another core, and scales with the
request rate instead of the partitions. It never joins the consumer group and needs no database.
"""

from __future__ import annotations

import faust
from faust.web import Request, Response, View

from app.bridge import register_bridge
from app.faust_app import create_app, declare_topics
from app.hubspot_bridge import register_hubspot_bridge
from app.operations_api import register_probes
from app.pipedrive_bridge import register_pipedrive_bridge
from app.readiness import BrokerCheck
from app.settings import Settings
from projections.rebuild import bootstrap_servers


def build_bridge(settings: Settings) -> faust.App:
    app = create_app(settings)
    # after creation: Faust reads WEB_PORT from the environment itself, over any argument, and
    # in `make run` that variable is the worker's port
    app.conf.web_port = settings.bridge_port
    app.producer_only = True  # web server and producer: no consumer, agents or tables
    # Fewer, larger batches: the embedded broker's cost to fetch from a partition grows with
    # the batches it holds (its CPU tripled over a 20 s run at 1,000 posts/s with the worker's
    # 2 ms); a batch with records enough goes at once (`app.counted_linger`)
    app.conf.producer_linger = settings.bridge_linger_ms / 1000
    app.producer_batch_records = settings.bridge_batch_records
    inbound = declare_topics(app, settings).inbound
    register_bridge(app, inbound["salesforce"], settings)
    register_hubspot_bridge(app, inbound["hubspot"], settings)
    register_pipedrive_bridge(app, inbound["pipedrive"], settings)
    _register_operations(app, settings, frozenset(inbound))
    return app


def _register_operations(app: faust.App, settings: Settings, providers: frozenset[str]) -> None:
    broker = BrokerCheck(bootstrap_servers(settings.broker_url), settings.readiness_timeout_s)
    register_probes(app, broker, [broker], providers)

    @app.page("/health")
    class Health(View):
        async def get(self, request: Request) -> Response:
            return self.json({"status": "ok", "role": "bridge"})
