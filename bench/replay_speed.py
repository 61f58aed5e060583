"""How long a replay of one crash day takes: the guard and both baselines, as the CLI runs it.

For every one-day-or-shorter BTC file in ../shared/data/crashes, one 20x isolated long, at the
default poll interval (5 s) and at 15 s. Target: under 10 s per day with all three runs.

Run: .venv/bin/python bench/replay_speed.py
"""

from __future__ import annotations

import platform
import time
from pathlib import Path

from riskguard.paper.feeds import read_price_csv
from riskguard.replay import OpenSpec, build_scenario, replay

CRASHES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crashes"
SYMBOL = "BTC/USDT:USDT"


def main() -> int:
    if not CRASHES.is_dir():
        print(f"skipped: {CRASHES} is absent")
        return 0
    print(f"Python {platform.python_version()} on {platform.machine()}")
    print("| file | simulated hours | poll s | guard s | none s | static-stop s | total s |")
    print("|---|---|---|---|---|---|---|")
    for path in sorted(CRASHES.glob("btcusdt-*.csv")):
        bars = read_price_csv(path, SYMBOL)
        hours = (bars.end_ms - bars.start_ms) / 3_600_000
        if hours > 24:
            continue
        for poll in (5.0, 15.0):
            started = time.perf_counter()
            scenario = build_scenario(
                prices=[(SYMBOL, path)], opens=[OpenSpec(SYMBOL, "long", 20)], poll_interval_s=poll
            )
            result = replay(scenario)
            total = time.perf_counter() - started
            walls = " | ".join(
                f"{result.runs[n].wall_s:.2f}" for n in ("guard", "none", "static-stop")
            )
            print(f"| {path.name} | {hours:.0f} | {poll:g} | {walls} | {total:.2f} |")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
