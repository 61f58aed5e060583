"""Borrowed spot margin positions through every real crash window, with and without the guard.

Every crash file in ../shared/data/crashes x a borrowed long and a borrowed short, on the paper
spot margin venue (Binance cross margin rules: liquidation at margin level 1.1, a 2% liquidation
fee, borrowing up to level 1.5, hourly interest, fills only at traded prices). Each account starts
with 1,000 USDT; the long buys coin worth ``--long-x`` times that with MARGIN_BUY (borrowing USDT),
the short borrows and sells coin worth ``--short-x`` times it (the 1.5 borrow limit allows less
for a short: its assets are the equity plus the proceeds). One account is guarded (the default
spot margin settings, a cycle every ``--poll`` seconds of simulated time), one is left alone.

A guarded run fails when the venue liquidates it or when its equity (assets less liabilities at
the venue's margin prices) is below zero at any tick. Prints one markdown table row per case.

Run: .venv/bin/python bench/spot_margin_crashes.py [--poll 10] [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from riskguard.paper.spot_margin.config import parse_spot_margin_config  # noqa: E402
from riskguard.replay.spot_margin import replay_spot_margin  # noqa: E402

CRASHES = ROOT.parent / "shared" / "data" / "crashes"


def symbol_of(path: Path) -> str:
    """``btcusdt-perp-2021-05-19.csv`` -> ``BTC/USDT``."""
    pair = path.name.split("-")[0].upper()
    return f"{pair.removesuffix('USDT')}/USDT"


def run_case(path: Path, side: str, times_equity: float, poll_s: float) -> list[str]:
    symbol = symbol_of(path)
    base = symbol.partition("/")[0]
    opening = {"symbol": symbol, "side": side, "quote_value": 1_000.0 * times_equity}
    config = parse_spot_margin_config(
        {
            "markets": [{"symbol": symbol, "feed": {"csv": str(path)}, "amount_step": 1e-5}],
            "rules": {"interest_per_hour_pct": {"USDT": 0.001, base: 0.001}},
            "accounts": [
                {"id": name, "holdings": {"USDT": 1_000.0}, "open": [opening]}
                for name in ("guarded", "alone")
            ],
        }
    )
    started = time.perf_counter()
    guarded, alone = replay_spot_margin(config, guarded={"guarded"}, poll_s=poll_s)
    seconds = time.perf_counter() - started
    failed = guarded.liquidations > 0 or guarded.went_negative
    return [
        path.name,
        f"{'long' if side == 'buy' else 'short'} {times_equity:g}x",
        str(alone.liquidations),
        f"{alone.min_equity:,.0f}",
        f"{alone.equity:,.0f}",
        str(guarded.liquidations),
        f"{guarded.min_equity:,.0f}",
        f"{guarded.equity:,.0f}",
        f"{guarded.min_level:.3f}",
        str(guarded.orders),
        "**FAIL**" if failed else "ok",
        f"{seconds:.1f}",
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--poll", type=float, default=10.0, help="guard cycle, simulated s")
    parser.add_argument("--long-x", type=float, default=2.95, help="long's coin / equity")
    parser.add_argument("--short-x", type=float, default=1.95, help="short's coin / equity")
    parser.add_argument("--out", type=Path, help="also write the table to this file")
    args = parser.parse_args(argv)
    if not CRASHES.is_dir():
        print(f"no crash data at {CRASHES}", file=sys.stderr)
        return 2
    header = (
        "| window | borrowed | alone: liquidations | alone: min equity | alone: end equity | "
        "guarded: liquidations | guarded: min equity | guarded: end equity | "
        "guarded: min level | guard orders | guarded | s |"
    )
    lines = [
        f"# Borrowed spot margin positions through every crash window (poll {args.poll:g} s)",
        "",
        f"python {platform.python_version()}, {platform.machine()}; equity 1,000 USDT per account",
        "",
        header,
        "|" + "---|" * (header.count("|") - 1),
    ]
    print("\n".join(lines), flush=True)
    failures = 0
    for path in sorted(CRASHES.glob("*.csv")):
        for side, times in (("buy", args.long_x), ("sell", args.short_x)):
            row = run_case(path, side, times, args.poll)
            failures += row[10] != "ok"
            line = "| " + " | ".join(row) + " |"
            lines.append(line)
            print(line, flush=True)
    summary = f"\nguarded failures (liquidated or below zero at any tick): {failures}"
    lines.append(summary)
    print(summary)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
