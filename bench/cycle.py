"""CPU cost of one full guard cycle for 1,000 positions across 50 accounts.

Prints the CPU time of the pure part of a cycle: the risk core's evaluation, every configured
rule, and the planner, for 50 accounts of 20 positions each (mixed isolated and cross, long and
short, 4 to 10 leverage tiers, marks moved so that some positions are near liquidation).
Target: rules + planner under 50 ms. The evaluation is reported separately and in total.

Run: .venv/bin/python bench/cycle.py
"""

from __future__ import annotations

import platform
import random
import sys
import time
from datetime import UTC, datetime

from riskguard.domain import (
    AccountSnapshot,
    MarginMode,
    MarketRules,
    OpenStop,
    Position,
    Side,
    Tier,
)
from riskguard.guard.planner import PlannerConfig, PlannerState, plan
from riskguard.guard.rules.base import ActionKind, Rule, RuleInput
from riskguard.guard.rules.concentration import ConcentrationConfig
from riskguard.guard.rules.drawdown import DrawdownConfig
from riskguard.guard.rules.max_leverage import MaxLeverageConfig
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.risk import RiskSettings, evaluate_account, per_sqrt_second, with_cumulative_amounts
from riskguard.risk.scenarios import gap_scenarios, span_scenarios

ACCOUNTS = 50
POSITIONS = 20
NOW = datetime(2025, 10, 10, 21, 0, tzinfo=UTC)
SYMBOLS = [f"C{i}/USDT:USDT" for i in range(POSITIONS)]


def _tiers(rng: random.Random) -> tuple[Tier, ...]:
    floors = [0.0, 50_000.0, 250_000.0, 1e6, 5e6, 2e7, 5e7, 1e8, 2e8, 5e8][: rng.randint(4, 10)]
    rates = [0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.25, 0.5]
    return with_cumulative_amounts(
        [
            Tier(f, floors[i + 1] if i + 1 < len(floors) else float("inf"), rates[i])
            for i, f in enumerate(floors)
        ]
    )


def _accounts(seed: int = 11, *, stressed: bool = True) -> list[AccountSnapshot]:
    rng = random.Random(seed)
    tiers = {s: _tiers(rng) for s in SYMBOLS}
    out = []
    for a in range(ACCOUNTS):
        positions = []
        for s in SYMBOLS:
            side = rng.choice([Side.LONG, Side.SHORT])
            entry = rng.uniform(1, 100_000)
            if stressed:
                leverage = rng.choice([3, 5, 10, 20, 50])
                mark = entry * (1 + side.sign * rng.uniform(-0.06, 0.04))
            else:
                leverage = rng.choice([2, 3, 5])
                mark = entry * (1 + side.sign * rng.uniform(-0.01, 0.02))
            size = rng.uniform(2_000, 60_000) / entry
            isolated = rng.random() < 0.4
            positions.append(
                Position(
                    s,
                    side,
                    size,
                    entry,
                    mark,
                    margin_mode=MarginMode.ISOLATED if isolated else MarginMode.CROSS,
                    leverage=float(leverage),
                    collateral=size * entry / leverage if isolated else None,
                    tiers=tiers[s],
                    taker_fee=0.0005,
                )
            )
        out.append(AccountSnapshot("binance", 300_000.0, tuple(positions), NOW, account=f"a{a}"))
    return out


def _steady_stops(
    snapshots: list[AccountSnapshot], rules: list[Rule], settings: RiskSettings
) -> dict[str, tuple[OpenStop, ...]]:
    """The guard's stops as a previous cycle would have left them (steady state)."""
    stop_rules = [r for r in rules if r.rule_type == "stop_loss"]
    out = {}
    for snap in snapshots:
        data = RuleInput(snap, evaluate_account(snap, settings), NOW, 6.0, 50_000.0)
        placed = []
        for rule in stop_rules:
            for a in rule.evaluate(data, {}).actions:
                if a.kind is ActionKind.PLACE_STOP and a.side and a.symbol and a.stop_price:
                    placed.append(
                        OpenStop(
                            f"o{len(placed)}",
                            f"rg{len(placed):016d}",
                            a.symbol,
                            a.side,
                            a.target_size or 0.0,
                            a.stop_price,
                            guard_owned=True,
                        )
                    )
        out[snap.account] = tuple(placed)
    return out


def measure(snapshots: list[AccountSnapshot], label: str) -> float:
    configs = [
        *default_rule_configs(),
        MaxLeverageConfig(type="max_leverage"),
        DrawdownConfig(type="drawdown"),
        ConcentrationConfig(type="concentration"),
    ]
    rules = build_rules(configs)
    markets = {s: MarketRules(s, amount_step=1e-6, min_amount=1e-6) for s in SYMBOLS}
    sigma = per_sqrt_second(0.04)
    # The guard's own defaults: SPAN over the reaction horizon plus +-12% gaps.
    scenarios = span_scenarios(sigma, 6.0) + gap_scenarios((-0.12, 0.12))
    settings = RiskSettings(sigma_per_sqrt_s=sigma, horizon_s=6.0, scenarios=scenarios)
    stops = _steady_stops(snapshots, rules, settings)
    memories: dict[tuple[str, str], dict[str, object]] = {}
    best = (float("inf"), float("inf"), float("inf"))
    proposals = 0
    for _ in range(5):
        t_eval = t_rules = t_plan = 0.0
        proposals = 0
        for snap in snapshots:
            c0 = time.process_time()
            evaluation = evaluate_account(snap, settings)
            c1 = time.process_time()
            data = RuleInput(
                snap,
                evaluation,
                NOW,
                6.0,
                free_balance=50_000.0,
                open_stops=stops.get(snap.account, ()),
            )
            results = []
            for rule in rules:
                key = (snap.account, rule.name)
                result = rule.evaluate(data, memories.get(key, {}))  # type: ignore[arg-type]
                memories[key] = dict(result.memory)
                results.append(result)
                proposals += len(result.actions)
            c2 = time.process_time()
            plan(results, snap, markets, PlannerState(), NOW, PlannerConfig())
            c3 = time.process_time()
            t_eval += c1 - c0
            t_rules += c2 - c1
            t_plan += c3 - c2
        best = min(best, (t_rules + t_plan, t_eval, t_plan), key=lambda t: t[0])
    judged, evaluated, planned = best
    print(
        f"[{label}] {ACCOUNTS} accounts x {POSITIONS} positions, {len(rules)} rules, "
        f"{proposals} proposals"
    )
    print(f"  rules + planner: {judged * 1000:.1f} ms CPU (planner {planned * 1000:.1f} ms)")
    print(f"  risk evaluation (22 scenarios per account): {evaluated * 1000:.1f} ms CPU")
    print(f"  whole pure cycle: {(judged + evaluated) * 1000:.1f} ms CPU")
    return judged


def main() -> None:
    print(f"Python {sys.version.split()[0]} on {platform.platform()}")
    healthy = measure(_accounts(stressed=False), "healthy book: 2-5x, marks near entry")
    stressed = measure(_accounts(stressed=True), "stressed book: 3-50x, marks -6%..+4%")
    for label, judged in (("healthy", healthy), ("stressed", stressed)):
        verdict = "PASS" if judged < 0.050 else "MISS"
        print(f"{verdict} ({label}): rules + planner {judged * 1000:.1f} ms (target < 50 ms)")


if __name__ == "__main__":
    main()
