"""How long a replay of one crash day takes: the guard and both baselines, as the CLI runs it.

For every one-day-or-shorter BTC file in ../shared/data/crashes, one 20x isolated long, at polls
of 1, 5 and 15 s: the scenario is built and replayed as ``riskguard replay`` does (guard, none,
static-stop). Prints the wall seconds of each run, the total from reading the file to the
result, and the CPU seconds of the whole (process time: what the machine's other work does not
inflate). Targets: the whole under 3 s at a 5 s poll and under 6 s at a 1 s poll.

``--share`` replays each case a second time under cProfile and prints the share of the guard
run spent in the risk core's account evaluation (``evaluate_account``, ``stress_account``) and
in the paper venue's own risk figures (``assess_account``): what a faster risk core would take
off. (Profiling slows every call, so shares, not seconds.)

Run: PYTHONPATH=. .venv/bin/python bench/replay_speed.py [--polls 1,5,15] [--share]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import platform
import pstats
import time
from pathlib import Path

from riskguard.paper.feeds import read_price_csv
from riskguard.replay import OpenSpec, build_scenario, replay

CRASHES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crashes"
SYMBOL = "BTC/USDT:USDT"
TARGETS_S = {5.0: 3.0, 1.0: 6.0}
"""Poll interval -> the most a whole replay (guard and both baselines) may take."""
SHARES = ("evaluate_account", "stress_account", "assess_account")


def _share(path: Path, poll: float) -> dict[str, float]:
    """The share of the profiled guard run spent in each of :data:`SHARES` (cumulative)."""
    from riskguard.replay.runner import run_one, silenced_logs

    scenario = build_scenario(
        prices=[(SYMBOL, path)], opens=[OpenSpec(SYMBOL, "long", 20)], poll_interval_s=poll
    )
    profile = cProfile.Profile()
    with silenced_logs():
        profile.enable()
        asyncio.run(run_one(scenario, "guard"))
        profile.disable()
    table = pstats.Stats(profile).stats  # type: ignore[attr-defined]
    total = max(ct for (_, _, _, ct, _) in table.values())
    out = dict.fromkeys(SHARES, 0.0)
    for (filename, _, name), (_, _, _, cumulative, _) in table.items():
        if name in out and "/riskguard/" in filename.replace("\\", "/"):
            out[name] += cumulative / total
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--polls", default="1,5,15", help="poll intervals in s (default 1,5,15)")
    parser.add_argument("--share", action="store_true", help="profile the risk core's share")
    args = parser.parse_args()
    polls = [float(p) for p in args.polls.split(",")]
    if not CRASHES.is_dir():
        print(f"skipped: {CRASHES} is absent")
        return 0
    import riskguard

    print(f"Python {platform.python_version()} on {platform.machine()}")
    print(f"riskguard from {Path(riskguard.__file__).parent}")
    header = (
        "| file | hours | poll s | guard s | none s | static-stop s | total s | CPU s | target |"
    )
    print(header)
    print("|---|---|---|---|---|---|---|---|---|")
    verdicts: list[str] = []
    shares: list[str] = []
    grand = 0.0
    for path in sorted(CRASHES.glob("btcusdt-*.csv")):
        bars = read_price_csv(path, SYMBOL)
        hours = (bars.end_ms - bars.start_ms) / 3_600_000
        if hours > 24:
            continue
        for poll in polls:
            started = time.perf_counter()
            cpu = time.process_time()
            scenario = build_scenario(
                prices=[(SYMBOL, path)], opens=[OpenSpec(SYMBOL, "long", 20)], poll_interval_s=poll
            )
            result = replay(scenario)
            total = time.perf_counter() - started
            cpu = time.process_time() - cpu
            grand += total
            walls = " | ".join(
                f"{result.runs[n].wall_s:.2f}" for n in ("guard", "none", "static-stop")
            )
            target = TARGETS_S.get(poll)
            verdict = "" if target is None else ("PASS" if total < target else "MISS")
            shown = f"{verdict} < {target:g} s" if target is not None else "-"
            print(
                f"| {path.name} | {hours:.0f} | {poll:g} | {walls} | {total:.2f} | {cpu:.2f} "
                f"| {shown} |"
            )
            if target is not None:
                verdicts.append(f"{verdict}: {path.name} at {poll:g} s: {total:.2f} s wall")
            if args.share:
                share = _share(path, poll)
                figures = ", ".join(f"{k} {v:.0%}" for k, v in share.items())
                shares.append(f"{path.name} at {poll:g} s, guard run: {figures}")
    print(f"\nall runs: {grand:.2f} s wall")
    for line in verdicts:
        print(line)
    for line in shares:
        print(line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
