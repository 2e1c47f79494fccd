"""`crm-events send-samples`: post the bundled (or given) Salesforce envelopes to a running
service, in commit order, over HTTP like any client."""

from __future__ import annotations

import argparse
import sys
import urllib.error
import urllib.request
import uuid
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import orjson

from app.command_args import (
    CONNECTION_ERRORS,
    TIMEOUT_S,
    at_least_one,
    base_url,
    first_key,
    service_url,
)
from app.command_failures import load_settings

SAMPLES = Path(__file__).parent / "samples" / "salesforce"
UNREACHABLE = "unreachable"


class SampleError(ValueError):
    """A --samples path without envelopes the command can post; the message names the file."""


def sample_envelopes(path: Path = SAMPLES) -> list[tuple[str, dict]]:
    """The EventBridge envelopes of a folder (or one file) in Salesforce commit order (creates
    before updates)."""
    if not path.exists():
        raise SampleError(f"{path}: no such file or folder")
    files = sorted(path.glob("*.json")) if path.is_dir() else [path]
    if not files:
        raise SampleError(f"{path}: no *.json files")
    samples = [(file.stem, read_envelope(file)) for file in files]
    return sorted(samples, key=lambda sample: (_commit_timestamp(sample[1]), sample[0]))


def read_envelope(file: Path) -> dict:
    try:
        envelope = orjson.loads(file.read_bytes())
    except OSError as error:
        raise SampleError(f"{file}: {error.strerror}") from None
    except orjson.JSONDecodeError as error:
        raise SampleError(f"{file}: not JSON ({error})") from None
    if not isinstance(envelope, dict):
        raise SampleError(f"{file}: not an EventBridge envelope (a JSON object)")
    return envelope


def check_renamable(samples: list[tuple[str, dict]]) -> None:
    """Rounds after the first rename every event id: each envelope needs one."""
    for name, envelope in samples:
        if not isinstance(envelope.get("id"), str) or not envelope["id"]:
            raise SampleError(f"{name}: no \"id\", which --repeat renames in each round")


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


def labelled_rounds(samples: list[tuple[str, dict]], repeat: int) -> Iterator[tuple[str, bytes]]:
    for round_number in range(repeat):
        for name, body in for_round(samples, round_number):
            yield f"{name} (round {round_number + 1})", body


def command_send_samples(args: argparse.Namespace) -> None:
    from tqdm import tqdm

    settings = load_settings()
    url = f"{args.url or service_url(settings)}/events/salesforce/"
    key = args.key or first_key(settings.bridge_api_keys)
    if not key:
        print("no API key: pass --key or set BRIDGE_API_KEYS", file=sys.stderr)
        raise SystemExit(2)
    try:
        samples = sample_envelopes(Path(args.samples) if args.samples else SAMPLES)
        if args.repeat > 1:
            check_renamable(samples)
    except SampleError as error:
        print(f"samples: {error}", file=sys.stderr)
        raise SystemExit(2) from None
    attempted = len(samples) * args.repeat
    statuses: Counter[str] = Counter()
    failures: list[str] = []
    with tqdm(total=attempted, unit="ev", desc="posting") as bar:
        for label, body in labelled_rounds(samples, args.repeat):
            status, answer = post(url, key, body)
            statuses[str(status)] += 1
            bar.update()
            if status != 202:
                failures.append(f"{label}: {status} {answer}")
            if status == UNREACHABLE:
                break  # the rest would not reach it either
    for failure in failures[:20]:
        print(failure, file=sys.stderr)
    answered = sum(count for status, count in statuses.items() if status != UNREACHABLE)
    summary = ", ".join(f"{status}: {count}" for status, count in sorted(statuses.items()))
    stopped = "; stopped: the service is unreachable" if statuses[UNREACHABLE] else ""
    print(f"{answered} of {attempted} events posted to {url} ({summary}){stopped}")
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
    except CONNECTION_ERRORS as error:
        return UNREACHABLE, str(getattr(error, "reason", error))


def add_send_samples_command(commands: argparse._SubParsersAction) -> None:
    samples = commands.add_parser(
        "send-samples", help="post the bundled Salesforce sample events to a running service")
    samples.add_argument("--url", type=base_url,
                         help="service base URL (default: http://WEB_HOST:WEB_PORT)")
    samples.add_argument("--key", help="bridge API key (default: the first BRIDGE_API_KEYS)")
    samples.add_argument("--repeat", type=at_least_one, default=1, metavar="N",
                         help="rounds to post; rounds after the first use new event and record "
                              "ids (default 1)")
    samples.add_argument("--samples", metavar="PATH",
                         help="a folder of envelope JSON files, or one such file, instead")
    samples.set_defaults(func=command_send_samples)


def _commit_timestamp(envelope: dict) -> int:
    stamp = _header(envelope).get("commitTimestamp")
    return stamp if isinstance(stamp, int) else 0


def _header(envelope: dict) -> dict:
    """The envelope's ChangeEventHeader, or {} for an envelope without one."""
    detail = envelope.get("detail")
    payload = (detail.get("payload") or detail) if isinstance(detail, dict) else {}
    header = payload.get("ChangeEventHeader") if isinstance(payload, dict) else None
    return header if isinstance(header, dict) else {}
