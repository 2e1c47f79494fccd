"""All configuration, from environment variables, validated once at start.

A bad value stops the service with a message naming the variable.
"""

from __future__ import annotations

import re
from functools import cached_property
from pathlib import Path
from typing import Annotated

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

# host:port (the port may be left out), as Faust and the Kafka clients take it; IPv6 in brackets
BROKER_ADDRESS = re.compile(r"(?i:kafka://)?(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9._-]+)(:[0-9]{1,5})?")
POSTGRES_SCHEMES = ("postgresql://", "postgres://")


class Settings(BaseSettings):
    # `inf` and `nan` are no durations or sizes
    model_config = SettingsConfigDict(env_prefix="", case_sensitive=False, extra="ignore",
                                      allow_inf_nan=False)

    app_id: str = Field("crm-events", description="Faust application id (consumer group prefix)")
    kafka_broker_url: str | None = Field(
        None, description="Kafka bootstrap servers, e.g. kafka://k1:9092;k2:9092; unset = embedded"
    )
    database_url: SecretStr | None = Field(
        None, description="PostgreSQL URL, e.g. postgresql://user:pw@host/db; unset = embedded"
    )
    data_dir: Path = Field(Path(".run"), description="Embedded broker/PostgreSQL data and tables")
    embedded_broker_port: int = Field(19092, ge=1, le=65535)
    embedded_postgres_port: int = Field(15432, ge=1, le=65535)

    web_host: str = Field("127.0.0.1", description="Address the HTTP server binds")
    web_port: int = Field(6066, ge=1, le=65535, description="Bridge and read API port")
    bridge_port: int = Field(6067, ge=1, le=65535, description="Port of `crm-events bridge`, "
                             "the webhook endpoints in a process of their own")
    bridge_linger_ms: float = Field(
        20, ge=0, le=1000, description="How long the bridge process's producer gathers posts "
        "into one batch per partition before sending (each post's 202 waits for its batch's ack)")
    bridge_batch_records: int = Field(
        8, ge=1, description="The bridge process sends a partition's batch as soon as it holds "
        "this many events, before BRIDGE_LINGER_MS ends")
    bridge_process: bool = Field(True, description="`crm-events run` also starts a bridge "
                                 "process on BRIDGE_PORT")
    bridge_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated keys accepted in X-API-Key"
    )
    read_api_keys: Annotated[list[SecretStr], NoDecode] = Field(
        default_factory=list, description="Comma-separated keys the read API requires in "
        "X-API-Key; unset = the read API is open (health, readiness and metrics always are)"
    )
    max_body_bytes: int = Field(512 * 1024, ge=1024, description="Largest accepted request body")
    body_read_timeout_s: float = Field(
        30.0, gt=0, description="Longest wait for a request body's bytes before answering 408"
    )
    bridge_ack_timeout_s: float = Field(
        4.0, gt=0, description="Longest wait for the broker's ack before answering 503"
    )

    topic_partitions: int = Field(4, ge=1, le=1024)
    topic_replication_factor: int = Field(1, ge=1)
    inbound_topic_prefix: str = "crm.inbound."
    domain_events_topic: str = "crm.domain-events"
    dead_letter_topic: str = "crm.dead-letter"
    table_recovery_consistency_check: bool = Field(
        True, description="Refuse to start when a table's local offset is past its changelog's "
        "end; `crm-events run` turns it off on the embedded broker, which under-reports ends")
    table_store: str = Field(
        "rocksdict://", pattern="^(rocksdict|rocksdb|memory)://$",
        description="Read-model tables: rocksdict:// (RocksDB files under DATA_DIR, topped up "
                    "from the changelog at start) or memory:// (rebuilt from the changelog)",
    )
    kafka_session_timeout_s: float | None = Field(
        None, gt=0, description="Consumer session timeout; unset = 6 embedded, 30 on real Kafka"
    )
    kafka_fetch_max_wait_ms: int = Field(
        10, ge=1, le=30_000, description="Longest a fetch waits for data (latency per hop)"
    )
    kafka_producer_max_batch_bytes: int = Field(
        1_000_000, ge=16_384, description="Largest batch the producers send to one partition "
        "(keep it under the topics' max.message.bytes, 1 MB by default)")
    kafka_commit_interval_s: float = Field(
        1.0, gt=0, description="How often processed offsets are committed (a restart or "
        "takeover reprocesses at most this much; commands are idempotent)")
    kafka_rebalance_timeout_s: float | None = Field(None, gt=0)
    kafka_heartbeat_interval_s: float | None = Field(None, gt=0)

    db_pool_min: int = Field(2, ge=1)
    db_pool_max: int = Field(10, ge=1)
    db_command_timeout_s: float = Field(30.0, gt=0)
    snapshot_every: int = Field(100, ge=1, description="Snapshot an aggregate every N events")
    command_batch_size: int = Field(500, ge=1)
    command_batch_within_s: float = Field(0.01, gt=0)
    command_max_retries: int = Field(5, ge=0)
    projection_batch_size: int = Field(
        500, ge=1, description="Most domain events projected together (each table key written "
        "once per batch and partition)")
    projection_batch_within_s: float = Field(0.01, gt=0, description="Longest wait to fill a "
                                                                     "projection batch")
    projection_entries_kept: int = Field(
        20_000, ge=0, description="Table values the projection agent keeps per table, "
        "encoded (what it last wrote or read; forgotten on every rebalance)")
    outbox_relay_interval_s: float = Field(5.0, gt=0)
    outbox_stale_after_s: float = Field(10.0, ge=0)
    aggregate_cache_size: int = Field(10_000, ge=0)
    failpoint: str | None = Field(
        None, pattern="^crash_after_commit$",
        description="Reliability tests only: crash_after_commit kills the process (SIGKILL) "
                    "right after events are committed, before they are published",
    )

    salesforce_instance_url: str | None = None
    salesforce_session_id: SecretStr | None = None
    salesforce_username: str | None = None
    salesforce_password: SecretStr | None = None
    salesforce_security_token: SecretStr | None = None
    salesforce_domain: str = "login"
    salesforce_api_version: str = "64.0"
    salesforce_timeout_s: float = Field(10.0, gt=0)
    salesforce_max_retries: int = Field(3, ge=0)

    hubspot_client_secret: SecretStr | None = Field(
        None, description="HubSpot app client secret: signs X-HubSpot-Signature-v3; unset = "
        "POST /events/hubspot/ is disabled")
    hubspot_webhook_url: str | None = Field(
        None, description="The target URL as configured in HubSpot, when a proxy changes the "
        "one requests arrive at (the v3 signature covers it); unset = the request's own URL")
    hubspot_access_token: SecretStr | None = Field(
        None, description="HubSpot private app / OAuth token, to read records the webhooks "
        "only name")
    hubspot_api_url: str = Field("https://api.hubapi.com", description="HubSpot API base URL")
    hubspot_timeout_s: float = Field(10.0, gt=0)
    hubspot_max_retries: int = Field(3, ge=0)
    pipedrive_webhook_user: str | None = Field(
        None, description="HTTP basic auth user Pipedrive sends (http_auth_user of the webhook)")
    pipedrive_webhook_password: SecretStr | None = Field(
        None, description="HTTP basic auth password; unset (or no user) = POST "
        "/events/pipedrive/ is disabled")

    log_level: str = Field("info", pattern="^(?i)(debug|info|warning|error|critical)$")
    log_format: str = Field(
        "json", pattern="^(json|text)$",
        description="json: one JSON object per line with the correlation id; text: for people")
    otel_enabled: bool = Field(False, description="OpenTelemetry tracing (needs the `tracing` "
                                                  "extra installed)")
    otel_exporter_otlp_endpoint: str | None = Field(
        None, description="OTLP/HTTP collector, e.g. http://otel-collector:4318; unset = spans "
                          "printed to stdout as JSON lines")
    otel_service_name: str | None = Field(None, description="service.name of spans; unset = "
                                                            "APP_ID")
    readiness_timeout_s: float = Field(
        2.0, gt=0, description="Longest each /ready check (broker, PostgreSQL) may take")

    @field_validator("kafka_broker_url", "database_url", mode="before")
    @classmethod
    def empty_means_unset(cls, value: object) -> object:
        """`KAFKA_BROKER_URL=` (an .env line left blank) is unset: embedded, as documented."""
        return None if isinstance(value, str) and not value.strip() else value

    @field_validator("kafka_broker_url")
    @classmethod
    def broker_addresses(cls, value: str | None) -> str | None:
        if value is not None and not all(
                BROKER_ADDRESS.fullmatch(address.strip())
                for address in value.replace(";", ",").split(",")):
            raise ValueError("expected kafka://host:port, several separated by ; or , "
                             "(the kafka:// prefix may be left out)")
        return value

    @field_validator("database_url")
    @classmethod
    def postgres_scheme(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith(POSTGRES_SCHEMES):
            raise ValueError("expected postgresql://user:password@host:port/database")
        return value

    @field_validator("hubspot_client_secret", "pipedrive_webhook_user",
                     "pipedrive_webhook_password", mode="before")
    @classmethod
    def not_blank(cls, value: object) -> object:
        """A blank secret would let anyone sign or log in with it: unset turns the endpoint off."""
        if isinstance(value, str) and not value.strip():
            raise ValueError("must not be blank (unset it to turn the endpoint off)")
        return value

    @model_validator(mode="after")
    def consistent(self) -> Settings:
        if self.db_pool_min > self.db_pool_max:
            raise ValueError(f"DB_POOL_MIN ({self.db_pool_min}) is above DB_POOL_MAX "
                             f"({self.db_pool_max})")
        if self.domain_events_topic == self.dead_letter_topic:
            raise ValueError("DOMAIN_EVENTS_TOPIC and DEAD_LETTER_TOPIC must differ")
        return self

    @field_validator("bridge_api_keys", "read_api_keys", mode="before")
    @classmethod
    def split_keys(cls, value: object) -> object:
        if isinstance(value, str):
            return [key.strip() for key in value.split(",") if key.strip()]
        return value

    @property
    def embedded_broker(self) -> bool:
        return self.kafka_broker_url is None

    @property
    def embedded_postgres(self) -> bool:
        return self.database_url is None

    @property
    def broker_url(self) -> str:
        return self.kafka_broker_url or f"kafka://127.0.0.1:{self.embedded_broker_port}"

    @property
    def postgres_dsn(self) -> str:
        if self.database_url is not None:
            return self.database_url.get_secret_value()
        return f"postgresql://postgres@127.0.0.1:{self.embedded_postgres_port}/postgres"

    @cached_property
    def api_keys(self) -> tuple[bytes, ...]:
        return tuple(key.get_secret_value().encode() for key in self.bridge_api_keys)

    @cached_property
    def read_keys(self) -> tuple[bytes, ...]:
        return tuple(key.get_secret_value().encode() for key in self.read_api_keys)

    def inbound_topic(self, provider: str) -> str:
        return f"{self.inbound_topic_prefix}{provider}"

    def consumer_timeouts(self) -> tuple[float, float, float]:
        """Session, rebalance and heartbeat: short on the embedded broker (fast joins)."""
        fast = self.embedded_broker
        return (
            self.kafka_session_timeout_s or (6.0 if fast else 30.0),
            self.kafka_rebalance_timeout_s or (6.0 if fast else 60.0),
            self.kafka_heartbeat_interval_s or (1.0 if fast else 3.0),
        )
