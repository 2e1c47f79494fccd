"""`crm-events status`: ask a running service for its health, readiness and projection lag
over HTTP like any client; with `--database`, count what PostgreSQL holds."""

from __future__ import annotations

import argparse
import urllib.error
import urllib.request
from typing import Any

import orjson
from pydantic import BaseModel, ValidationError

from app.command_args import CONNECTION_ERRORS, TIMEOUT_S, base_url, first_key, service_url
from app.command_failures import describe, load_settings


class Health(BaseModel):
    """`GET /health`, as the service answers it (the models below likewise)."""

    status: str

    def outline(self) -> str:
        return self.status


class Check(BaseModel):
    ok: bool
    detail: str | None = None


class Readiness(BaseModel):
    status: str
    checks: dict[str, Check] = {}

    def outline(self) -> str:
        return f"{self.status}: " + "; ".join(
            f"{name} {'ok' if check.ok else 'FAILED'}"
            + (f" ({check.detail})" if check.detail else "")
            for name, check in self.checks.items())


class ProjectionProgress(BaseModel):  # shown as they come
    generation: Any = None
    applied_events: Any = None
    consumer_lag: Any = None
    store_events_after: Any = None


class Projections(BaseModel):
    projections: dict[str, ProjectionProgress]


class Refusal(BaseModel):
    """An error answer of the read API (401, 404...)."""

    error: str

    def outline(self) -> str:
        return self.error


def fetch_json(url: str, key: str | None = None) -> tuple[int | None, Any]:
    """(HTTP status, body: decoded JSON, or the text when it is not JSON); (None, reason) when
    the service cannot be reached."""
    headers = {"X-API-Key": key} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=TIMEOUT_S) as response:
            return response.status, _json_or_text(response.read())
    except urllib.error.HTTPError as error:
        return error.code, _json_or_text(error.read())
    except CONNECTION_ERRORS as error:
        reason = getattr(error, "reason", error)
        return None, str(reason) or describe(reason)  # a timeout's text is empty


DATABASE_COUNTS = {
    "events": "SELECT count(*) FROM events",
    "aggregates": "SELECT count(DISTINCT aggregate_id) FROM events",
    "source events processed": "SELECT count(*) FROM processed_source_events",
    "outbox pending": "SELECT count(*) FROM outbox",
}


async def database_counts(dsn: str) -> dict[str, int]:
    import asyncpg

    connection = await asyncpg.connect(dsn, timeout=TIMEOUT_S)
    try:
        counts = {name: await connection.fetchval(query)
                  for name, query in DATABASE_COUNTS.items()}
        by_type = await connection.fetch(
            "SELECT aggregate_type, count(*) AS n FROM events GROUP BY 1 ORDER BY 1")
        counts.update({f"{row['aggregate_type']} events": row["n"] for row in by_type})
        return counts
    finally:
        await connection.close()


def describe_answer(answer: tuple[int | None, Any], model: type[Health | Readiness | Refusal]
                    ) -> str:
    """One line for an answer: its status and what it says, or why it says nothing useful."""
    code, body = answer
    if code is None:
        return f"unreachable: {body}"
    parsed = _parse(model, body)
    if parsed is None:  # another server at that URL, or a proxy's error page
        return f"{code} not the service's answer: {_excerpt(body)}"
    return f"{code} {parsed.outline()}"


def is_ready(ready: tuple[int | None, Any]) -> bool:
    readiness = _parse(Readiness, ready[1])
    return ready[0] == 200 and readiness is not None and readiness.status == "ready"


def status_report(url: str, health: tuple, ready: tuple, projections: tuple,
                  database: dict[str, int] | str | None) -> str:
    lines = [f"service      {url}", f"health       {describe_answer(health, Health)}",
             f"ready        {describe_answer(ready, Readiness)}"]
    progress = _parse(Projections, projections[1]) if projections[0] == 200 else None
    if progress is not None:
        for name, p in progress.projections.items():
            lines.append(f"projection   {name}: generation {p.generation}, "
                         f"{p.applied_events} events applied, consumer lag "
                         f"{p.consumer_lag}, {p.store_events_after} stored "
                         f"events not yet applied")
    elif projections[0] is not None:
        lines.append(f"projections  {describe_answer(projections, Refusal)}")
    if isinstance(database, dict):
        lines.append("database     " + ", ".join(f"{n} {v:,}" for n, v in database.items()))
    elif database:
        lines.append(f"database     unreachable: {database}")
    return "\n".join(lines)


def command_status(args: argparse.Namespace) -> None:
    import asyncio

    settings = load_settings()
    url = args.url or service_url(settings)
    key = args.key or first_key(settings.read_api_keys)
    health, ready = fetch_json(f"{url}/health"), fetch_json(f"{url}/ready")
    projections = fetch_json(f"{url}/projections", key) if health[0] else (None, None)
    database: dict[str, int] | str | None = None
    if args.database:
        try:
            database = asyncio.run(database_counts(settings.postgres_dsn))
        except Exception as error:  # the report says so; the exit code below too
            database = describe(error)
    if args.json:
        print(orjson.dumps({"url": url, "health": health, "ready": ready,
                            "projections": projections, "database": database}).decode())
    else:
        print(status_report(url, health, ready, projections, database))
    # what was asked and could not be told fails the command, as not being ready does: the
    # projections too (a wrong read key, a bridge's URL)
    if not is_ready(ready) or projections[0] != 200 or isinstance(database, str):
        raise SystemExit(1)


def add_status_command(commands: argparse._SubParsersAction) -> None:
    status = commands.add_parser(
        "status", help="ask a running service: health, readiness, projection lag; exits 1 "
                       "when not ready, when the projections cannot be read, or when "
                       "--database cannot count")
    status.add_argument("--url", type=base_url,
                        help="service base URL (default: http://WEB_HOST:WEB_PORT)")
    status.add_argument("--key", help="read API key (default: the first READ_API_KEYS)")
    status.add_argument("--database", action="store_true",
                        help="also count events, aggregates and the outbox in DATABASE_URL "
                             "(exit 1 when it cannot)")
    status.add_argument("--json", action="store_true", help="print the raw answers as JSON")
    status.set_defaults(func=command_status)


def _json_or_text(body: bytes) -> Any:
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        return body.decode(errors="replace")


def _parse(model: type[BaseModel], body: Any) -> Any:
    try:
        return model.model_validate(body)
    except ValidationError:
        return None


def _excerpt(body: Any, width: int = 80) -> str:
    text = " ".join((body if isinstance(body, str) else orjson.dumps(body).decode()).split())
    return text if len(text) <= width else text[:width - 1] + "…"
