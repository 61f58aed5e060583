"""Throughput of the risk core: batch liquidation screening and evaluations, beside numpy.

Run from the repository root::

    PYTHONPATH=. .venv/bin/python bench/risk_core.py [--previous PATH] [--markdown FILE]

Prints figures and a PASS/MISS line per target; it asserts nothing about time. Inputs come from a
fixed seed, so every run measures the same positions. Each figure stands beside a reference
measured in the same run: the numpy floor (the bare arithmetic of the same formulas over arrays
built in advance: one tier's root per position, no tier walk, no None handling, no objects), the
scalar path the batch replaced, and with ``--previous PATH`` the evaluation figures of another
checkout (the commit before, say) measured in a child process right after ours.

Sections: (a) batch liquidation + distance, (b) the same per venue profile, (c) one isolated
position's evaluation, (d) evaluation per position with 16 scenarios, (e) one position's stress
with the 22 default scenarios, (f) where the array paths start to pay (scalar and array paths
forced in turn), which is what the thresholds ARRAY_MIN and STRESS_ARRAY_MIN follow.

Targets (issue 17):
    (a) risk core batch, liquidation price + distance, tiered Binance brackets, exact tier walk:
        >= 2,000,000 positions/s (counted from columns, and from Position objects)
    (d) evaluation with 16 scenarios: < 5 us per position (a 20-position cross account through
        evaluate_account, total time / 20; and batches of isolated positions, time / positions)
    earlier: (a) >= 200,000 positions/s, (c) evaluate_position < 50 us
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import random
import subprocess
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from riskguard import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.risk import (
    PROFILES,
    RiskSettings,
    Scenario,
    evaluate_account,
    evaluate_position,
    get_profile,
    liquidation_distances,
    per_sqrt_second,
    span_scenarios,
    stress_account,
    tiers_from_max_leverage,
    with_cumulative_amounts,
)

SEED = 20240728
BATCH_SIZE = 200_000
BATCH_RUNS = 5
VENUE_BATCH_SIZE = 50_000
VENUE_RUNS = 3
ACCOUNT_POSITIONS = 20
REFERENCE_PRICE = 60_000.0

TARGET_BATCH_PER_S = 2_000_000.0
TARGET_EVALUATION_US = 5.0
EARLIER_BATCH_PER_S = 200_000.0
EARLIER_SINGLE_US = 50.0
EVAL_BATCH_SIZE = 50_000

# A Binance-like BTCUSDT bracket table: (notional floor, maintenance margin rate, max leverage).
BRACKETS: tuple[tuple[float, float, float], ...] = (
    (0.0, 0.004, 125.0),
    (50_000.0, 0.005, 100.0),
    (250_000.0, 0.01, 50.0),
    (3_000_000.0, 0.025, 20.0),
    (20_000_000.0, 0.05, 10.0),
    (40_000_000.0, 0.1, 5.0),
    (100_000_000.0, 0.125, 4.0),
    (120_000_000.0, 0.15, 3.0),
    (200_000_000.0, 0.25, 2.0),
    (300_000_000.0, 0.5, 1.0),
)


def bracket_tiers(unit: TierUnit = TierUnit.NOTIONAL, per_unit: float = 1.0) -> tuple[Tier, ...]:
    """The bracket table as tiers.

    Notional tiers get Binance's cumulative maintenance amounts. ``unit=SIZE`` with ``per_unit``
    (a price) turns the notional floors into size floors, the way OKX counts its position tiers;
    OKX charges each tier's rate on the whole position value with no deduction (amount 0).
    """
    tiers = []
    for i, (floor, rate, max_leverage) in enumerate(BRACKETS):
        upper = BRACKETS[i + 1][0] / per_unit if i + 1 < len(BRACKETS) else math.inf
        tiers.append(Tier(floor / per_unit, upper, rate, 0.0, max_leverage, unit))
    if unit is TierUnit.SIZE:
        return tuple(tiers)
    return with_cumulative_amounts(tiers)


def max_leverage_at(notional: float) -> float:
    """The bracket's max leverage for a notional."""
    allowed = BRACKETS[0][2]
    for floor, _rate, max_leverage in BRACKETS:
        if notional >= floor:
            allowed = max_leverage
    return allowed


