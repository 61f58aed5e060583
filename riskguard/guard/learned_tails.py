"""The tail moves the guard stresses with, learned per symbol and kept between cycles.

Each exchange's recent one-minute bars (:class:`~riskguard.exchange.recent_bars.RecentBars`,
fetched every ``tail_refresh_s``) are turned into a :class:`~riskguard.risk.tails.TailMove` per
symbol for the cycle's reaction horizon, recomputed only when new bars arrive or the horizon spans
another number of bars. :meth:`LearnedTails.moves` gives each held symbol's
:class:`~riskguard.risk.tails.StressMove` (the larger of the learned tail and the configured
gaps, with its source); :func:`~riskguard.risk.tails.tail_scenarios` adds them to the stress
set.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Any

from riskguard.config import GuardConfig
from riskguard.exchange.recent_bars import RecentBars
from riskguard.risk.tails import MIN_BARS, StressMove, TailMove, learned_tail, stress_move

BAR_S = 60.0


class LearnedTails:
    """One exchange's learned tails (shared by its accounts)."""

    def __init__(self, config: GuardConfig) -> None:
        self.config = config
        self.recent = RecentBars(config.tail_lookback_bars, config.tail_refresh_s)
        self._computed: dict[str, tuple[int, int, TailMove | None, str | None]] = {}

    @property
    def enabled(self) -> bool:
        return self.config.tail_lookback_bars > 0

    async def refresh(self, port: Any, symbols: Iterable[str], now_ms: int) -> None:
        """Fetch the bars of ``symbols`` that are due (never raises for a failed fetch)."""
        if self.enabled:
            await self.recent.ensure(port, symbols, now_ms)

    def due(self, symbols: Iterable[str], now_ms: int) -> bool:
        """Whether :meth:`refresh` would fetch anything now."""
        return self.enabled and bool(self.recent.due(symbols, now_ms))

    def moves(self, symbols: Iterable[str], horizon_s: float) -> dict[str, StressMove]:
        """Each symbol's stress move for ``horizon_s``, with where it came from."""
        gaps = tuple(g / 100.0 for g in self.config.stress_gaps_pct)
        out: dict[str, StressMove] = {}
        for symbol in sorted(set(symbols)):
            tail, why_not = self._tail(symbol, horizon_s)
            out[symbol] = stress_move(symbol, gaps, tail, why_not)
        return out

    def _tail(self, symbol: str, horizon_s: float) -> tuple[TailMove | None, str | None]:
        if not self.enabled:
            return None, "tail_lookback_bars is 0"
        fetched = self.recent.bars(symbol)
        problem = self.recent.problems.get(symbol)
        if fetched is None:
            return None, problem or "no bars fetched yet"
        window = max(1, math.ceil(horizon_s / BAR_S - 1e-9))
        cached = self._computed.get(symbol)
        if cached is not None and cached[0] == fetched.fetched_ms and cached[1] == window:
            return cached[2], cached[3]
        try:
            tail = learned_tail(
                symbol,
                fetched.bars,
                horizon_s,
                bar_s=BAR_S,
                scale=self.config.tail_scale,
                q=self.config.tail_quantile,
            )
            why_not = None if tail is not None else _too_few(len(fetched.bars))
        except ValueError as exc:
            tail, why_not = None, f"bars refused: {exc}"
        if tail is not None and problem:
            why_not = problem  # learned from older bars; the last fetch failed
        self._computed[symbol] = (fetched.fetched_ms, window, tail, why_not)
        return tail, why_not


def _too_few(count: int) -> str:
    return f"{count} one-minute bars, fewer than the {MIN_BARS} needed to learn from"
