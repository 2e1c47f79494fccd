"""`crm-events send-samples` and `crm-events status`: an operator's view of a running service.

Both talk to the service over HTTP like any client (no Kafka, no Faust), so they work from any
machine that reaches its port; `status --database` also counts what PostgreSQL holds.
"""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
import uuid
from collections import Counter
from pathlib import Path
from typing import Any

import orjson

from app.settings import Settings

SAMPLES = Path(__file__).parent / "samples" / "salesforce"
TIMEOUT_S = 10.0


# -- send-samples ------------------------------------------------------------------------------

def sample_envelopes(directory: Path = SAMPLES) -> list[tuple[str, dict]]:
    """The bundled EventBridge envelopes in Salesforce commit order (creates before updates)."""
    samples = [(path.stem, orjson.loads(path.read_bytes()))
               for path in sorted(directory.glob("*.json"))]
    return sorted(samples, key=lambda sample: (_header(sample[1]).get("commitTimestamp", 0),
                                               sample[0]))


def for_round(samples: list[tuple[str, dict]], round_number: int) -> list[tuple[str, bytes]]:
    """Round 0 is the samples as they are. Later rounds are new events about new records: every
    EventBridge id and record id gets the suffix `-r<round, from 1>` (references such as
    AccountId too), so a repeat is processed as fresh changes, not ignored as a redelivery."""
    bodies = [(name, orjson.dumps(envelope)) for name, envelope in samples]
    if round_number == 0:
        return bodies
    renames = {f'"{old}"'.encode(): f'"{old}-r{round_number + 1}"'.encode()
               for _, envelope in samples
               for old in [envelope["id"], *(_header(envelope).get("recordIds") or [])]}
    renamed = []
    for name, body in bodies:
        for old, new in renames.items():
            body = body.replace(old, new)
        renamed.append((name, body))
    return renamed