def make_positions(
    n: int,
    rng: random.Random,
    *,
    symbol: str = "BTC/USDT:USDT",
    margin_mode: MarginMode = MarginMode.ISOLATED,
    tiers: tuple[Tier, ...] = (),
    maintenance_margin_rate: float | None = None,
    max_leverage: float | None = None,
    taker_fee: float = 0.0,
    leverage_cap: float = math.inf,
    inverse: bool = False,
) -> list[Position]:
    """Varied positions: notional 100 to ~200M (log-uniform), both sides, 1x to the bracket's max
    leverage or ``leverage_cap`` (log-uniform), entry 20k-120k, mark within +-3% of entry."""
    out = []
    for _ in range(n):
        notional = 10.0 ** rng.uniform(2.0, 8.3)
        entry = rng.uniform(20_000.0, 120_000.0)
        cap = min(leverage_cap, max_leverage_at(notional))
        leverage = math.exp(rng.uniform(0.0, math.log(cap)))
        # Inverse: size is the USD value and collateral is in coins (riskguard's convention).
        size = notional if inverse else notional / entry
        collateral = notional / leverage / (entry if inverse else 1.0)
        out.append(
            Position(
                symbol=symbol,
                side=Side.LONG if rng.random() < 0.5 else Side.SHORT,
                size=size,
                entry_price=entry,
                mark_price=entry * (1.0 + rng.uniform(-0.03, 0.03)),
                margin_mode=margin_mode,
                leverage=leverage,
                collateral=collateral if margin_mode is MarginMode.ISOLATED else None,
                tiers=tiers,
                maintenance_margin_rate=maintenance_margin_rate,
                max_leverage=max_leverage,
                taker_fee=taker_fee,
                contract_size=100.0 if inverse else 1.0,
                inverse=inverse,
            )
        )
    return out


def best_seconds(fn: Callable[[], object], runs: int) -> float:
    """Fastest wall time of ``runs`` calls."""
    best = math.inf
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def per_call_us(fn: Callable[[], object], number: int, repeat: int = 5) -> float:
    """Fastest mean time per call over ``repeat`` rounds of ``number`` calls, in microseconds."""
    return min(timeit.repeat(fn, number=number, repeat=repeat)) / number * 1e6


def fmt(value: float | None, spec: str) -> str:
    return "none" if value is None else format(value, spec)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


LINES: list[str] = []


def say(line: str = "") -> None:
    """Print a line and keep it for the markdown report."""
    print(line, flush=True)
    LINES.append(line)


# --- numpy floors: the bare arithmetic over arrays built in advance ----------------------------


def floor_columns(positions: Sequence[Position]) -> dict[str, np.ndarray]:
    """Plain arrays of linear isolated positions on one notional tier table, with the tier in
    force at the mark already looked up (none of this is timed)."""
    tiers = positions[0].tiers or (
        Tier(0.0, math.inf, positions[0].maintenance_margin_rate or 0.0),
    )
    floors = np.array([t.min_bound for t in tiers[1:]])
    size = np.array([p.size for p in positions])
    mark = np.array([p.mark_price for p in positions])
    index = np.searchsorted(floors, size * mark, side="right")
    return {
        "sign": np.array([p.side.sign for p in positions], dtype=np.float64),
        "size": size,
        "entry": np.array([p.entry_price for p in positions]),
        "mark": mark,
        "collateral": np.array([p.collateral or 0.0 for p in positions]),
        "fee": np.array([p.taker_fee for p in positions]),
        "rate": np.array([t.maintenance_margin_rate for t in tiers])[index],
        "amount": np.array([t.maintenance_amount for t in tiers])[index],
    }


