"""How well the default rules protect positions on real crashes, against no guard and a static stop.

Every crash file in ../shared/data/crashes x leverage x long and short x poll interval: one
position opened at the first price with half of a 10,000 balance as margin (the replay's
default), the built-in rules, on the paper venue (binance profile: fills only at traded prices,
the market order price band, the insurance fund paying a liquidation's loss past bankruptcy).
The guard learns each symbol's one-minute tail from the bars that have ended as the replay runs
(there are no bars before a file's first). The baselines do not depend on the poll interval (the
static stop refreshes every 60 s, the venue liquidates on every tick); they are run once per
case, sampled every 15 s. A calm stretch (the quietest 12 hours found in the files) shows what
the guard costs when nothing happens.

A guarded run misses when its position is liquidated, ends in a shortfall, or when the position
or its account goes below zero at any tick (a stop filling far past bankruptcy liquidates
nothing and leaves no shortfall, but the user owes the difference; see riskguard.replay.result).
A miss whose bars before the first poll already reached the position's bankruptcy price is
marked "cannot be saved", with its figures.

Prints a markdown table per crash file, the checks issue 14 asks for and the cost of protection.
Poll 1 s dominates: 86,400 cycles per simulated day and about 0.5 ms each while a position is
held; the grid at polls 1, 15 and 60 s and leverage 3, 10, 20 and 50 on the 15 shared files takes
about two hours on 2 cores. ``--jobs`` runs cases in parallel; ``--polls``, ``--leverages`` and
``--files`` narrow it; ``--cache FILE`` keeps each finished run (JSON lines) so a grid can be
run in parts and resumed.

Run: .venv/bin/python bench/efficacy.py [--jobs 2] [--polls 1,15,60] [--cache F] [--out FILE]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import platform
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

CRASHES = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "crashes"
LEVERAGES = (3, 10, 20, 50)
SIDES = ("long", "short")
POLLS = (1, 15, 60)
BASELINE_POLL_S = 15
CALM_HOURS = 12


@dataclass(frozen=True)
class Case:
    file: str
    leverage: float
    side: str
    run: str  # guard, none, static-stop
    poll_s: float
    start_ms: int | None = None
    end_ms: int | None = None


@dataclass(frozen=True)
class Outcome:
    case: Case
    liquidated: bool
    shortfall: float
    final_equity: float
    fees: float
    min_distance_pct: float | None
    actions: int
    wall_s: float
    min_equity: float
    """The position's lowest equity at any tick."""
    account_min_equity: float
    """The account's lowest equity at any tick."""
    negative: bool
    """The position went below zero."""
    account_negative: bool
    """The account went below zero."""
    start_equity: float = 0.0
    stop_fired: bool = False
    """A stop order of the position filled (the static stop's, or the guard's own)."""
    first_poll: str = ""
    """For a guard run: how far the price went before the guard's first poll, and whether that
    was already past the position's bankruptcy (then no reaction could have saved it)."""

    @property
    def missed(self) -> bool:
        """Liquidated, a shortfall, or the position or the account below zero."""
        return self.liquidated or self.shortfall > 0 or self.negative or self.account_negative


def symbol_of(path: Path) -> str:
    """``btcusdt-perp-2020-03-12.csv`` -> ``BTC/USDT:USDT``."""
    pair = path.name.split("-")[0].upper()
    base = pair.removesuffix("USDT")
    return f"{base}/USDT:USDT"


def run_case(case: Case) -> Outcome:
    import asyncio

    from riskguard.replay import OpenSpec, build_scenario
    from riskguard.replay.runner import run_one, silenced_logs

    path = Path(case.file)
    symbol = symbol_of(path)
    scenario = build_scenario(
        prices=[(symbol, path)],
        opens=[OpenSpec(symbol, "long" if case.side == "long" else "short", case.leverage)],
        poll_interval_s=case.poll_s,
        start_ms=case.start_ms,
        end_ms=case.end_ms,
    )
    with silenced_logs():
        result = asyncio.run(run_one(scenario, case.run))
    (position,) = result.positions
    (account,) = result.accounts
    first = first_poll(scenario.bars[symbol], case) if case.run == "guard" else ""
    return Outcome(
        case=case,
        liquidated=position.liquidated,
        shortfall=result.totals.shortfall,
        final_equity=result.totals.final_equity,
        fees=result.totals.fees,
        min_distance_pct=position.min_distance_pct,
        actions=len(position.actions),
        wall_s=result.wall_s,
        min_equity=position.min_equity,
        account_min_equity=account.min_equity,
        negative=position.negative,
        account_negative=account.negative,
        start_equity=result.totals.start_equity,
        stop_fired=any(a.kind == "stop_filled" for a in position.actions),
        first_poll=first,
    )