def command_send_samples(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    settings = Settings()
    url = f"{args.url or service_url(settings)}/events/salesforce/"
    key = args.key or _first(settings.bridge_api_keys)
    if not key:
        print("no API key: pass --key or set BRIDGE_API_KEYS", file=sys.stderr)
        raise SystemExit(2)
    samples = sample_envelopes(Path(args.samples) if args.samples else SAMPLES)
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    with tqdm(total=len(samples) * args.repeat, unit="ev", desc="posting") as bar:
        for round_number in range(args.repeat):
            for name, body in for_round(samples, round_number):
                status, answer = post(url, key, body)
                statuses[str(status)] += 1
                if status != 202:
                    failures.append(f"{name} (round {round_number + 1}): {status} {answer}")
                bar.update()
    for failure in failures[:20]:
        print(failure, file=sys.stderr)
    summary = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    print(f"{sum(statuses.values())} events posted to {url} ({summary})")
    if failures:
        raise SystemExit(1)


def post(url: str, key: str, body: bytes) -> tuple[int | str, str]:
    request = urllib.request.Request(url, data=body, method="POST", headers={
        "Content-Type": "application/json", "X-API-Key": key,
        "X-Correlation-ID": f"send-samples-{uuid.uuid4()}"})
    try:
        with urllib.request.urlopen(request, timeout=TIMEOUT_S) as response:
            return response.status, response.read(500).decode(errors="replace")
    except urllib.error.HTTPError as error:
        return error.code, error.read(500).decode(errors="replace")
    except (urllib.error.URLError, OSError) as error:
        return "unreachable", str(getattr(error, "reason", error))


# -- status ------------------------------------------------------------------------------------

def fetch_json(url: str, key: str | None = None) -> tuple[int | None, Any]:
    """(HTTP status, decoded body); (None, reason) when the service cannot be reached."""
    headers = {"X-API-Key": key} if key else {}
    try:
        with urllib.request.urlopen(urllib.request.Request(url, headers=headers),
                                    timeout=TIMEOUT_S) as response:
            return response.status, orjson.loads(response.read())
    except urllib.error.HTTPError as error:
        body = error.read()
        try:
            return error.code, orjson.loads(body)
        except orjson.JSONDecodeError:
            return error.code, body.decode(errors="replace")
    except (urllib.error.URLError, OSError) as error:
        return None, str(getattr(error, "reason", error))


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


def status_report(url: str, health: tuple, ready: tuple, projections: tuple,
                  database: dict[str, int] | str | None) -> str:
    lines = [f"service      {url}"]
    if health[0] is None:
        lines.append(f"health       unreachable: {health[1]}")
    else:
        lines.append(f"health       {health[0]} {_get(health[1], 'status')}")
    if ready[0] is not None:
        checks = _get(ready[1], "checks") or {}
        detail = "; ".join(f"{name} {'ok' if c.get('ok') else 'FAILED'}"
                           + (f" ({c['detail']})" if c.get("detail") else "")
                           for name, c in checks.items())
        lines.append(f"ready        {ready[0]} {_get(ready[1], 'status')}: {detail}")
    if projections[0] == 200:
        for name, p in (_get(projections[1], "projections") or {}).items():
            lines.append(f"projection   {name}: generation {p.get('generation')}, "
                         f"{p.get('applied_events')} events applied, consumer lag "
                         f"{p.get('consumer_lag')}, {p.get('store_events_after')} stored "
                         f"events not yet applied")
    elif projections[0] is not None:
        lines.append(f"projections  {projections[0]} {_get(projections[1], 'error')}")
    if isinstance(database, dict):
        lines.append("database     " + ", ".join(f"{n} {v:,}" for n, v in database.items()))
    elif database:
        lines.append(f"database     unreachable: {database}")
    return "\n".join(lines)


def command_status(args: argparse.Namespace) -> None:
    import asyncio

    settings = Settings()
    url = args.url or service_url(settings)
    key = args.key or _first(settings.read_api_keys)
    health, ready = fetch_json(f"{url}/health"), fetch_json(f"{url}/ready")
    projections = fetch_json(f"{url}/projections", key) if health[0] else (None, None)
    database: dict[str, int] | str | None = None
    if args.database:
        try:
            database = asyncio.run(database_counts(settings.postgres_dsn))
        except Exception as error:  # the report says so; the exit code below too
            database = f"{type(error).__name__}: {error}"
    if args.json:
        print(orjson.dumps({"url": url, "health": health, "ready": ready,
                            "projections": projections, "database": database}).decode())
    else:
        print(status_report(url, health, ready, projections, database))
    if ready[0] != 200 or isinstance(database, str):
        raise SystemExit(1)


# -- wiring ------------------------------------------------------------------------------------

def service_url(settings: Settings) -> str:
    host = "127.0.0.1" if settings.web_host in ("0.0.0.0", "::") else settings.web_host
    return f"http://{host}:{settings.web_port}"


def add_operator_commands(commands: argparse._SubParsersAction) -> None:
    samples = commands.add_parser(
        "send-samples", help="post the bundled Salesforce sample events to a running service")
    samples.add_argument("--url", help="service base URL (default: http://WEB_HOST:WEB_PORT)")
    samples.add_argument("--key", help="bridge API key (default: the first BRIDGE_API_KEYS)")
    samples.add_argument("--repeat", type=_positive, default=1, help="rounds to post; rounds "
                         "after the first use new event and record ids (default 1)")
    samples.add_argument("--samples", help="a folder of envelope JSON files instead")
    samples.set_defaults(func=command_send_samples)
    status = commands.add_parser(
        "status", help="ask a running service: health, readiness, projection lag; exits 1 "
                       "when not ready")
    status.add_argument("--url", help="service base URL (default: http://WEB_HOST:WEB_PORT)")
    status.add_argument("--key", help="read API key (default: the first READ_API_KEYS)")
    status.add_argument("--database", action="store_true",
                        help="also count events, aggregates and the outbox in DATABASE_URL")
    status.add_argument("--json", action="store_true", help="print the raw answers as JSON")
    status.set_defaults(func=command_status)


def _positive(value: str) -> int:
    number = int(value)
    if number < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return number


def _header(envelope: dict) -> dict:
    detail = envelope.get("detail") or {}
    return (detail.get("payload") or detail).get("ChangeEventHeader") or {}


def _first(keys: list) -> str | None:
    return keys[0].get_secret_value() if keys else None


def _get(body: Any, name: str) -> Any:
    return body.get(name) if isinstance(body, dict) else body
