"""Assembles the whole service in one process: bridge, command agents, projection agent,
read API, on one Faust app."""

from __future__ import annotations

import faust

from app.agents import register_command_agents
from app.bridge import register_bridge
from app.faust_app import create_app, declare_topics
from app.runtime import Runtime
from app.settings import Settings
from projections.agents import register_projection_agent
from projections.read_api import register_read_api
from projections.tables import declare_tables


def build_service(settings: Settings) -> tuple[faust.App, Runtime]:
    app = create_app(settings)
    topics = declare_topics(app, settings)
    runtime = Runtime(settings, topics)
    tables = declare_tables(app, settings.topic_partitions)
    register_bridge(app, topics.inbound["salesforce"], settings)
    register_command_agents(app, runtime, settings)
    register_projection_agent(app, topics.domain_events, tables, runtime.history)
    register_read_api(app, tables, runtime.history, is_ready=lambda: runtime.ready)
    return app, runtime