def first_poll(bars: Any, case: Case) -> str:
    """``past bankruptcy: ...`` when the bars traded before the first poll reach the price at
    which the position's own stake (its margin, 1/leverage of the notional) is gone; else ''.

    One-minute bars do not say when inside a bar the extreme traded, so every bar that opens
    before the first poll counts (at most a minute more than the poll: a bound, not a certainty).
    """
    start = case.start_ms if case.start_ms is not None else bars.times_ms[0]
    first = bars.index_at(start)
    last = bars.index_at(start + int(case.poll_s * 1000) - 1)
    entry = bars.opens[max(first, 0)]
    long = case.side == "long"
    bankrupt = entry * (1 - 1 / case.leverage) if long else entry * (1 + 1 / case.leverage)
    span = range(max(first, 0), max(last, first) + 1)
    worst = min(bars.lows[i] for i in span) if long else max(bars.highs[i] for i in span)
    past = worst <= bankrupt if long else worst >= bankrupt
    if not past:
        return ""
    return (
        f"past bankruptcy before the first poll: entry {entry:g}, bankruptcy {bankrupt:g}, "
        f"the first {len(span)} bar(s) reached {worst:g}"
    )


def read_cache(path: str | None) -> dict[Case, Outcome]:
    """The runs a ``--cache`` file holds, by case (none when there is no file yet)."""
    if not path or not Path(path).exists():
        return {}
    out: dict[Case, Outcome] = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        try:
            row = json.loads(line)
            outcome = Outcome(**{**row, "case": Case(**row["case"])})
        except (ValueError, TypeError, KeyError) as exc:
            raise SystemExit(f"{path}:{number}: not a run of this bench ({exc})") from None
        out[outcome.case] = outcome
    return out


def calm_window(files: Sequence[Path]) -> tuple[Path, int, int, float]:
    """The 12-hour window (on the hour) with the smallest high-low range, over all files."""
    from riskguard.paper.feeds import read_price_csv

    best: tuple[float, Path, int, int] | None = None
    span = CALM_HOURS * 60
    for path in files:
        bars = read_price_csv(path, symbol_of(path))
        for start in range(0, len(bars.times_ms) - span, 60):
            highs = bars.highs[start : start + span]
            lows = bars.lows[start : start + span]
            rng = (max(highs) - min(lows)) / bars.opens[start]
            if best is None or rng < best[0]:
                end = bars.times_ms[start] + span * 60_000
                best = (rng, path, bars.times_ms[start], end)
    if best is None:
        raise SystemExit("no file is long enough for a calm window")
    return best[1], best[2], best[3], best[0] * 100


def _money(value: float) -> str:
    return f"{value:,.0f}"


def _liq(o: Outcome) -> str:
    return "LIQ" if o.liquidated else "ok"


def _neg(o: Outcome) -> str:
    """``no``, or the lowest equity of what went below zero: ``acct -3,779`` (the account's)
    or ``pos -412`` (only the position's)."""
    if o.account_negative:
        return f"acct {o.account_min_equity:,.0f}"
    if o.negative:
        return f"pos {o.min_equity:,.0f}"
    return "no"


def baseline(outcomes: dict[Case, Outcome], case: Case, run: str) -> Outcome:
    """The baseline run of the same file, leverage and side as ``case``."""
    return outcomes[Case(case.file, case.leverage, case.side, run, BASELINE_POLL_S)]


def table(
    outcomes: dict[Case, Outcome],
    files: Sequence[Path],
    polls: Sequence[float],
    levs: Sequence[float],
) -> list[str]:
    lines: list[str] = []
    for path in files:
        lines.append(f"\n### {path.name}\n")
        lines.append(
            "| lev | side | poll s | guard | shortfall | guard neg | guard equity | min dist % "
            "| actions | none | none neg | none equity | static-stop | static neg "
            "| static equity | vs none | vs static |"
        )
        lines.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
        for lev in levs:
            for side in SIDES:
                none = outcomes[Case(str(path), lev, side, "none", BASELINE_POLL_S)]
                stop = outcomes[Case(str(path), lev, side, "static-stop", BASELINE_POLL_S)]
                for poll in polls:
                    g = outcomes[Case(str(path), lev, side, "guard", poll)]
                    dist = "-" if g.min_distance_pct is None else f"{g.min_distance_pct:.2f}"
                    lines.append(
                        f"| {lev:g}x | {side} | {poll:g} | {_liq(g)} | {_money(g.shortfall)} "
                        f"| {_neg(g)} | {_money(g.final_equity)} | {dist} | {g.actions} "
                        f"| {_liq(none)} | {_neg(none)} | {_money(none.final_equity)} "
                        f"| {_liq(stop)} | {_neg(stop)} | {_money(stop.final_equity)} "
                        f"| {g.final_equity - none.final_equity:+,.0f} "
                        f"| {g.final_equity - stop.final_equity:+,.0f} |"
                    )
    return lines


