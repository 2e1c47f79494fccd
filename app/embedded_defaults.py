"""What `crm-events run` and `migrate` start when nothing is configured: an embedded tansu
broker and PostgreSQL under DATA_DIR (app/embedded.py), held by this process meanwhile."""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator

from app.command_failures import ConfigurationError
from app.embedded import (
    DataDirInUse,
    EmbeddedBroker,
    EmbeddedPostgres,
    PortInUse,
    hold_data_dir,
)
from app.settings import Settings


@contextlib.contextmanager
def embedded_defaults(settings: Settings, *, broker_needed: bool = True) -> Iterator[Settings]:
    """Start what is not configured: a tansu broker (unless not needed) and/or PostgreSQL under
    DATA_DIR, which this process holds meanwhile."""
    broker_needed = broker_needed and settings.embedded_broker
    if not (broker_needed or settings.embedded_postgres):
        yield settings
        return
    try:
        held = hold_data_dir(settings.data_dir)
    except DataDirInUse as in_use:
        raise ConfigurationError("DATA_DIR", str(in_use)) from None
    broker = postgres = None
    try:
        env = {}
        if broker_needed:
            broker = EmbeddedBroker(settings.embedded_broker_port, settings.data_dir / "broker.log")
            _start(broker, "EMBEDDED_BROKER_PORT")
            env["KAFKA_BROKER_URL"] = broker.url
        if settings.embedded_postgres:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres",
                                        settings.embedded_postgres_port)
            _start(postgres, "EMBEDDED_POSTGRES_PORT")
            env["DATABASE_URL"] = postgres.dsn
        os.environ.update(env)
        resolved = Settings()
        # keep the short consumer timeouts that suit the embedded broker
        if broker is not None:
            resolved = resolved.model_copy(update={
                "kafka_session_timeout_s": resolved.kafka_session_timeout_s or 6.0,
                "kafka_rebalance_timeout_s": resolved.kafka_rebalance_timeout_s or 6.0,
                "kafka_heartbeat_interval_s": resolved.kafka_heartbeat_interval_s or 1.0,
                # tansu answers "latest offset" with the last batch's base offset + 1, so a
                # table's own offset can look ahead of its changelog after a hard stop
                "table_recovery_consistency_check": False,
            })
        yield resolved
    finally:
        if broker is not None:
            broker.stop()
        if postgres is not None:
            postgres.stop()
        held.close()


def _start(service: EmbeddedBroker | EmbeddedPostgres, port_setting: str) -> None:
    with port_of(port_setting):
        service.start()


@contextlib.contextmanager
def port_of(setting: str) -> Iterator[None]:
    """A port found in use is a configuration error naming the setting that chose it."""
    try:
        yield
    except PortInUse as in_use:
        raise ConfigurationError(setting, str(in_use)) from None
