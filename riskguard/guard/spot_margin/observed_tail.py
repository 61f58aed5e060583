"""The fastest move the guard has seen in a coin, and the thresholds it widens.

A fixed distance to liquidation protects only against moves smaller than it between two
cycles. A coin whose price can fall 40% in a minute (LUNA in May 2022, altcoin spikes) needs a
wider one. Each cycle the guard adds the prices it read to a short window per coin
(``horizon_s``: about what can happen before the next cycle acts, and at least the move since
the previous cycle); the largest move inside the window, either way (a 20% fall is a 25% rise
back, which a short fears), scaled by ``scale``, is that coin's tail, and it decays with
``half_life_s`` when calm returns. The spot margin rule's act, target and gap distances are
widened to at least the largest tail of the coins the account holds or owes (:func:`widened`).

Pure: prices and times in, values out; the window is the caller's to keep.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field, replace

from riskguard.guard.spot_margin.judge import MarginSettings

MAX_DISTANCE_PCT = 95.0
"""The widest act distance: beyond it every borrowed position would be repaid outright."""


@dataclass(slots=True)
class ObservedTail:
    """One coin's recent prices and the largest move seen within ``horizon_s`` of each other."""

    horizon_s: float = 120.0
    half_life_s: float = 6 * 3600.0
    scale: float = 1.5
    window: deque[tuple[int, float]] = field(default_factory=deque)
    tail: float = 0.0
    """The largest fractional move seen (scaled, decayed), e.g. 0.3 for 30%."""
    at_ms: int | None = None

    def observe(self, time_ms: int, price: float) -> float:
        """Add one price; returns the tail after it."""
        if not (math.isfinite(price) and price > 0):
            return self.tail
        if self.at_ms is not None and time_ms > self.at_ms:
            elapsed = (time_ms - self.at_ms) / 1000.0
            self.tail *= 0.5 ** (elapsed / self.half_life_s)
        self.at_ms = time_ms
        self.window.append((time_ms, price))
        horizon_ms = self.horizon_s * 1000.0
        # Keep the last price older than the horizon too: the move since the previous cycle
        # counts even when cycles are further apart than the horizon.
        while len(self.window) > 1 and time_ms - self.window[1][0] >= horizon_ms:
            self.window.popleft()
        prices = [p for _, p in self.window]
        high, low = max(prices), min(prices)
        move = max(high / low - 1.0, 1.0 - low / high) if low > 0 else 0.0
        self.tail = max(self.tail, move * self.scale)
        return self.tail


def widened(settings: MarginSettings, tail: float) -> MarginSettings:
    """``settings`` with act, warn, target and gap distances at least ``tail`` (a fraction)."""
    tail_pct = min(MAX_DISTANCE_PCT, tail * 100.0)
    if tail_pct <= settings.act_distance_pct:
        return settings
    margin = settings.target_distance_pct - settings.act_distance_pct
    act = tail_pct
    target = min(99.0, act + margin)
    if target <= act:
        target = min(99.5, act + 0.5)
    return replace(
        settings,
        act_distance_pct=act,
        warn_distance_pct=max(settings.warn_distance_pct, act),
        target_distance_pct=target,
        gap_pct=min(99.0, max(settings.gap_pct, tail_pct)),
    )