def checks(outcomes: dict[Case, Outcome]) -> list[str]:
    guarded = [o for o in outcomes.values() if o.case.run == "guard" and o.case.start_ms is None]
    strict = [o for o in guarded if o.case.poll_s <= 15 and o.case.leverage <= 20]
    failed = [o for o in strict if o.missed]
    lines = [
        "\n### Checks\n",
        f"- poll <= 15 s and leverage <= 20x: {len(strict)} guard runs, {len(failed)} missed "
        f"(liquidated {sum(o.liquidated for o in strict)}, shortfall "
        f"{sum(o.shortfall > 0 for o in strict)}, position below zero "
        f"{sum(o.negative for o in strict)}, account below zero "
        f"{sum(o.account_negative for o in strict)})",
    ]
    lines += [
        f"  - FAIL {Path(o.case.file).name} {o.case.leverage:g}x {o.case.side} "
        f"poll {o.case.poll_s:g}: liquidated={o.liquidated} shortfall={o.shortfall:,.2f} "
        f"min equity position {o.min_equity:,.2f} account {o.account_min_equity:,.2f}"
        for o in failed
    ]
    missed = [o for o in guarded if o.missed]
    lines.append(f"- every guard miss, any poll and leverage: {len(missed)} of {len(guarded)} runs")
    lines += [
        f"  - {Path(o.case.file).name} {o.case.leverage:g}x {o.case.side} poll "
        f"{o.case.poll_s:g}: liquidated={o.liquidated} shortfall={o.shortfall:,.2f} min equity "
        f"position {o.min_equity:,.2f} account {o.account_min_equity:,.2f}"
        + (f"; cannot be saved: {o.first_poll}" if o.first_poll else "; savable")
        for o in missed
    ]
    every = [o for o in outcomes.values() if o.case.start_ms is None]
    for run in ("guard", "none", "static-stop"):
        runs = [o for o in every if o.case.run == run]
        lines.append(
            f"- `{run}`, every case: {len(runs)} runs, {sum(o.missed for o in runs)} missed: "
            f"liquidated {sum(o.liquidated for o in runs)}, shortfall "
            f"{sum(o.shortfall > 0 for o in runs)}, position below zero "
            f"{sum(o.negative for o in runs)}, account below zero "
            f"{sum(o.account_negative for o in runs)}"
        )
    lost = []
    for o in guarded:
        none = baseline(outcomes, o.case, "none")
        if none.liquidated and o.final_equity <= none.final_equity:
            lost.append((o, none))
    liquidated = sum(1 for o in guarded if baseline(outcomes, o.case, "none").liquidated)
    lines.append(
        f"- where `none` was liquidated, the guard ended lower in {len(lost)} of {liquidated} runs"
    )
    lines += [
        f"  - {Path(o.case.file).name} {o.case.leverage:g}x {o.case.side} poll "
        f"{o.case.poll_s:g}: guard {o.final_equity:,.0f} vs none {n.final_equity:,.0f}"
        for o, n in lost
    ]
    # The check: wherever the static stop fired or the unguarded position was
    # liquidated, the guard ends at or above the static stop.
    judged = [
        o
        for o in guarded
        if baseline(outcomes, o.case, "static-stop").stop_fired
        or baseline(outcomes, o.case, "none").liquidated
    ]
    under = [
        (o, baseline(outcomes, o.case, "static-stop"))
        for o in judged
        if o.final_equity < baseline(outcomes, o.case, "static-stop").final_equity - 1e-6
    ]
    lines.append(
        f"- where the static stop fired or `none` was liquidated: the guard ended below the "
        f"static stop in {len(under)} of {len(judged)} runs"
    )
    lines += [
        f"  - {Path(o.case.file).name} {o.case.leverage:g}x {o.case.side} poll "
        f"{o.case.poll_s:g}: guard {o.final_equity:,.0f} vs static {st.final_equity:,.0f}"
        for o, st in under
    ]
    for run in ("static-stop", "none"):
        below = sum(
            1 for o in guarded if o.final_equity < baseline(outcomes, o.case, run).final_equity
        )
        lines.append(f"- guard below `{run}`: {below} of {len(guarded)} runs")
    lines += cost_lines(outcomes, guarded)
    return lines


