"""What the guard evaluates a snapshot with, and when last cycle's evaluation still holds.

:func:`guard_risk_settings` builds the risk settings of a cycle: SPAN over the reaction horizon,
the configured gaps and the learned tails, with volatility floored at the configured minimum.
:func:`unchanged_evaluation` gives back the last cycle's evaluation when neither the book nor
the settings changed since: the risk core is pure, so the same inputs give the same figures,
and a poll every few seconds mostly sees the prices it saw before (a one-minute kline moves
them a few times a minute).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping

from riskguard.config import GuardConfig
from riskguard.domain import AccountSnapshot
from riskguard.risk.evaluation import AccountEvaluation, RiskSettings
from riskguard.risk.scenarios import gap_scenarios, span_scenarios
from riskguard.risk.tails import StressMove, tail_scenarios
from riskguard.risk.volatility import per_sqrt_second


def guard_risk_settings(
    config: GuardConfig,
    sigmas: Mapping[str, float],
    horizon_s: float,
    moves: Mapping[str, StressMove] | None = None,
) -> RiskSettings:
    """The risk settings the guard evaluates with: SPAN over the reaction horizon, the
    configured gaps and, per symbol whose learned tail is larger, that tail
    (:func:`~riskguard.risk.tails.tail_scenarios`); volatility per symbol floored at the
    configured minimum."""
    floor = per_sqrt_second(config.volatility_floor_daily_pct / 100)
    floored = tuple(sorted((s, max(v, floor)) for s, v in sigmas.items()))
    learned = tuple(sorted((s, m.fall, m.rise) for s, m in (moves or {}).items()))
    return _risk_settings(floor, floored, horizon_s, tuple(config.stress_gaps_pct), learned)


@functools.lru_cache(maxsize=256)
def _risk_settings(
    floor: float,
    floored: tuple[tuple[str, float], ...],
    horizon_s: float,
    gaps_pct: tuple[float, ...],
    learned: tuple[tuple[str, float, float], ...],
) -> RiskSettings:
    # Cached: in calm markets every volatility sits at its floor, so consecutive cycles ask for
    # the same settings (95% of a replayed crash day's cycles); the result is immutable.
    gaps = tuple(g / 100.0 for g in gaps_pct)
    moves = {s: StressMove(s, fall, rise, "") for s, fall, rise in learned}
    scenarios = (
        span_scenarios(dict(floored), horizon_s, default_sigma_per_sqrt_s=floor)
        + gap_scenarios(gaps)
        + tail_scenarios(gaps, moves)
    )
    return RiskSettings(
        sigma_per_sqrt_s=floor,
        horizon_s=horizon_s,
        scenarios=scenarios,
        symbol_sigmas=floored,
    )


class SettingsMemo:
    """Each account's last risk settings with what they were built from: a cycle that asks
    with the same volatilities, horizon and moves (most cycles) gets them back at the cost of
    comparing two small dicts."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self._last: dict[str, tuple[tuple[object, ...], RiskSettings]] = {}

    def settings(
        self,
        account: str,
        sigmas: Mapping[str, float],
        horizon_s: float,
        moves: Mapping[str, StressMove],
    ) -> RiskSettings:
        """:func:`guard_risk_settings` for ``account``'s cycle."""
        key = (dict(sigmas), horizon_s, dict(moves))
        last = self._last.get(account)
        if last is not None and last[0] == key:
            return last[1]
        settings = guard_risk_settings(self.config, sigmas, horizon_s, moves)
        self._last[account] = (key, settings)
        return settings


def unchanged_evaluation(
    last: AccountSnapshot | None,
    before: AccountEvaluation | None,
    snapshot: AccountSnapshot,
    settings: RiskSettings,
) -> AccountEvaluation | None:
    """``before`` (the evaluation of ``last``) when ``snapshot`` holds the same book as
    ``last`` (positions, marks, wallet, notes: all but the time it was taken) and ``settings``
    are the ones ``before`` was computed with; None when anything differs (a figure that is
    not a number never equals itself, so it is evaluated afresh)."""
    if before is None or not snapshot.same_book(last):
        return None
    if before.settings is not settings and before.settings != settings:
        return None
    return before
