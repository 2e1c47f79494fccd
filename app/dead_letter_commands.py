"""`crm-events dead-letter list` and `dead-letter replay`: the operator's side of
app/dead_letter_replay.py."""

from __future__ import annotations

import argparse
import re
import sys

from app.command_args import at_least_one
from app.command_failures import check_broker, connect_database, fail, load_settings
from app.dead_letter_replay import ParkedLetter
from app.dead_letters import STAGES
from app.settings import Settings


def command_dead_letter(args: argparse.Namespace) -> None:
    """`dead-letter list` and `dead-letter replay`: see app/dead_letter_replay.py."""
    import asyncio

    settings = load_settings()
    if args.action == "replay" and not (args.stage or args.id):
        fail("choose what to replay: --stage S (e.g. crm) or --id PARTITION:OFFSET, each "
             "repeatable", 2)
    missing = asyncio.run(dead_letter_action(args, settings))
    for letter_id in missing:
        print(f"no dead letter {letter_id} on {settings.dead_letter_topic}", file=sys.stderr)
    if missing:
        raise SystemExit(1)


async def dead_letter_action(args: argparse.Namespace, settings: Settings) -> list[str]:
    """List or replay the letters asked for; returns the ids asked for that are not on the
    topic."""
    from app import dead_letter_replay as letters
    from app.db import create_pool
    from app.migrate import migrate
    from projections.rebuild import bootstrap_servers

    connection = await connect_database(settings)
    try:
        await migrate(connection)  # the replay ledger may be newer than the worker
    finally:
        await connection.close()
    await check_broker(settings)
    bootstrap, topic = bootstrap_servers(settings.broker_url), settings.dead_letter_topic
    pool = await create_pool(settings.postgres_dsn, min_size=1, max_size=2)
    try:
        on_topic = await letters.read_letters(bootstrap, topic, pool)
        asked = letters.select(on_topic, stages=args.stage or (), ids=args.id or ())
        if args.action == "list":
            print_letters(letters.select(asked, pending_only=args.pending, limit=args.limit),
                          topic, as_json=args.json)
        elif args.dry_run:
            to_send, report = letters.plan_replay(asked, args.limit)
            for line in report.skipped_by_id(args.id or ()):
                print(line)
            print(f"would replay {len(to_send)}: {' '.join(x.id for x in to_send) or '-'}; "
                  f"would skip {report.skipped()}")
        else:
            report = await letters.replay(asked, bootstrap, pool, limit=args.limit)
            for letter in report.replayed:
                print(f"replayed {letter.id} ({letter.stage}) to {letter.origin_topic}")
            for line in report.skipped_by_id(args.id or ()):
                print(line)
            print(report.summary())
    finally:
        await pool.close()
    return sorted(set(args.id or ()) - {letter.id for letter in on_topic})


def print_letters(found: list[ParkedLetter], topic: str, *, as_json: bool) -> None:
    import orjson

    for letter in found:
        print(orjson.dumps(letter.to_json()).decode() if as_json else letter.summary())
    if not as_json:
        print(f"{len(found)} dead letters on {topic}")


def letter_id(value: str) -> str:
    """An argparse type: PARTITION:OFFSET, as `dead-letter list` shows a letter."""
    if not re.fullmatch(r"\d+:\d+", value):
        raise argparse.ArgumentTypeError(f"{value!r} is not PARTITION:OFFSET (e.g. 0:42)")
    partition, offset = value.split(":")
    return f"{int(partition)}:{int(offset)}"  # 00:7 is letter 0:7


def add_dead_letter_commands(commands: argparse._SubParsersAction) -> None:
    actions = commands.add_parser(
        "dead-letter", help="list or replay what the service parked on the dead-letter topic"
    ).add_subparsers(dest="action", required=True)
    listing = actions.add_parser("list", help="print dead letters, oldest first")
    replaying = actions.add_parser(
        "replay", help="re-submit parked messages to their inbound topic, once each, in the "
                       "order they failed in")
    for parser in (listing, replaying):
        parser.add_argument("--stage", action="append", choices=STAGES, metavar="STAGE",
                            help=f"the letters of this stage, one of {', '.join(STAGES)} "
                                 "(repeatable)")
        parser.add_argument("--id", action="append", type=letter_id, metavar="P:O",
                            help="this letter, PARTITION:OFFSET as `list` shows it (repeatable; "
                                 "with --stage: those of the stages and these)")
        parser.set_defaults(func=command_dead_letter)
    listing.add_argument("--limit", type=at_least_one, metavar="N",
                         help="only the oldest N, in the order they failed")
    listing.add_argument("--pending", action="store_true", help="hide replayed letters")
    listing.add_argument("--json", action="store_true",
                         help="whole records, one JSON a line, with id and replayed_at (null "
                              "while parked)")
    replaying.add_argument("--limit", type=at_least_one, metavar="N",
                           help="only the oldest N not replayed yet, in the order they failed "
                                "(a record's changes go back in their order)")
    replaying.add_argument("--dry-run", action="store_true", help="show what would be replayed")
