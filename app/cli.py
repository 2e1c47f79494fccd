"""`crm-events`: run the service, with embedded broker and PostgreSQL unless configured."""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import logging
import logging.config
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

from app.command_failures import (
    ConfigurationError,
    check_services,
    connect_database,
    fail,
    failures_in_one_line,
    load_settings,
)
from app.dead_letter_commands import add_dead_letter_commands
from app.embedded import require_free
from app.embedded_defaults import embedded_defaults, port_of
from app.send_samples import add_send_samples_command
from app.settings import Settings
from app.status_command import add_status_command

log = logging.getLogger("crm_events")
PR_SET_PDEATHSIG = 1  # prctl(2)


def require_bridge_keys(settings: Settings) -> None:
    if not settings.bridge_api_keys:
        raise ConfigurationError("BRIDGE_API_KEYS", "at least one key is required")


def run_worker(settings: Settings) -> None:
    import faust

    from app import tracing
    from app.event_loop import use_uvloop
    from app.gc_tuning import tune_for_streaming
    from app.service import build_service
    from app.structured_logging import logging_config
    from app.topic_check import require_topic_partitions

    make_data_dir(settings)
    require_topic_partitions(settings)
    use_uvloop()
    app, runtime = build_service(settings)
    tracing.configure(settings)
    tune_for_streaming()
    # Faust's worker replaces the root logger's handlers at start: it must get ours
    worker = faust.Worker(app, runtime, loglevel=settings.log_level.upper(),
                          logging_config=logging_config(settings.log_format, settings.log_level))
    try:
        run_until_stopped(worker)
    finally:
        tracing.shutdown()


def run_bridge(settings: Settings) -> None:
    import faust

    from app import tracing
    from app.bridge_service import build_bridge
    from app.event_loop import use_uvloop
    from app.gc_tuning import tune_for_streaming
    from app.structured_logging import logging_config

    make_data_dir(settings)
    use_uvloop()
    app = build_bridge(settings)
    tracing.configure(settings)
    tune_for_streaming()
    worker = faust.Worker(app, loglevel=settings.log_level.upper(),
                          logging_config=logging_config(settings.log_format, settings.log_level))
    try:
        run_until_stopped(worker)
    finally:
        tracing.shutdown()


def run_until_stopped(worker: Any) -> None:
    """Run a Faust worker until it exits. A clean stop returns (so the embedded services stop
    after it); a crash keeps its non-zero exit code, which restart policies go by. The warnings
    mode writes straight to stderr (`-INT-` on Ctrl-C) become log lines like every other."""
    worker.carp = lambda message: log.warning("%s", message)
    try:
        worker.execute_from_commandline()
    except SystemExit as stop:
        if stop.code not in (None, 0):
            raise


@contextlib.contextmanager
def bridge_process(settings: Settings) -> Iterator[None]:
    """`crm-events bridge` as a child process, on the resolved broker, stopped on the way out."""
    if not settings.bridge_process:
        yield
        return
    child = subprocess.Popen([sys.executable, "-m", "app", "bridge"],
                             env={**os.environ, "KAFKA_BROKER_URL": settings.broker_url},
                             preexec_fn=_die_with_parent)
    try:
        yield
    finally:
        child.terminate()
        try:
            child.wait(timeout=15)
        except subprocess.TimeoutExpired:
            child.kill()


def _die_with_parent() -> None:
    """In the bridge child, before it runs: the kernel sends it SIGTERM when `run` ends,
    however it ends (a SIGKILLed run left its bridge holding BRIDGE_PORT)."""
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)


def _stop_while_starting(signum: int, frame: object) -> None:
    # until Faust's worker handles SIGTERM itself: stop what was started, leave no orphans
    raise SystemExit(128 + signum)


def log_as_the_service(settings: Settings) -> None:
    """The service's log format from its first line (LOG_FORMAT=json: one JSON object a line),
    not only once Faust's worker has set it up: start-up retries and failures are lines too."""
    from app.structured_logging import logging_config

    logging.config.dictConfig(logging_config(settings.log_format, settings.log_level))


def command_run(args: argparse.Namespace) -> None:
    settings = load_settings()
    log_as_the_service(settings)
    require_bridge_keys(settings)
    ports = {"WEB_PORT": settings.web_port}
    if settings.bridge_process:
        if settings.bridge_port == settings.web_port:
            raise ConfigurationError("BRIDGE_PORT", "must differ from WEB_PORT")
        ports["BRIDGE_PORT"] = settings.bridge_port
    for setting, port in ports.items():
        with port_of(setting):
            require_free(port)
    signal.signal(signal.SIGTERM, _stop_while_starting)
    make_data_dir(settings)
    with embedded_defaults(settings) as resolved:
        print(f"crm-events on http://{resolved.web_host}:{resolved.web_port} "
              f"(broker {resolved.broker_url})", flush=True)
        if resolved.bridge_process:
            print(f"webhook bridge on http://{resolved.web_host}:{resolved.bridge_port}"
                  "/events/<provider>/", flush=True)
        with bridge_process(resolved):
            run_worker(resolved)


def command_bridge(args: argparse.Namespace) -> None:
    settings = load_settings()
    log_as_the_service(settings)
    if settings.embedded_broker:
        raise ConfigurationError("KAFKA_BROKER_URL", "`bridge` needs it")
    require_bridge_keys(settings)
    run_bridge(settings)


def command_worker(args: argparse.Namespace) -> None:
    settings = load_settings()
    log_as_the_service(settings)
    if settings.embedded_broker or settings.embedded_postgres:
        raise ConfigurationError("KAFKA_BROKER_URL and DATABASE_URL",
                                 "`worker` needs both (use `run` for embedded defaults)")
    run_worker(settings)


def make_data_dir(settings: Settings) -> None:
    """DATA_DIR, created as `run` creates it (a Faust worker, the service's or the bridge's,
    fails on a missing one)."""
    try:
        settings.data_dir.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise ConfigurationError("DATA_DIR", f"cannot create {settings.data_dir}: "
                                             f"{error.strerror}") from None


def command_migrate(args: argparse.Namespace) -> None:
    import asyncio

    from app.migrate import migrate

    async def apply(settings: Settings) -> int:
        connection = await connect_database(settings)
        try:
            return await migrate(connection)
        finally:
            await connection.close()

    # only PostgreSQL: the schema is all a migration touches
    with embedded_defaults(load_settings(), broker_needed=False) as settings:
        print(f"schema at version {asyncio.run(apply(settings))}")


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
        fail(f"no projection {args.name!r}; known: {', '.join(catalog)}", 2)
    projection = catalog[args.name]

    async def run() -> rebuild.RebuildReport:
        await check_services(settings)
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
    commands.add_parser("bridge", help="only the webhook endpoints, in a producer-only process "
                        "on BRIDGE_PORT (needs KAFKA_BROKER_URL)").set_defaults(func=command_bridge)
    commands.add_parser("migrate", help="apply database migrations (needs only PostgreSQL: "
                        "an embedded one when DATABASE_URL is unset)").set_defaults(
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
    add_dead_letter_commands(commands)
    add_send_samples_command(commands)
    add_status_command(commands)
    args = parser.parse_args(argv)
    # the service's own lines, and only the libraries' warnings (aiokafka's INFO lines on every
    # connection would bury a command's output)
    logging.basicConfig(level=logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s %(message)s")
    logging.captureWarnings(True)  # Python warnings become log lines, formatted alike
    for ours in ("app", "projections", "crm_events"):
        logging.getLogger(ours).setLevel(logging.INFO)
    with failures_in_one_line():
        args.func(args)


if __name__ == "__main__":
    main()
