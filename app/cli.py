"""`crm-events`: run the service, with embedded broker and PostgreSQL unless configured."""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
from collections.abc import Iterator

from pydantic import ValidationError

from app.embedded import EmbeddedBroker, EmbeddedPostgres
from app.settings import Settings

log = logging.getLogger("crm_events")


def load_settings() -> Settings:
    try:
        return Settings()
    except ValidationError as error:
        for problem in error.errors():
            variable = "_".join(str(part) for part in problem["loc"]).upper()
            print(f"configuration error: {variable}: {problem['msg']}", file=sys.stderr)
        raise SystemExit(2) from None


@contextlib.contextmanager
def embedded_defaults(settings: Settings) -> Iterator[Settings]:
    """Start what is not configured: a tansu broker and/or PostgreSQL under DATA_DIR."""
    broker = postgres = None
    try:
        env = {}
        if settings.embedded_broker:
            broker = EmbeddedBroker(settings.embedded_broker_port,
                                    settings.data_dir / "broker.log").start()
            env["KAFKA_BROKER_URL"] = broker.url
        if settings.embedded_postgres:
            postgres = EmbeddedPostgres(settings.data_dir / "postgres",
                                        settings.embedded_postgres_port).start()
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


def run_worker(settings: Settings) -> None:
    import faust

    from app.service import build_service

    app, runtime = build_service(settings)
    worker = faust.Worker(app, runtime, loglevel=settings.log_level.upper())
    with contextlib.suppress(SystemExit):  # the worker exits; embedded services stop after
        worker.execute_from_commandline()


def command_run(args: argparse.Namespace) -> None:
    settings = load_settings()
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    with embedded_defaults(settings) as resolved:
        if not resolved.bridge_api_keys:
            print("configuration error: BRIDGE_API_KEYS: at least one key is required",
                  file=sys.stderr)
            raise SystemExit(2)
        print(f"crm-events on http://{resolved.web_host}:{resolved.web_port} "
              f"(broker {resolved.broker_url})", flush=True)
        run_worker(resolved)


def command_worker(args: argparse.Namespace) -> None:
    settings = load_settings()
    if settings.embedded_broker or settings.embedded_postgres:
        print("configuration error: `worker` needs KAFKA_BROKER_URL and DATABASE_URL "
              "(use `run` for embedded defaults)", file=sys.stderr)
        raise SystemExit(2)
    run_worker(settings)


def command_migrate(args: argparse.Namespace) -> None:
    import asyncio

    import asyncpg

    from app.migrate import migrate

    settings = load_settings()

    async def apply() -> int:
        connection = await asyncpg.connect(settings.postgres_dsn)
        try:
            return await migrate(connection)
        finally:
            await connection.close()

    with embedded_defaults(settings) as resolved:
        settings = resolved
        print(f"schema at version {asyncio.run(apply())}")


def command_projections_list(args: argparse.Namespace) -> None:
    from projections.catalog import projections

    for name, projection in projections().items():
        print(f"{name:20} {projection.description.strip().splitlines()[0]}")


def command_projections_rebuild(args: argparse.Namespace) -> None:
    import asyncio

    from tqdm import tqdm

    from app.db import create_pool
    from projections import event_feed, rebuild
    from projections.catalog import projections

    settings = load_settings()
    catalog = projections()
    if args.name not in catalog:
        print(f"no projection {args.name!r}; known: {', '.join(catalog)}", file=sys.stderr)
        raise SystemExit(2)
    projection = catalog[args.name]

    async def run() -> rebuild.RebuildReport:
        pool = await create_pool(settings.postgres_dsn, min_size=1, max_size=2)
        try:
            total = await event_feed.count_after(pool, 0, projection.aggregate_types)
            with tqdm(total=total, unit="ev", unit_scale=True, desc=projection.name,
                      mininterval=0.5) as bar:
                return await rebuild.rebuild(
                    projection, pool, bootstrap=rebuild.bootstrap_servers(settings.broker_url),
                    app_id=settings.app_id, partitions=settings.topic_partitions,
                    replication_factor=settings.topic_replication_factor, progress=bar.update)
        finally:
            await pool.close()

    report = asyncio.run(run())
    print(report.summary())
    print(f"restart the workers to serve generation {report.generation} of {projection.name}; "
          f"they catch up on events recorded after position {report.built_through:,}")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="crm-events", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    commands.add_parser("run", help="run everything (embedded broker/PostgreSQL when unset)"
                        ).set_defaults(func=command_run)
    commands.add_parser("worker", help="run against configured Kafka and PostgreSQL"
                        ).set_defaults(func=command_worker)
    commands.add_parser("migrate", help="apply database migrations").set_defaults(
        func=command_migrate)
    projection_commands = commands.add_parser(
        "projections", help="read-model projections").add_subparsers(dest="action", required=True)
    projection_commands.add_parser("list", help="the projections the service keeps"
                                   ).set_defaults(func=command_projections_list)
    rebuild_parser = projection_commands.add_parser(
        "rebuild", help="replay the event store into a new generation of a projection's table "
                        "(the service keeps serving the current one until restarted)")
    rebuild_parser.add_argument("name", help="projection name (see `projections list`)")
    rebuild_parser.set_defaults(func=command_projections_rebuild)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.getLogger("embedded_postgres").setLevel(logging.WARNING)
    args.func(args)


if __name__ == "__main__":
    main()
