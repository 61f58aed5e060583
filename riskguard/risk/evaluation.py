"""One call that answers everything about an account: liquidation, distance, sigma, shortfall.

This is what the calculator prints and what the guard's rules read. Pure: snapshot and settings
in, values out.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import lru_cache

from riskguard.domain import AccountSnapshot, MarginMode, Position
from riskguard.risk.account import AccountRisk, PositionRisk, assess_account, assess_isolated
from riskguard.risk.distance import sigma_distance, touch_probability
from riskguard.risk.scenarios import Scenario, gap_scenarios, span_scenarios
from riskguard.risk.shortfall import (
    DEFAULT_SLIPPAGE,
    StressResult,
    position_shortfall,
    stress_account,
)
from riskguard.risk.venues import VenueProfile, get_profile
from riskguard.risk.volatility import per_sqrt_second

DEFAULT_DAILY_VOLATILITY = 0.05
"""Sigma used when no estimate is given: 5% a day, a calm day for BTC."""

DEFAULT_HORIZON_S = 60.0
"""Reaction horizon when none is given: a 60 s poll plus fetch and order latency rounded in."""


@dataclass(frozen=True, slots=True)
class RiskSettings:
    """What the evaluation needs beyond the snapshot.

    ``sigma_per_sqrt_s`` is the default volatility; ``symbol_sigmas`` overrides it per symbol.
    """

    sigma_per_sqrt_s: float = per_sqrt_second(DEFAULT_DAILY_VOLATILITY)
    horizon_s: float = DEFAULT_HORIZON_S
    scenarios: tuple[Scenario, ...] | None = None
    slippage: float = DEFAULT_SLIPPAGE
    symbol_sigmas: tuple[tuple[str, float], ...] = field(default=())

    def sigma_for(self, symbol: str) -> float:
        """The volatility to use for ``symbol``."""
        for sym, sigma in self.symbol_sigmas:
            if sym == symbol:
                return sigma
        return self.sigma_per_sqrt_s

    def scenario_set(self) -> tuple[Scenario, ...]:
        """The configured scenarios, or SPAN from the volatility plus the default gaps."""
        if self.scenarios is not None:
            return self.scenarios
        return _cached_default_scenarios(
            self.sigma_per_sqrt_s, self.horizon_s, tuple(self.symbol_sigmas)
        )


@lru_cache(maxsize=256)
def _cached_default_scenarios(
    sigma_per_sqrt_s: float, horizon_s: float, symbol_sigmas: tuple[tuple[str, float], ...]
) -> tuple[Scenario, ...]:
    """:func:`default_scenarios` once per settings: scenarios are immutable, and building the 22
    of them costs more than the rest of a one-position evaluation."""
    return default_scenarios(sigma_per_sqrt_s, horizon_s, dict(symbol_sigmas))


def default_scenarios(
    sigma_per_sqrt_s: float, horizon_s: float, symbol_sigmas: Mapping[str, float] | None = None
) -> tuple[Scenario, ...]:
    """SPAN's 16 scenarios over the horizon plus the historical gaps (22 in all)."""
    sigmas: float | Mapping[str, float] = symbol_sigmas if symbol_sigmas else sigma_per_sqrt_s
    span = span_scenarios(sigmas, horizon_s, default_sigma_per_sqrt_s=sigma_per_sqrt_s)
    return span + gap_scenarios()


@dataclass(frozen=True, slots=True)
class PositionEvaluation:
    """A position's liquidation figures with its sigma distance and shortfall.

    ``shortfall_scope`` is ``position`` for isolated positions and ``account`` for cross ones,
    whose shortfall is the cross account's (they share one collateral).
    """

    risk: PositionRisk
    sigma_distance: float | None
    touch_probability: float
    shortfall: float
    worst_scenario: str | None
    shortfall_scope: str


@dataclass(frozen=True, slots=True)
class AccountEvaluation:
    """Everything about one account snapshot."""

    risk: AccountRisk
    stress: StressResult
    positions: tuple[PositionEvaluation, ...]
    settings: RiskSettings

    @property
    def potential_shortfall(self) -> float:
        return self.stress.potential_shortfall

    @property
    def worst_scenario(self) -> str | None:
        return self.stress.worst.scenario.name if self.stress.outcomes else None


def evaluate_account(
    snapshot: AccountSnapshot,
    settings: RiskSettings | None = None,
    profile: VenueProfile | None = None,
) -> AccountEvaluation:
    """Liquidation, distance, sigma distance, touch probability and shortfall for an account."""
    settings = settings or RiskSettings()
    profile = profile or get_profile(snapshot.venue)
    risk = assess_account(snapshot, profile)
    stress = stress_account(snapshot, settings.scenario_set(), slippage=settings.slippage)
    # sigma_for takes a symbol's first entry: reversed, the first one is written last.
    sigmas = dict(reversed(settings.symbol_sigmas))
    default_sigma = settings.sigma_per_sqrt_s
    evaluations = []
    for i, (pos, pr) in enumerate(zip(snapshot.positions, risk.positions, strict=True)):
        shortfall = stress.position_shortfall(i)
        worst = stress.position_worst_scenario(i) if shortfall > 0 else None
        evaluations.append(
            _with_sigma(
                pr,
                sigmas.get(pos.symbol, default_sigma),
                settings.horizon_s,
                shortfall,
                None if worst is None else worst.name,
                "position" if pos.margin_mode is MarginMode.ISOLATED else "account",
            )
        )
    return AccountEvaluation(risk, stress, tuple(evaluations), settings)


def evaluate_position(
    position: Position,
    profile: VenueProfile,
    sigma_per_sqrt_s: float,
    horizon_s: float,
    scenarios: Sequence[Scenario],
    *,
    slippage: float = DEFAULT_SLIPPAGE,
) -> PositionEvaluation:
    """The full evaluation of one isolated position (the fast path for a single position)."""
    risk = assess_isolated(position, profile)
    shortfall, worst = position_shortfall(position, scenarios, slippage=slippage)
    return _with_sigma(
        risk,
        sigma_per_sqrt_s,
        horizon_s,
        shortfall,
        worst.name if worst is not None and shortfall > 0 else None,
        "position",
    )


def _with_sigma(
    risk: PositionRisk,
    sigma: float,
    horizon_s: float,
    shortfall: float,
    worst: str | None,
    scope: str,
) -> PositionEvaluation:
    lp = risk.liquidation_price
    if sigma > 0 and lp is not None:
        sd = sigma_distance(risk.mark_price, lp, sigma, horizon_s, risk.safe)
        tp = touch_probability(risk.mark_price, lp, sigma, horizon_s, risk.safe)
    else:
        sd = None if lp is None else (math.inf if risk.safe else -math.inf)
        tp = 0.0 if risk.safe else 1.0
    return PositionEvaluation(risk, sd, tp, shortfall, worst, scope)
