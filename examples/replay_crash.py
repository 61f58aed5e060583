"""Replay the 2020-03-12 COVID crash through the Python API: a 20x long with the guard, without
one, and with a static stop; print what each ended with and write the report.

Run: .venv/bin/python examples/replay_crash.py [REPORT_DIR]
(the crash file is read from ../shared/data/crashes beside the checkout)
"""

from __future__ import annotations

import sys
from pathlib import Path

from riskguard.replay import OpenSpec, build_scenario, replay
from riskguard.replay.report import write_report

CRASH = (
    Path(__file__).resolve().parents[1].parent
    / "shared"
    / "data"
    / "crashes"
    / "btcusdt-perp-2020-03-12.csv"
)
SYMBOL = "BTC/USDT:USDT"


def main() -> int:
    if not CRASH.exists():
        print(f"{CRASH} not found: the shared crash data sits beside the checkout")
        return 1
    scenario = build_scenario(
        prices=[(SYMBOL, CRASH)],
        opens=[OpenSpec(SYMBOL, "long", 20, "isolated")],  # margin: half of the balance
        balance=10_000,
        poll_interval_s=15,
    )
    result = replay(scenario)  # the guard, "none" and "static-stop", same path and position
    for name, run in result.runs.items():
        (position,) = run.positions
        print(
            f"{name:12s} liquidated={position.liquidated!s:5s} "
            f"shortfall={run.totals.shortfall:9,.2f} final equity={run.totals.final_equity:10,.2f} "
            f"actions={len(position.actions)}"
        )
    for baseline, saved in result.saved().items():
        print(f"guard vs {baseline}: {saved['final_equity']:+,.2f} of final equity")
    if len(sys.argv) > 1:
        print(f"report: {write_report(result, Path(sys.argv[1]))}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
