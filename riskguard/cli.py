"""The ``riskguard`` command line."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence

from rich.console import Console

from riskguard import __version__
from riskguard.calc_report import print_table, to_json
from riskguard.errors import RiskguardError
from riskguard.risk.evaluation import evaluate_account
from riskguard.snapshot_input import load_snapshot

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
    return parser


def _validate(args: argparse.Namespace) -> int:
    from riskguard.config import problems, read_document

    found = problems(read_document(args.config))
    if found:
        for line in found:
            sys.stderr.write(f"{args.config}: {line}\n")
        return EXIT_BAD_INPUT
    sys.stdout.write(f"{args.config}: ok\n")
    return EXIT_OK


def _calc(args: argparse.Namespace) -> int:
    text = sys.stdin.read() if args.file == "-" else None
    snapshot, settings = load_snapshot(args.file, text)
    evaluation = evaluate_account(snapshot, settings)
    if args.json:
        sys.stdout.write(json.dumps(to_json(evaluation), indent=2) + "\n")
    else:
        console = Console()
        if not console.is_terminal:
            console = Console(width=160)
        print_table(evaluation, console)
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point; returns the process exit code."""
    args = _build_parser().parse_args(argv)
    try:
        if args.command == "calc":
            return _calc(args)
        if args.command == "validate":
            return _validate(args)
    except RiskguardError as exc:
        sys.stderr.write(f"riskguard {args.command}: {exc}\n")
        return EXIT_BAD_INPUT
    return EXIT_BAD_INPUT  # pragma: no cover - argparse rejects unknown commands


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
