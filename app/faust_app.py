"""Builds the Faust application and declares its topics, once."""

from __future__ import annotations

from dataclasses import dataclass

import faust

from app.kafka_transport import CRMEventsApp
from app.settings import Settings
from app.table_recovery import CRMTableManager

PROVIDERS = ("salesforce", "hubspot", "pipedrive")

# Table changelog writes wait in Faust's producer buffer; above this many, every stream stops
# until it drains, one message at a time. Faust's default, 100, stalled the command and projection
# agents several times a second (a projection batch writes a changelog message per changed key).
# Commits still flush it first.
PRODUCER_BUFFER_MAX_MESSAGES = 5000

# Offsets are committed by the KAFKA_COMMIT_INTERVAL_S timer. A count-based commit runs inline
# in Faust's fetch loop and first flushes the producer, which under steady load took about a
# second: no message reached any agent meanwhile.
COMMIT_EVERY_MESSAGES = 1_000_000


@dataclass(frozen=True)
class Topics:
    inbound: dict[str, faust.TopicT]
    domain_events: faust.TopicT
    dead_letter: faust.TopicT


def create_app(settings: Settings) -> faust.App:
    session, rebalance, heartbeat = settings.consumer_timeouts()
    app = CRMEventsApp(
        settings.app_id,
        broker=settings.broker_url,
        store=table_store_url(settings.table_store),
        datadir=str(settings.data_dir / "faust"),
        topic_partitions=settings.topic_partitions,
        topic_replication_factor=settings.topic_replication_factor,
        web_enabled=True,
        web_bind=settings.web_host,
        web_port=settings.web_port,
        web_host=settings.web_host,
        autodiscover=False,
        key_serializer="raw",
        value_serializer="raw",
        producer_acks=-1,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=session,
        broker_rebalance_timeout=rebalance,
        broker_heartbeat_interval=heartbeat,
        broker_commit_every=COMMIT_EVERY_MESSAGES,
        broker_commit_interval=settings.kafka_commit_interval_s,
        stream_buffer_maxsize=8192,
        producer_linger=0.002,
        producer_max_batch_size=settings.kafka_producer_max_batch_bytes,
        recovery_consistency_check=settings.table_recovery_consistency_check,
        TableManager=CRMTableManager,
        # request bodies as sent: the webhook endpoints decode them (`webhook_intake.read_body`),
        # where aiohttp would answer a br or zstd body itself in plain text, ignore x-gzip and
        # take a gzip body cut before its checksum as whole
        web_application_options={"handler_args": {"auto_decompress": False}},
    )
    turn_off_faust_pages(app)
    app.fetch_max_wait_ms = settings.kafka_fetch_max_wait_ms
    app.producer_buffer_max_messages = PRODUCER_BUFFER_MAX_MESSAGES
    return app


def turn_off_faust_pages(app: faust.App) -> None:
    """Faust's own pages would read any table key (`/table/...`), show the cluster (`/router/`,
    `/assignment/`) and its sensors, none asking for the read API's key; routing a read to a
    key's owner does not need them. Set on the settings object after creation: Faust's own
    environment variables (APP_WEB_TABLES_ENABLED, APP_DEBUG...) win over its arguments."""
    for page in ("web_tables_enabled", "web_router_enabled", "web_stats_enabled",
                 "web_graph_enabled", "web_metrics_enabled"):
        setattr(app.conf, page, False)


def table_store_url(table_store: str) -> str:
    """Faust's store URL: its `rocksdb://` store runs on the rocksdict driver when installed."""
    return "rocksdb://" if table_store == "rocksdict://" else table_store


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    def topic(name: str) -> faust.TopicT:
        return app.topic(name, key_type=bytes, value_type=bytes,
                         partitions=settings.topic_partitions)

    return Topics(
        inbound={provider: topic(settings.inbound_topic(provider)) for provider in PROVIDERS},
        domain_events=topic(settings.domain_events_topic),
        dead_letter=topic(settings.dead_letter_topic),
    )
