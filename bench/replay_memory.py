"""Peak RSS of a 4-day replay at 1 s poll, and whether it stays flat from hour 1 to the end.

The replay is the CLI's: the guard and both baselines (``none``, ``static-stop``) on
``btcusdt-perp-2022-05-09.csv`` (4 days of one-minute bars), one 20x isolated long, 1 s poll.
It runs in a subprocess of its own (a fresh interpreter, so the figures are the replay's alone).
That process reads its resident set from ``/proc/self/statm`` whenever its virtual clock passes a
mark: hour 1 and every 12 simulated hours of the guard run, the end of each run, and after
``replay`` returned (the results still held). Target (issue 17): RSS at the end within 10% of
RSS at hour 1.

``--root DIR`` runs the replay with another checkout's ``riskguard`` (e.g. the main branch, to
compare before and after in the same script); ``--hours`` replays only the first hours of the
file (a quicker look).

Run: PYTHONPATH=. .venv/bin/python bench/replay_memory.py [--root DIR] [--hours H] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
CRASHES = ROOT.parent / "shared" / "data" / "crashes"
FILE = "btcusdt-perp-2022-05-09.csv"
SYMBOL = "BTC/USDT:USDT"
EVERY_H = 12.0
TARGET_PCT = 10.0
HOUR_MS = 3_600_000


def rss_mb() -> float:
    """This process's resident set now, in MB (``/proc/self/statm``: pages)."""
    with open("/proc/self/statm", encoding="ascii") as statm:
        pages = int(statm.read().split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


def child(hours: float | None, poll_s: float) -> int:
    """Run the replay here and print one JSON line per mark (run, simulated hour, RSS MB)."""
    from riskguard.clock import VirtualClock
    from riskguard.paper.feeds import read_price_csv
    from riskguard.replay import OpenSpec, build_scenario, replay

    path = CRASHES / FILE
    bars = read_price_csv(path, SYMBOL)
    start = bars.start_ms
    end = None if hours is None else start + round(hours * HOUR_MS)
    scenario = build_scenario(
        prices=[(SYMBOL, path)],
        opens=[OpenSpec(SYMBOL, "long", 20)],
        poll_interval_s=poll_s,
        end_ms=end,
    )
    names = ("guard", *scenario.baselines)
    state: dict[str, Any] = {"run": -1, "last": None, "next": None}

    def mark(run: int, t_ms: int) -> None:
        sim_h = (t_ms - start) / HOUR_MS
        line = {"run": names[run], "hour": round(sim_h, 2), "rss_mb": round(rss_mb(), 2)}
        print(json.dumps(line), flush=True)

    original = VirtualClock.advance_to

    def advance_to(self: VirtualClock, t_ms: int) -> None:
        original(self, t_ms)
        t = self.now_ms()
        last = state["last"]
        if last is None or t < last:  # a run starts from the beginning of the file
            if last is not None:
                mark(state["run"], last)
            state["run"] += 1
            state["next"] = start + HOUR_MS
        state["last"] = t
        if state["run"] == 0 and t >= state["next"]:
            mark(0, t)
            step = round(EVERY_H * HOUR_MS)
            state["next"] = start + step * ((t - start) // step + 1)

    VirtualClock.advance_to = advance_to  # type: ignore[method-assign]
    started = time.perf_counter()
    result = replay(scenario)
    wall = time.perf_counter() - started
    if state["last"] is not None:
        mark(state["run"], state["last"])
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024 / 1e6  # KiB
    totals = {n: r.totals for n, r in result.runs.items()}
    print(
        json.dumps(
            {
                "run": "after replay",
                "hour": None,
                "rss_mb": round(rss_mb(), 2),
                "peak_mb": round(peak, 2),
                "wall_s": round(wall, 1),
                "figures": {
                    n: {
                        "final_equity": t.final_equity,
                        "liquidations": t.liquidations,
                        "actions": sum(len(p.actions) for p in result.runs[n].positions),
                        "alerts": result.runs[n].alerts,
                    }
                    for n, t in totals.items()
                },
            }
        ),
        flush=True,
    )
    return 0


def measure(root: Path, hours: float | None, poll_s: float) -> list[dict[str, Any]]:
    """Run the child with ``root``'s riskguard and collect its lines."""
    command = [sys.executable, str(Path(__file__).resolve()), "--child", "--poll", str(poll_s)]
    if hours is not None:
        command += ["--hours", str(hours)]
    env = {**os.environ, "PYTHONPATH": str(root)}
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, env=env, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"the replay under {root} failed:\n{done.stderr[-2000:]}")
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def table(label: str, lines: list[dict[str, Any]]) -> list[str]:
    """The marks as a Markdown table, with the growth from hour 1 and the verdict."""
    out = [f"### {label}", "", "| run | simulated hour | RSS MB |", "|---|---|---|"]
    for line in lines:
        hour = "" if line["hour"] is None else f"{line['hour']:.1f}"
        out.append(f"| {line['run']} | {hour} | {line['rss_mb']:.1f} |")
    first = next((x["rss_mb"] for x in lines if x["run"] == "guard"), None)
    final = lines[-1]
    if first is None:
        out += ["", "no mark at hour 1: the replay is shorter than an hour"]
        return out
    worst = max(x["rss_mb"] for x in lines)
    growth = (final["rss_mb"] - first) / first * 100
    worst_growth = (worst - first) / first * 100
    verdict = "PASS" if max(growth, worst_growth) <= TARGET_PCT else "MISS"
    out += [
        "",
        f"- RSS at hour 1 {first:.1f} MB, at the end {final['rss_mb']:.1f} MB: "
        f"{growth:+.1f}% (highest mark {worst:.1f} MB, {worst_growth:+.1f}%): "
        f"{verdict} (target ≤ {TARGET_PCT:g}%)",
        f"- peak RSS {final['peak_mb']:.1f} MB; replay wall time {final['wall_s']:.0f} s",
        f"- figures: `{json.dumps(final['figures'], sort_keys=True)}`",
    ]
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--hours", type=float, help="replay only the first HOURS of the file")
    parser.add_argument("--poll", type=float, default=1.0, help="poll interval, seconds")
    parser.add_argument("--root", type=Path, action="append", default=[], help="checkout(s)")
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    if args.child:
        return child(args.hours, args.poll)
    if not (CRASHES / FILE).is_file():
        print(f"skipped: {CRASHES / FILE} is absent")
        return 0
    span = "4 days" if args.hours is None else f"{args.hours:g} h"
    lines = [
        f"# Replay memory: {FILE}, {span}, {args.poll:g} s poll, guard + baselines",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores.",
        "",
    ]
    for root in args.root or [ROOT]:
        block = table(str(root.resolve()), measure(root.resolve(), args.hours, args.poll))
        print("\n".join(block), flush=True)
        lines += [*block, ""]
    if args.out is not None:
        args.out.write_text("\n".join(lines), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
