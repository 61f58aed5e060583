"""Throughput of the risk core: batch liquidation screening and single-call evaluations.

Run from the repository root::

    .venv/bin/python bench/risk_core.py

Prints figures and a PASS/MISS line per target; it asserts nothing about time. Inputs come from a
fixed seed, so every run measures the same positions.

Targets:
    (a) liquidation price + distance, batch of 200,000 isolated Binance positions: >= 200,000/s
    (c) one isolated position's full evaluation (16 SPAN scenarios): < 50 us per call
"""

from __future__ import annotations

import math
import platform
import random
import sys
import time
import timeit
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

from riskguard import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.risk import (
    PROFILES,
    RiskSettings,
    evaluate_account,
    evaluate_position,
    get_profile,
    liquidation_distances,
    per_sqrt_second,
    span_scenarios,
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

TARGET_BATCH_PER_S = 200_000.0
TARGET_SINGLE_US = 50.0

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


def fmt(value: float | None, spec: str) -> str:
    return "none" if value is None else format(value, spec)


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def bench_batch(rng: random.Random) -> float:
    """(a) Batch liquidation price + distance over isolated Binance positions."""
    profile = get_profile("binance")
    tiers = bracket_tiers()
    positions = make_positions(BATCH_SIZE, rng, tiers=tiers)
    results = liquidation_distances(positions, profile)
    past = sum(1 for _lp, d in results if d is not None and d <= 0.0)
    seconds = best_seconds(lambda: liquidation_distances(positions, profile), BATCH_RUNS)
    rate = len(positions) / seconds
    print(f"(a) batch liquidation + distance, binance isolated, {len(tiers)} tiers")
    print(
        f"    {len(positions):,} positions, best of {BATCH_RUNS}: {seconds * 1e3:,.1f} ms"
        f" -> {rate:,.0f} positions/s ({past:,} already past liquidation)"
    )
    return rate


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
    print(f"(b) batch per venue profile ({VENUE_BATCH_SIZE:,} positions, best of {VENUE_RUNS})")
    for name, profile in PROFILES.items():
        positions = venue_positions(name, rng)
        seconds = best_seconds(
            lambda p=positions, v=profile: liquidation_distances(p, v), VENUE_RUNS
        )
        margin = "flat mmr" if not positions[0].tiers else f"{len(positions[0].tiers)} tiers"
        print(f"    {name:<15} {len(positions) / seconds:>12,.0f} positions/s  ({margin})")
    inverse = make_positions(
        VENUE_BATCH_SIZE,
        rng,
        symbol="BTC/USD:BTC",
        maintenance_margin_rate=0.004,
        taker_fee=0.0005,
        inverse=True,
    )
    okx = get_profile("okx")
    seconds = best_seconds(lambda: liquidation_distances(inverse, okx), VENUE_RUNS)
    print(f"    {'okx (inverse)':<15} {len(inverse) / seconds:>12,.0f} positions/s  (flat mmr)")


def bench_single(rng: random.Random) -> float:
    """(c) One isolated position's full evaluation; returns microseconds per call."""
    profile = get_profile("binance")
    sigma = per_sqrt_second(0.05)
    horizon = 60.0
    scenarios = span_scenarios(sigma, horizon)
    position = make_positions(1, rng, tiers=bracket_tiers())[0]
    evaluation = evaluate_position(position, profile, sigma, horizon, scenarios)
    number = 5_000
    timings = timeit.repeat(
        lambda: evaluate_position(position, profile, sigma, horizon, scenarios),
        number=number,
        repeat=5,
    )
    us = min(timings) / number * 1e6
    risk = evaluation.risk
    print(f"(c) evaluate_position, one isolated position, {len(scenarios)} SPAN scenarios")
    print(
        f"    {position.side.value} {position.notional:,.0f} notional:"
        f" liq {fmt(risk.liquidation_price, ',.2f')},"
        f" bankruptcy {fmt(risk.bankruptcy_price, ',.2f')},"
        f" distance {fmt(risk.distance, '.4f')},"
        f" sigma distance {fmt(evaluation.sigma_distance, '.2f')}"
    )
    print(f"    {us:.2f} us per call (best of 5 x {number:,})")
    return us


def bench_account(rng: random.Random) -> float:
    """(d) A cross account of 20 positions on 20 symbols; returns microseconds per call."""
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
    snapshot = AccountSnapshot("binance", wallet, tuple(positions), datetime.now(UTC))
    settings = RiskSettings()
    evaluation = evaluate_account(snapshot, settings)
    number = 200
    timings = timeit.repeat(lambda: evaluate_account(snapshot, settings), number=number, repeat=5)
    us = min(timings) / number * 1e6
    print(
        f"(d) evaluate_account, cross account, {len(positions)} positions,"
        f" {len(settings.scenario_set())} scenarios (SPAN 16 + gaps)"
    )
    print(
        f"    margin ratio {evaluation.risk.margin_ratio:.3f},"
        f" potential shortfall {evaluation.potential_shortfall:,.0f}"
    )
    print(f"    {us:,.1f} us per call (best of 5 x {number})")
    return us


def main(argv: Sequence[str] | None = None) -> int:
    del argv
    cpu = platform.processor() or platform.machine()
    print(
        f"Python {sys.version.split()[0]} ({platform.python_implementation()})"
        f" on {platform.platform()} [{cpu}]"
    )
    print(f"seed {SEED}")
    started = time.perf_counter()
    rng = random.Random(SEED)
    rate = bench_batch(rng)
    bench_venues(rng)
    single_us = bench_single(rng)
    bench_account(rng)
    print()
    print(
        f"{verdict(rate >= TARGET_BATCH_PER_S)} (a) batch {rate:,.0f} positions/s"
        f" (target >= {TARGET_BATCH_PER_S:,.0f}/s)"
    )
    print(
        f"{verdict(single_us < TARGET_SINGLE_US)} (c) evaluate_position {single_us:.2f} us"
        f" (target < {TARGET_SINGLE_US:.0f} us)"
    )
    print(f"total {time.perf_counter() - started:.1f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
