"""What the learned one-minute tail changes: the guard with it (the default) and without it.

Every altcoin window in ../shared/data/crashes (files other than BTC and LUNA), leverage 10, 20
and 50x, long and short, poll 60 s (a minute between polls: where a one-minute spike hurts
most), the built-in rules on the paper venue; once with ``guard.tail_lookback_bars`` at its
default (a day of one-minute bars, learned from the bars that have ended as the replay runs)
and once at 0 (the configured gaps alone). Prints one JSON line per run and a summary: runs that
differ, and any run liquidated or below zero.

Run: .venv/bin/python bench/learned_tail.py [--out FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import dataclasses
import json
import sys
from pathlib import Path

from riskguard.replay import OpenSpec, build_scenario
from riskguard.replay.runner import run_one, silenced_logs

CRASHES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crashes"
MAJORS = ("btcusdt", "lunausdt")


def symbol_of(path: Path) -> str:
    return f"{path.name.split('-', maxsplit=1)[0].upper().removesuffix('USDT')}/USDT:USDT"


def run(path: Path, leverage: int, side: str, tails: bool) -> dict[str, object]:
    symbol = symbol_of(path)
    scenario = build_scenario(
        prices=[(symbol, path)], opens=[OpenSpec(symbol, side, leverage)], poll_interval_s=60
    )
    if not tails:
        off = scenario.guard.model_copy(update={"tail_lookback_bars": 0})
        scenario = dataclasses.replace(scenario, guard=off)
    with silenced_logs():
        result = asyncio.run(run_one(scenario, "guard"))
    (position,) = result.positions
    (account,) = result.accounts
    return {
        "file": path.name,
        "leverage": leverage,
        "side": side,
        "learned_tail": tails,
        "liquidated": position.liquidated,
        "position_min_equity": round(position.min_equity, 2),
        "account_min_equity": round(account.min_equity, 2),
        "final_equity": round(result.totals.final_equity, 2),
        "actions": len(position.actions),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", help="also write the lines and the summary to this file")
    args = parser.parse_args()
    if not CRASHES.is_dir():
        print(f"skipped: {CRASHES} is absent")
        return 0
    files = [p for p in sorted(CRASHES.glob("*.csv")) if not p.name.startswith(MAJORS)]
    lines: list[str] = []
    pairs: dict[tuple[str, int, str], dict[bool, dict[str, object]]] = {}
    for path in files:
        for leverage in (10, 20, 50):
            for side in ("long", "short"):
                for tails in (True, False):
                    row = run(path, leverage, side, tails)
                    pairs.setdefault((path.name, leverage, side), {})[tails] = row
                    lines.append(json.dumps(row))
                    print(lines[-1], flush=True)
    differ = [
        f"{k[0]} {k[1]}x {k[2]}: final {v[True]['final_equity']:,} with the tail, "
        f"{v[False]['final_equity']:,} without"
        for k, v in pairs.items()
        if v[True]["final_equity"] != v[False]["final_equity"]
    ]
    bad = [
        json.loads(line)
        for line in lines
        if json.loads(line)["liquidated"]
        or json.loads(line)["position_min_equity"] < 0
        or json.loads(line)["account_min_equity"] < 0
    ]
    summary = [
        f"{len(pairs)} pairs of runs; {len(differ)} differ; {len(bad)} runs liquidated or below "
        "zero",
        *(f"- {d}" for d in differ),
        *(f"- missed: {b}" for b in bad),
    ]
    print("\n".join(summary))
    if args.out:
        Path(args.out).write_text("\n".join([*lines, *summary]) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
