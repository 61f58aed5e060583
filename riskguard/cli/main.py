"""The ``riskguard`` command line."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path

from riskguard import __version__
from riskguard.errors import InputError, RiskguardError

# Each command imports what it needs when it runs: `riskguard --help` loads no ccxt, pydantic
# model, numpy, matplotlib or replay engine (issue 17).

EXIT_OK = 0
EXIT_BAD_INPUT = 2


def _build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="riskguard",
        description="Guard leveraged crypto derivatives accounts against liquidation.",
    )
    parser.add_argument("--version", action="version", version=f"riskguard {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    calc = commands.add_parser(
        "calc",
        help="liquidation, distance and shortfall for an account snapshot (JSON)",
        description="Read an account snapshot as JSON (a file, or - for stdin) and print the "
        "liquidation price, bankruptcy price, distance and potential shortfall of every position.",
    )
    calc.add_argument("file", metavar="FILE|-", help="snapshot JSON file, or - to read stdin")
    calc.add_argument("--json", action="store_true", help="print JSON instead of a table")
    validate = commands.add_parser(
        "validate",
        help="check a configuration file and report every problem by its path",
        description="Validate a riskguard YAML configuration: every problem is printed on its "
        "own line as FILE: path: problem. Exit code 0 when valid, 2 otherwise.",
    )
    validate.add_argument("config", metavar="CONFIG", help="YAML configuration file")
    run = commands.add_parser(
        "run",
        help="run the guard daemon on every account of a configuration",
        description="Poll every account of CONFIG on its schedule and enforce the rules. "
        "SIGINT/SIGTERM finish the cycle in flight, flush the journal and exit 0.",
    )
    run.add_argument("config", metavar="CONFIG", help="YAML configuration file")
    run.add_argument("--once", action="store_true", help="run one cycle of every account, exit")
    check = commands.add_parser(
        "check",
        help="one read-only cycle: a table of every position; exit 0 ok, 1 warnings, 2 act",
        description="Run one cycle of every account without sending anything, print every "
        "position (the exchange's liquidation price and riskguard's, distance, sigma distance, "
        "shortfall, rules that fire). Exit code 0 ok, 1 warnings, 2 action needed or no data.",
    )
    check.add_argument("config", metavar="CONFIG", help="YAML configuration file")
    check.add_argument("--json", action="store_true", help="print JSON instead of a table")
    alert_test = commands.add_parser(
        "alert-test",
        help="send a test alert through every configured sink and report each result",
        description="Send one test alert through every sink of CONFIG's alerts: list, at once, "
        "and print whether each delivered and why not. Exit code 0 when all delivered, 1 when "
        "any failed, 2 for a configuration problem.",
    )
    alert_test.add_argument("config", metavar="CONFIG", help="YAML configuration file")
    alert_test.add_argument("--json", action="store_true", help="print JSON instead of a table")
    journal = commands.add_parser(
        "journal",
        help="export the journal as CSV or JSON",
        description="Export journal entries (decisions, orders, alerts, sampled snapshots) for "
        "an accountant or a post-mortem. Give the CONFIG (its journal.path is used) or --db.",
    )
    source = journal.add_mutually_exclusive_group(required=True)
    source.add_argument("config", metavar="CONFIG", nargs="?", help="YAML configuration file")
    source.add_argument("--db", metavar="PATH", help="journal SQLite file")
    journal.add_argument("--since", help="ISO date/time (UTC) or a duration back: 90m, 24h, 7d")
    journal.add_argument("--until", help="ISO date/time (UTC) or a duration back (exclusive)")
    journal.add_argument("--kind", help="only entries of this kind (order_sent, alert, ...)")
    journal.add_argument("--account", help="only entries of this account")
    journal.add_argument("--format", choices=("csv", "json"), default="csv", dest="fmt")
    from riskguard.replay.command import add_parser as add_replay

    add_replay(commands)
    margin = commands.add_parser(
        "replay-margin",
        help="dry-run the spot margin guard over a price history, against no guard",
        description="Replay borrowed spot margin accounts on the paper margin venue in virtual "
        "time, each once with the guard and once alone; print what each ended with. Exit code 1 "
        "when a guarded account was liquidated or went below zero.",
    )
    margin.add_argument("file", metavar="FILE", help="YAML with a spot_margin: section")
    margin.add_argument("--json", action="store_true", help="print JSON instead of a table")
    return parser


def _validate(args: argparse.Namespace) -> int:
    """The schema first (every problem by its path); then, when it holds, what ``run`` builds."""
    from riskguard.cli.preflight import preflight
    from riskguard.config import problems, read_document

    found = problems(read_document(args.config))
    if not found:
        found = preflight(args.config)
    if found:
        for line in found:
            sys.stderr.write(f"{args.config}: {line}\n")
        return EXIT_BAD_INPUT
    sys.stdout.write(f"{args.config}: ok\n")
    return EXIT_OK


def _calc(args: argparse.Namespace) -> int:
    from rich.console import Console

    from riskguard.cli.calc_input import load_snapshot
    from riskguard.cli.calc_report import print_table, to_json
    from riskguard.risk.evaluation import evaluate_account
    from riskguard.validation import finite_json

    text = None
    if args.file == "-":
        try:
            text = sys.stdin.read()
        except UnicodeDecodeError as exc:
            raise InputError(f"stdin: not UTF-8 text (byte {exc.start})") from None
    snapshot, settings = load_snapshot(args.file, text)
    evaluation = evaluate_account(snapshot, settings)
    if args.json:
        sys.stdout.write(finite_json(to_json(evaluation)) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        print_table(evaluation, console)
    return EXIT_OK


def _run(args: argparse.Namespace) -> int:
    from riskguard.cli.run import run_daemon

    return run_daemon(args.config, once=args.once)


def _check(args: argparse.Namespace) -> int:
    from riskguard.cli.run import run_check

    return run_check(args.config, as_json=args.json)


def _journal(args: argparse.Namespace) -> int:
    import time

    from riskguard.cli.journal_export import export_entries, parse_since
    from riskguard.daemon.journal import SqliteJournal

    if args.db is not None:
        path = Path(args.db)
    else:
        from riskguard.config import load_config
        from riskguard.daemon.wiring import resolve_path

        path = resolve_path(Path(args.config), load_config(args.config).journal.path)
    now_ms = int(time.time() * 1000)
    since = parse_since(args.since, now_ms) if args.since else None
    until = parse_since(args.until, now_ms, option="--until") if args.until else None
    with SqliteJournal(path, readonly=True) as journal:
        export_entries(
            journal,
            sys.stdout,
            fmt=args.fmt,
            since_ms=since,
            until_ms=until,
            kind=args.kind,
            account=args.account,
        )
    return EXIT_OK


def _alert_test(args: argparse.Namespace) -> int:
    from riskguard.alerts.alert_test import run_alert_test

    return run_alert_test(args.config, as_json=args.json)


def _replay(args: argparse.Namespace) -> int:
    from riskguard.replay.command import run as run_replay

    return run_replay(args)


def _replay_margin(args: argparse.Namespace) -> int:
    from riskguard.replay.margin_command import run as run_margin

    return run_margin(args)


_COMMANDS = {
    "alert-test": _alert_test,
    "calc": _calc,
    "validate": _validate,
    "run": _run,
    "check": _check,
    "journal": _journal,
    "replay": _replay,
    "replay-margin": _replay_margin,
}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    try:
        return _COMMANDS[args.command](args)
    except RiskguardError as exc:
        from riskguard.observability.logs import redact

        sys.stderr.write(redact(f"riskguard {args.command}: {exc}") + "\n")
        return EXIT_BAD_INPUT


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