def floor_liquidation(c: dict[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
    """The tier-at-mark root and the distance: one tier, no walk, no None."""
    k = c["collateral"] - c["sign"] * c["size"] * c["entry"]
    price = -(k + c["amount"]) / (c["size"] * (c["sign"] - c["rate"] - c["fee"]))
    return price, np.abs(c["mark"] - price) / c["mark"]


def floor_evaluation(
    c: dict[str, np.ndarray], factors: np.ndarray, slips: np.ndarray, sigma_root_h: float
) -> list[np.ndarray]:
    """Liquidation, distance, sigma distance and the stress minimum, nothing else (in chunks of
    the rows riskguard's batch uses, so both keep their temporaries in cache)."""
    from riskguard.risk.batch import CHUNK

    out = []
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, len(c["mark"]), CHUNK):
            part = {k: v[lo : lo + CHUNK] for k, v in c.items()}
            price, _distance = floor_liquidation(part)
            out.append(np.abs(np.log(part["mark"] / price)) / sigma_root_h)
            stressed = part["mark"] * factors[:, lo : lo + CHUNK]
            fee = part["fee"] + slips[:, None]
            value = part["sign"] * part["size"] * (stressed - part["entry"])
            out.append((part["collateral"] + value - part["size"] * stressed * fee).min(axis=0))
    return out


def object_floor_us(account: AccountSnapshot, settings: RiskSettings) -> float:
    """Per position: building the PositionRisk and PositionEvaluation objects an evaluation
    returns, with their figures already known (no arithmetic at all)."""
    from dataclasses import fields

    from riskguard.risk import PositionEvaluation

    evaluation = evaluate_account(account, settings)
    known = [
        ({f.name: getattr(e.risk, f.name) for f in fields(e.risk)}, e) for e in evaluation.positions
    ]
    risk_type = type(evaluation.positions[0].risk)

    def build() -> None:
        for values, e in known:
            PositionEvaluation(
                risk_type(**values),
                e.sigma_distance,
                e.touch_probability,
                e.shortfall,
                e.worst_scenario,
                e.shortfall_scope,
            )

    return per_call_us(build, 1_000) / len(known)


def stress_inputs(scenarios: Sequence[Scenario], n: int) -> tuple[np.ndarray, np.ndarray]:
    """Price factors (scenarios x positions, one common move) and slippages, for the floors."""
    factors = np.array([[1.0 + s.loss_weight * s.move for s in scenarios]]).T
    slips = np.array([0.0005 * s.cost_factor for s in scenarios])
    return np.repeat(factors, n, axis=1), slips


# --- (a) and (b): batch liquidation -----------------------------------------------------------


def bench_batch(rng: random.Random) -> tuple[float, float]:
    """(a) Batch liquidation price + distance over isolated Binance positions.

    Returns positions/s from columns and from Position objects."""
    from riskguard.risk.arrays import position_arrays
    from riskguard.risk.batch import liquidation_arrays, scalar_liquidation_distances

    profile = get_profile("binance")
    tiers = bracket_tiers()
    positions = make_positions(BATCH_SIZE, rng, tiers=tiers)
    results = liquidation_distances(positions, profile)
    past = sum(1 for _lp, d in results if d is not None and d <= 0.0)
    n = len(positions)
    columns = position_arrays(positions, profile)
    floor = floor_columns(positions)
    objects_s = best_seconds(lambda: liquidation_distances(positions, profile), BATCH_RUNS)
    extract_s = best_seconds(lambda: position_arrays(positions, profile), BATCH_RUNS)
    columns_s = best_seconds(lambda: liquidation_arrays(columns), BATCH_RUNS)
    floor_s = best_seconds(lambda: floor_liquidation(floor), BATCH_RUNS)
    scalar_n = n // 4
    scalar_s = best_seconds(
        lambda: scalar_liquidation_distances(positions[:scalar_n], profile), 3
    ) * (n / scalar_n)
    say(f"(a) batch liquidation + distance, binance isolated, {len(tiers)} tiers, exact walk")
    say(f"    {n:,} positions, best of {BATCH_RUNS} ({past:,} already past liquidation)")
    say(f"    from columns      {n / columns_s:>12,.0f} positions/s  ({columns_s * 1e3:,.1f} ms)")
    say(
        f"    from Positions    {n / objects_s:>12,.0f} positions/s  (objects in, list of"
        f" tuples out; building the columns alone runs at {n / extract_s:,.0f}/s)"
    )
    say(
        f"    scalar loop       {n / scalar_s:>12,.0f} positions/s  (the path it replaced,"
        f" on {scalar_n:,})"
    )
    say(
        f"    numpy floor       {n / floor_s:>12,.0f} positions/s  (one tier's root, no walk);"
        f" columns take {columns_s / floor_s:.1f}x the floor"
    )
    return n / columns_s, n / objects_s


def venue_positions(name: str, rng: random.Random) -> list[Position]:
    """Positions carrying the margin data each venue profile reads."""
    n = VENUE_BATCH_SIZE
    if name == "okx":
        size_tiers = bracket_tiers(TierUnit.SIZE, REFERENCE_PRICE)
        return make_positions(n, rng, tiers=size_tiers, taker_fee=0.0005)
    if name == "gate":
        return make_positions(n, rng, tiers=bracket_tiers(), taker_fee=0.0005)
    if name == "hyperliquid":
        table = tiers_from_max_leverage([(0.0, 40.0), (150_000_000.0, 20.0)])
        return make_positions(n, rng, tiers=table, leverage_cap=40.0)
    if name == "generic":
        return make_positions(n, rng, maintenance_margin_rate=0.005)
    return make_positions(n, rng, tiers=bracket_tiers())


def bench_venues(rng: random.Random) -> None:
    """(b) The same batch per venue profile."""
    from riskguard.risk.arrays import position_arrays
    from riskguard.risk.batch import liquidation_arrays, scalar_liquidation_distances

    say(
        f"(b) batch per venue profile ({VENUE_BATCH_SIZE:,} positions, best of {VENUE_RUNS}),"
        " positions/s"
    )
    say(f"    {'venue':<15} {'columns':>12} {'Positions':>12} {'scalar':>12}")
    inverse = make_positions(
        VENUE_BATCH_SIZE,
        rng,
        symbol="BTC/USD:BTC",
        maintenance_margin_rate=0.004,
        taker_fee=0.0005,
        inverse=True,
    )
    rows = [(name, profile, venue_positions(name, rng)) for name, profile in PROFILES.items()]
    rows.append(("okx (inverse)", get_profile("okx"), inverse))
    for name, profile, positions in rows:
        columns = position_arrays(positions, profile)
        n = len(positions)
        col_s = best_seconds(lambda c=columns: liquidation_arrays(c), VENUE_RUNS)
        obj_s = best_seconds(lambda p=positions, v=profile: liquidation_distances(p, v), VENUE_RUNS)
        part = positions[: n // 10]
        scalar_s = (
            best_seconds(lambda p=part, v=profile: scalar_liquidation_distances(p, v), 1) * 10
        )
        margin = "flat mmr" if not positions[0].tiers else f"{len(positions[0].tiers)} tiers"
        say(
            f"    {name:<15} {n / col_s:>12,.0f} {n / obj_s:>12,.0f} {n / scalar_s:>12,.0f}"
            f"  ({margin})"
        )


# --- (c), (d), (e): evaluations -------------------------------------------------------------


def single_position(rng: random.Random) -> Position:
    return make_positions(1, rng, tiers=bracket_tiers())[0]


def cross_account(rng: random.Random) -> AccountSnapshot:
    positions: list[Position] = []
    for i in range(ACCOUNT_POSITIONS):
        positions += make_positions(
            1,
            rng,
            symbol=f"SYM{i:02d}/USDT:USDT",
            margin_mode=MarginMode.CROSS,
            tiers=bracket_tiers(),
        )
    wallet = sum(p.notional for p in positions) / 10.0
    return AccountSnapshot("binance", wallet, tuple(positions), datetime.now(UTC))


def evaluation_figures(seed: int) -> dict[str, float]:
    """(c), (d) and (e) through the public API only, so an older checkout can run it too."""
    rng = random.Random(seed)
    profile = get_profile("binance")
    sigma = per_sqrt_second(0.05)
    span = span_scenarios(sigma, 60.0)
    position = single_position(rng)
    account = cross_account(rng)
    settings16 = RiskSettings(scenarios=span)
    one = AccountSnapshot("binance", 1_000_000.0, (position,), datetime.now(UTC))
    defaults = RiskSettings()
    evaluate_account(one, defaults)  # the first call builds the default scenarios
    default_set = defaults.scenario_set()
    return {
        "single_us": per_call_us(
            lambda: evaluate_position(position, profile, sigma, 60.0, span), 5_000
        ),
        "account_us": per_call_us(lambda: evaluate_account(account, settings16), 300),
        "stress_one_us": per_call_us(lambda: stress_account(one, default_set), 5_000),
        "evaluate_one_us": per_call_us(lambda: evaluate_account(one, defaults), 3_000),
        "scenarios": float(len(default_set)),
    }


def previous_figures(path: str) -> dict[str, float] | None:
    """:func:`evaluation_figures` of the checkout at ``path``, in a child process."""
    env = {**os.environ, "PYTHONPATH": path}
    probe = (
        "import json, runpy, sys; sys.argv = ['risk_core']; "
        f"m = runpy.run_path({os.path.abspath(__file__)!r}); "
        f"print(json.dumps(m['evaluation_figures']({SEED})))"
    )
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        [sys.executable, "-c", probe],
        capture_output=True,
        text=True,
        env=env,
        cwd=path,
        check=False,
    )
    if done.returncode != 0:
        say(f"    (previous checkout {path} did not run: {done.stderr.strip().splitlines()[-1:]})")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def bench_evaluations(rng: random.Random, previous: str | None) -> dict[str, float]:
    """(c) single position, (d) 20-position cross account and isolated batches, (e) 1 position."""
    from riskguard.risk.arrays import position_arrays
    from riskguard.risk.batch_evaluation import (
        evaluate_arrays,
        evaluate_positions,
        scenario_factors,
    )

    # The scenario-by-scenario stress that the columns replaced lives with its test.
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from tests.risk.test_stress_columns import reference_stress

    ours = evaluation_figures(SEED)
    before = previous_figures(previous) if previous else None

    def beside(key: str, scale: float = 1.0) -> str:
        if before is None:
            return ""
        return f"; previous checkout {before[key] / scale:,.2f} us ({before[key] / ours[key]:.1f}x)"

    profile = get_profile("binance")
    sigma = per_sqrt_second(0.05)
    span = span_scenarios(sigma, 60.0)
    say("(c) evaluate_position, one isolated position, 16 SPAN scenarios")
    say(f"    {ours['single_us']:.2f} us per call{beside('single_us')}")

    account_per = ours["account_us"] / ACCOUNT_POSITIONS
    account = cross_account(random.Random(SEED + 1))
    cols = floor_columns(list(account.positions))
    factors, slips = stress_inputs(span, ACCOUNT_POSITIONS)
    root_h = sigma * math.sqrt(60.0)
    floor_account = per_call_us(lambda: floor_evaluation(cols, factors, slips, root_h), 3_000)
    say(f"(d) evaluation with {len(span)} scenarios, per position")
    say(
        f"    cross account of {ACCOUNT_POSITIONS} (evaluate_account, every figure as objects):"
        f" {ours['account_us']:,.1f} us per call = {account_per:.2f} us per position"
        f"{beside('account_us', ACCOUNT_POSITIONS)}"
    )
    say(
        f"      numpy floor for the same arithmetic: {floor_account / ACCOUNT_POSITIONS:.2f} us"
        f" per position ({floor_account:.1f} us per call, numpy's fixed cost per call dominates)"
    )
    say(
        "      building the result objects alone (PositionRisk + PositionEvaluation, figures"
        f" known): {object_floor_us(account, RiskSettings(scenarios=span)):.2f} us per position"
    )
    batch = make_positions(EVAL_BATCH_SIZE, rng, tiers=bracket_tiers())
    columns = position_arrays(batch, profile)
    batch_factors = scenario_factors(span, [p.symbol for p in batch])
    batch_slips = np.array([0.0005 * s.cost_factor for s in span])
    floor_cols = floor_columns(batch)
    n = len(batch)
    objects_s = best_seconds(lambda: evaluate_positions(batch, profile, sigma, 60.0, span), 3)
    columns_s = best_seconds(
        lambda: evaluate_arrays(columns, batch_factors, batch_slips, sigma, 60.0), 3
    )
    floor_s = best_seconds(
        lambda: floor_evaluation(floor_cols, batch_factors, batch_slips, root_h), 3
    )
    scalar_n = 2_000
    scalar_s = best_seconds(
        lambda: [evaluate_position(p, profile, sigma, 60.0, span) for p in batch[:scalar_n]], 1
    )
    say(f"    batch of {n:,} isolated positions (riskguard.risk.batch_evaluation):")
    say(
        f"      from Positions {objects_s / n * 1e6:.2f} us, from columns {columns_s / n * 1e6:.2f}"
        f" us, numpy floor {floor_s / n * 1e6:.2f} us (columns {columns_s / floor_s:.1f}x the"
        f" floor), evaluate_position one by one {scalar_s / scalar_n * 1e6:.2f} us"
    )

    one_position = single_position(random.Random(SEED + 2))
    one = AccountSnapshot("binance", 1_000_000.0, (one_position,), datetime.now(UTC))
    defaults = RiskSettings().scenario_set()
    old_us = per_call_us(lambda: reference_stress(one, defaults, 0.0005), 5_000)
    say(f"(e) one isolated position, {len(defaults)} default scenarios")
    say(
        f"    stress_account {ours['stress_one_us']:.2f} us; the scenario-by-scenario"
        f" implementation it replaced (tests/risk/test_stress_columns.py) {old_us:.2f} us"
        f" ({old_us / ours['stress_one_us']:.1f}x){beside('stress_one_us')}"
    )
    say(
        f"    evaluate_account (default settings) {ours['evaluate_one_us']:.2f} us"
        f"{beside('evaluate_one_us')}"
    )
    return {
        "single_us": ours["single_us"],
        "account_per_position_us": account_per,
        "batch_objects_us": objects_s / n * 1e6,
        "batch_columns_us": columns_s / n * 1e6,
    }


def bench_crossovers(rng: random.Random) -> None:
    """(f) Where the array paths start to pay: scalar vs arrays by input size, both forced."""
    from unittest.mock import patch

    import riskguard.risk.batch as batch_module
    import riskguard.risk.shortfall as stress_module

    profile = get_profile("binance")
    positions = make_positions(256, rng, tiers=bracket_tiers())
    say(
        f"(f) crossovers, us per call (scalar / arrays); thresholds in use: batch"
        f" {batch_module.ARRAY_MIN} positions, stress {stress_module.STRESS_ARRAY_MIN} pairs"
    )
    cells = []
    for n in (16, 64, 128, 256):
        part = positions[:n]
        timing = []
        for threshold in (10**9, 0):
            with patch.object(batch_module, "ARRAY_MIN", threshold):
                timing.append(per_call_us(lambda p=part: liquidation_distances(p, profile), 50))
        cells.append(f"{n}: {timing[0]:,.0f} / {timing[1]:,.0f}")
    say("    batch liquidation, positions  " + ",  ".join(cells))
    scenarios = RiskSettings().scenario_set()
    cells = []
    for n in (5, 20, 50, 200):
        account = AccountSnapshot(
            "binance",
            1_000_000.0,
            tuple(
                make_positions(
                    1,
                    rng,
                    symbol=f"S{i:03d}/USDT:USDT",
                    margin_mode=MarginMode.CROSS if i % 3 else MarginMode.ISOLATED,
                    tiers=bracket_tiers(),
                )[0]
                for i in range(n)
            ),
            datetime.now(UTC),
        )
        timing = []
        for threshold in (10**9, 0):
            with patch.object(stress_module, "STRESS_ARRAY_MIN", threshold):
                timing.append(per_call_us(lambda a=account: stress_account(a, scenarios), 50))
        cells.append(f"{n * len(scenarios)}: {timing[0]:,.0f} / {timing[1]:,.0f}")
    say("    stress_account, pairs         " + ",  ".join(cells))


def machine_note() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"Python {sys.version.split()[0]} ({platform.python_implementation()}) on"
        f" {platform.platform()} [{platform.processor() or platform.machine()}],"
        f" {os.cpu_count()} CPUs, load average {load} (1, 5, 15 min) at start"
    )


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--previous", metavar="PATH", help="checkout to measure (c)-(e) beside")
    parser.add_argument("--markdown", metavar="FILE", help="also write the report here")
    args = parser.parse_args(argv)
    say(machine_note())
    say(f"seed {SEED}, numpy {np.__version__}")
    started = time.perf_counter()
    rng = random.Random(SEED)
    columns_rate, objects_rate = bench_batch(rng)
    bench_venues(rng)
    figures = bench_evaluations(rng, args.previous)
    bench_crossovers(rng)
    say()
    say(
        f"{verdict(columns_rate >= TARGET_BATCH_PER_S)} (a) risk core batch from columns"
        f" {columns_rate:,.0f} positions/s (target >= {TARGET_BATCH_PER_S:,.0f}/s)"
    )
    say(
        f"{verdict(objects_rate >= TARGET_BATCH_PER_S)} (a) risk core batch from Position objects"
        f" {objects_rate:,.0f} positions/s (target >= {TARGET_BATCH_PER_S:,.0f}/s)"
    )
    for label, key in (
        ("20-position cross account, evaluate_account", "account_per_position_us"),
        ("isolated batch from Position objects", "batch_objects_us"),
        ("isolated batch from columns", "batch_columns_us"),
    ):
        us = figures[key]
        say(
            f"{verdict(us < TARGET_EVALUATION_US)} (d) evaluation, 16 scenarios, {label}:"
            f" {us:.2f} us per position (target < {TARGET_EVALUATION_US:.0f} us)"
        )
    say(
        f"{verdict(objects_rate >= EARLIER_BATCH_PER_S)} earlier (a) batch from Position objects"
        f" {objects_rate:,.0f} positions/s (target >= {EARLIER_BATCH_PER_S:,.0f}/s)"
    )
    say(
        f"{verdict(figures['single_us'] < EARLIER_SINGLE_US)} earlier (c) evaluate_position"
        f" {figures['single_us']:.2f} us (target < {EARLIER_SINGLE_US:.0f} us)"
    )
    say(f"total {time.perf_counter() - started:.1f} s")
    if args.markdown:
        with open(args.markdown, "w", encoding="utf-8") as out:
            out.write("# Risk core bench (bench/risk_core.py)\n\n```\n")
            out.write("\n".join(LINES) + "\n```\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