def cost_lines(outcomes: dict[Case, Outcome], guarded: Sequence[Outcome]) -> list[str]:
    """The cost of protection: where a baseline ended with more equity than the guard (a rally
    the guard cut, a stop that never fired), what the guard gave up, by leverage."""
    lines = ["\n### The cost of protection\n"]
    for run in ("none", "static-stop"):
        gaps = [(o, baseline(outcomes, o.case, run).final_equity - o.final_equity) for o in guarded]
        worse = [(o, gap) for o, gap in gaps if gap > 0]
        start = sum(o.start_equity for o in guarded) or 1.0
        lines.append(
            f"- against `{run}`: the guard ended lower in {len(worse)} of {len(gaps)} runs, "
            f"giving up {sum(g for _, g in worse):,.0f} in all "
            f"({100 * sum(g for _, g in worse) / start:.2f}% of the runs' starting equity); "
            f"largest {max((g for _, g in worse), default=0.0):,.0f}"
        )
        for lev in sorted({o.case.leverage for o in guarded}):
            at = [(o, g) for o, g in worse if o.case.leverage == lev]
            if at:
                lines.append(
                    f"  - {lev:g}x: {len(at)} runs, gave up {sum(g for _, g in at):,.0f}, "
                    f"median {statistics.median(g for _, g in at):,.0f}"
                )
    return lines


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=max(1, (multiprocessing.cpu_count() or 1)))
    parser.add_argument("--polls", default=",".join(str(p) for p in POLLS))
    parser.add_argument("--leverages", default=",".join(str(v) for v in LEVERAGES))
    parser.add_argument("--files", default="", help="comma-separated name fragments to keep")
    parser.add_argument("--out", help="also write the markdown to this file")
    parser.add_argument(
        "--cache",
        help="JSON lines of finished runs: read to skip them, appended as runs finish (a long "
        "grid can be run in parts, or resumed)",
    )
    args = parser.parse_args(argv)
    if not CRASHES.is_dir():
        print(f"skipped: {CRASHES} is absent (the shared crash data sits beside the checkout)")
        return 0
    polls = [float(p) for p in args.polls.split(",")]
    levs = [float(v) for v in args.leverages.split(",")]
    files = sorted(CRASHES.glob("*.csv"))
    if args.files:
        keep = args.files.split(",")
        files = [f for f in files if any(k in f.name for k in keep)]
    cases: list[Case] = []
    for path in files:
        for lev in levs:
            for side in SIDES:
                cases.append(Case(str(path), lev, side, "none", BASELINE_POLL_S))
                cases.append(Case(str(path), lev, side, "static-stop", BASELINE_POLL_S))
                cases.extend(Case(str(path), lev, side, "guard", p) for p in polls)
    calm_path, calm_from, calm_to, calm_range = calm_window(files)
    calm_cases = [
        Case(str(calm_path), lev, side, run, 15, calm_from, calm_to)
        for lev in levs
        for side in SIDES
        for run in ("guard", "none", "static-stop")
    ]
    # The slowest (guard at 1 s on the longest files) first, so the pool ends together.
    cases.sort(key=lambda c: (c.run != "guard", c.poll_s, -Path(c.file).stat().st_size))
    started = time.perf_counter()
    cached = read_cache(args.cache)
    todo = [c for c in cases + calm_cases if c not in cached]
    done = [cached[c] for c in cases + calm_cases if c in cached]
    with multiprocessing.Pool(args.jobs) as pool:
        for outcome in pool.imap_unordered(run_case, todo, chunksize=1):
            done.append(outcome)
            if args.cache:
                with open(args.cache, "a", encoding="utf-8") as out:
                    out.write(json.dumps(asdict(outcome)) + "\n")
    wall = time.perf_counter() - started
    outcomes = {o.case: o for o in done}
    lines = [
        "# riskguard efficacy on real crashes (default rules, paper venue)",
        "",
        f"Python {platform.python_version()} on {platform.machine()}, {args.jobs} jobs, "
        f"{len(done)} runs ({len(done) - len(todo)} from the cache) in {wall:,.0f} s, run "
        f"time of the runs {sum(o.wall_s for o in done):,.0f} s. Balance 10,000; one position "
        "with 5,000 margin "
        "at the first price; equity in USDT at the end of the file.",
    ]
    lines += table(outcomes, files, polls, levs)
    lines += checks(outcomes)
    lines.append(
        f"\n### Calm stretch: {calm_path.name}, {CALM_HOURS} h from "
        f"{time.strftime('%Y-%m-%d %H:%M', time.gmtime(calm_from / 1000))} UTC "
        f"(high-low range {calm_range:.2f}%), poll 15 s\n"
    )
    lines.append(
        "| lev | side | guard equity | actions | none equity | static equity | guard cost vs none |"
    )
    lines.append("|---|---|---|---|---|---|---|")
    for lev in levs:
        for side in SIDES:
            g, n, s = (
                outcomes[Case(str(calm_path), lev, side, run, 15, calm_from, calm_to)]
                for run in ("guard", "none", "static-stop")
            )
            lines.append(
                f"| {lev:g}x | {side} | {_money(g.final_equity)} | {g.actions} "
                f"| {_money(n.final_equity)} | {_money(s.final_equity)} "
                f"| {n.final_equity - g.final_equity:+,.2f} |"
            )
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.out:
        Path(args.out).write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
