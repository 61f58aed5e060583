"""``python -m tests.chaos [--long] [--seed N ...]``: the chaos suite (``make chaos``).

Each episode (:mod:`tests.chaos.episode`) replays the fastest minutes of a shared crash file at
wall speed on a paper venue behind fake Binance servers, injects seeded faults on every endpoint
(:mod:`tests.chaos.plan`), lets a bot trade beside the guard and SIGKILLs the daemon at random.
The audit (:mod:`tests.chaos.audit`) reads the venue's record, the journal and the alerts that
reached the webhook. The suite prints one line over all episodes::

    K kills, F faults, O orders: 0 duplicate fills, 0 exposure-increasing, ...

and exits 1 when any count is above zero (each violation is listed above the line, and the
episode's folder is kept). ``--short`` (the default, run by ``.ci/run``) plays the regression seeds
of ``regression_seeds.txt`` (seeds that once failed) and one more, about 75 s each; ``--long``
plays 12 episodes of 3 minutes (at least 50 kills and 5,000 faults).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

from tests.chaos.audit import COUNTS
from tests.chaos.episode import ROOT, Episode, Shape, run_episode

SHORT = Shape(seconds=75.0, accounts=3)
LONG = Shape(seconds=180.0, accounts=6)
LONG_SEEDS = tuple(range(100, 112))
SHORT_SEED = 1


def regression_seeds() -> list[int]:
    """Seeds that once found a violation (one per line, ``#`` starts a note)."""
    path = Path(__file__).with_name("regression_seeds.txt")
    seeds = []
    for line in path.read_text(encoding="utf-8").splitlines():
        text = line.split("#", 1)[0].strip()
        if text:
            seeds.append(int(text))
    return seeds


def summary(episodes: list[Episode]) -> str:
    kills = sum(e.kills for e in episodes)
    faults = sum(e.faults for e in episodes)
    orders = sum(e.orders for e in episodes)
    counts = ", ".join(f"{sum(e.findings.counts[c] for e in episodes)} {c}" for c in COUNTS)
    return f"{kills} kills, {faults} faults, {orders} orders: {counts}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.chaos", description=__doc__)
    parser.add_argument("--long", action="store_true", help="12 episodes of 3 minutes")
    parser.add_argument("--seed", type=int, action="append", help="play these seeds only")
    parser.add_argument("--seconds", type=float, help="length of each episode")
    parser.add_argument("--shared", default=str(ROOT.parent / "shared"), help="../shared")
    parser.add_argument("--keep", help="keep every episode's folder under this directory")
    parser.add_argument("-v", "--verbose", action="store_true", help="a line per episode")
    args = parser.parse_args(argv)
    shape = LONG if args.long else SHORT
    if args.seconds:
        shape = replace(shape, seconds=args.seconds)
    if args.seed:
        seeds = list(args.seed)
    elif args.long:
        seeds = list(LONG_SEEDS)
    else:
        seeds = [*regression_seeds(), SHORT_SEED]
    shared = Path(args.shared)
    if not (shared / "data" / "crashes").is_dir():
        print(f"chaos: {shared}/data/crashes: no crash files (give --shared)", file=sys.stderr)
        return 2
    base = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="riskguard-chaos-"))
    base.mkdir(parents=True, exist_ok=True)
    episodes: list[Episode] = []
    started = time.monotonic()
    for seed in seeds:
        folder = base / f"seed-{seed}"
        folder.mkdir(parents=True, exist_ok=True)
        episode = run_episode(seed, shape, shared, folder)
        episodes.append(episode)
        bad = sum(episode.findings.counts.values())
        by_why = episode.findings.liquidations
        liquidations = ", ".join(f"{n} {why}" for why, n in sorted(by_why.items())) or "none"
        if args.verbose or bad or episode.exits:
            print(
                f"seed {seed}: {episode.source} {episode.side} ({episode.move_pct:.1f}% move), "
                f"{episode.kills} kills, {episode.faults} faults in {episode.requests} requests, "
                f"{episode.orders} orders, {bad} violations; liquidations: {liquidations} "
                f"({folder})",
                flush=True,
            )
            for line in episode.findings.details[:20]:
                print(f"  {line}", flush=True)
            for line in episode.exits[:5]:
                print(f"  daemon {line}", flush=True)
    failed = any(sum(e.findings.counts.values()) for e in episodes)
    if not args.keep and not failed:
        shutil.rmtree(base, ignore_errors=True)
    liquidations = sum(sum(e.findings.liquidations.values()) for e in episodes)
    print(
        summary(episodes) + f" ({len(episodes)} episodes, {time.monotonic() - started:.0f} s, "
        f"{liquidations} liquidations in all)"
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
