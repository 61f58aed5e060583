"""``riskguard replay``: options in, a summary table (or JSON) and an optional report out."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from riskguard.replay.spec import (
    BASELINES,
    MAX_AMOUNT,
    POLL_INTERVAL_S,
    parse_baselines,
    parse_bounded,
    parse_open,
    parse_prices,
    parse_time,
)

if TYPE_CHECKING:  # the engine is imported when a replay runs, not to print --help
    from rich.console import Console

    from riskguard.replay.result import ReplayResult

EXIT_OK = 0


def add_parser(commands: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """The ``replay`` subcommand's options."""
    parser = commands.add_parser(
        "replay",
        help="dry-run the guard over a price history, against no guard and a static stop",
        description="Replay price files on the paper venue in virtual time with the guard's "
        "cycle, and the same positions with no guard (the venue liquidates) and with a static "
        "stop-loss near the liquidation price; print what each ended with.",
    )
    parser.add_argument(
        "config", metavar="CONFIG", nargs="?", help="riskguard YAML (rules, paper markets)"
    )
    parser.add_argument(
        "--prices",
        metavar="SYMBOL=FILE",
        action="append",
        default=[],
        help="prices of SYMBOL: a Binance kline CSV (with or without header) or "
        "timestamp_ms,price; repeat for a cross account",
    )
    parser.add_argument(
        "--open",
        metavar="SPEC",
        action="append",
        default=[],
        dest="opens",
        help="SYMBOL,SIDE,LEVERAGEx[,isolated|cross][,NOTIONAL], opened at the first price; "
        "repeatable; replaces the config's paper positions",
    )
    parser.add_argument("--balance", help="account balance (default 10,000)")
    parser.add_argument("--venue", help="margin profile: binance, bybit, okx, gate, hyperliquid")
    parser.add_argument(
        "--poll-interval-s", help="guard poll interval in simulated seconds (0.01 to 86,400)"
    )
    parser.add_argument("--from", dest="start", help="start (ISO 8601 UTC or epoch ms)")
    parser.add_argument("--to", dest="end", help="end, exclusive (ISO 8601 UTC or epoch ms)")
    parser.add_argument(
        "--baselines",
        default=",".join(BASELINES),
        help=f"baselines to run beside the guard (default {','.join(BASELINES)}; '' for none)",
    )
    parser.add_argument("--report", metavar="DIR", help="write PNG charts and index.html here")
    parser.add_argument("--json", action="store_true", help="print JSON instead of tables")


def run(args: argparse.Namespace) -> int:
    from rich.console import Console

    from riskguard.replay.runner import replay
    from riskguard.replay.scenario import build_scenario
    from riskguard.validation import finite_json

    """Run the replay the options describe; one-line errors leave as RiskguardError."""
    balance = None
    if args.balance is not None:
        balance = parse_bounded(args.balance, "--balance", 0, MAX_AMOUNT, above=True)
    poll = None
    if args.poll_interval_s is not None:
        poll = parse_bounded(args.poll_interval_s, "--poll-interval-s", *POLL_INTERVAL_S)
    scenario = build_scenario(
        config_path=Path(args.config) if args.config else None,
        prices=[parse_prices(p) for p in args.prices],
        opens=[parse_open(o) for o in args.opens],
        balance=balance,
        venue=args.venue,
        poll_interval_s=poll,
        start_ms=parse_time(args.start, "--from") if args.start else None,
        end_ms=parse_time(args.end, "--to") if args.end else None,
        baselines=parse_baselines(args.baselines),
    )
    result = replay(scenario)
    index: Path | None = None
    if args.report:
        from riskguard.replay.report import write_report

        index = write_report(result, Path(args.report))
    if args.json:
        document = result.to_json()
        if index is not None:
            document["report"] = str(index)
        sys.stdout.write(finite_json(document) + "\n")
        return EXIT_OK
    console = Console()
    if not console.is_terminal:
        console = Console(width=160)
    print_summary(result, console)
    if index is not None:
        console.print(f"report: {index}")
    return EXIT_OK


def _money(value: float) -> str:
    return f"{value:,.2f}"


def print_summary(result: ReplayResult, console: Console) -> None:
    from rich.table import Table

    from riskguard.replay.result import negative_words

    """The runs side by side, each position, and what the guard saved.

    ``went negative`` says whether an account (per run) or a position went below zero at any
    tick, and how low (:mod:`riskguard.replay.result`).
    """
    inputs = result.inputs
    prices = ", ".join(f"{s} = {f}" for s, f in dict(inputs.get("prices", {})).items())
    console.print(
        f"replay of {prices} on {inputs.get('venue')}, guard polling every "
        f"{inputs.get('poll_interval_s'):g} s ({result.wall_s:.1f} s)"
    )
    for note in inputs.get("notes", []):
        console.print(f"note: {note}")
    totals = Table(title="runs")
    for column in ("run", "liquidations", "shortfall", "final equity", "fees", "cycles", "alerts"):
        totals.add_column(column, justify="left" if column == "run" else "right")
    totals.add_column("went negative")
    for name, run in result.runs.items():
        t = run.totals
        totals.add_row(
            name,
            str(t.liquidations),
            _money(t.shortfall),
            _money(t.final_equity),
            _money(t.fees),
            str(run.cycles),
            str(run.alerts),
            run.negative_words(),
        )
    console.print(totals)
    positions = Table(title="positions")
    for column in ("run", "account", "symbol", "side", "liquidated", "shortfall"):
        positions.add_column(column, justify="right" if column == "shortfall" else "left")
    for column in ("final equity", "min distance %", "actions"):
        positions.add_column(column, justify="right")
    positions.add_column("went negative")
    for name, run in result.runs.items():
        for p in run.positions:
            positions.add_row(
                name,
                p.account,
                p.symbol,
                p.side,
                "LIQUIDATED" if p.liquidated else "no",
                _money(p.shortfall),
                _money(p.final_equity),
                "-" if p.min_distance_pct is None else f"{p.min_distance_pct:.2f}",
                str(len(p.actions)),
                negative_words(p.min_equity),
            )
    console.print(positions)
    for baseline, saved in result.saved().items():
        console.print(
            f"guard vs {baseline}: final equity {saved['final_equity']:+,.2f}, shortfall "
            f"avoided {saved['shortfall']:,.2f}, liquidations avoided {saved['liquidations']}, "
            f"negative accounts avoided {saved['negative_accounts']}, negative positions "
            f"avoided {saved['negative_positions']}"
        )
    for baseline, cost in result.cost().items():
        console.print(
            f"cost of protection vs {baseline}: gave up {cost['gave_up']:,.2f} on "
            f"{cost['positions']} position(s) where {baseline} ended better"
        )
