"""Volatility of the mark price: an EWMA of time-normalised squared log returns, with a floor.

Samples may be irregular (polls are jittered, exchanges hiccup), so each return is normalised by
its interval: ``r_i^2 / dt_i`` estimates the variance rate per second. The weight of the newest
observation grows with its interval, ``alpha_i = 1 - exp(-dt_i * ln 2 / half_life_s)``, so the
half-life is in seconds rather than in samples. The average is bias-corrected (divided by the
total weight so far), so the first returns do not count as a full history. The floor keeps a
quiet hour from shrinking the buffer to nothing: the reported sigma is ``max(estimate, floor)``.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass

SECONDS_PER_DAY = 86_400.0


def per_sqrt_second(daily_fraction: float) -> float:
    """Convert a daily volatility (0.05 = 5% a day) to sigma per sqrt(second)."""
    return daily_fraction / math.sqrt(SECONDS_PER_DAY)


def daily(sigma_per_sqrt_s: float) -> float:
    """Convert sigma per sqrt(second) to a daily fraction."""
    return sigma_per_sqrt_s * math.sqrt(SECONDS_PER_DAY)


@dataclass(frozen=True, slots=True)
class EwmaVolatility:
    """Incremental EWMA volatility state; ``update`` returns a new state.

    ``floor_per_sqrt_s`` applies to :attr:`sigma`; :attr:`raw_sigma` is the unfloored estimate.
    """

    half_life_s: float
    floor_per_sqrt_s: float
    variance_rate: float | None = None
    weight: float = 0.0
    last_time_s: float | None = None
    last_price: float | None = None
    samples: int = 0

    def __post_init__(self) -> None:
        if not self.half_life_s > 0:
            raise ValueError(f"half_life_s must be positive, got {self.half_life_s}")
        if not self.floor_per_sqrt_s >= 0:
            raise ValueError(f"floor must be >= 0, got {self.floor_per_sqrt_s}")

    def update(self, time_s: float, price: float) -> EwmaVolatility:
        """Fold in one mark sample; prices must be positive and times increasing."""
        if not (math.isfinite(price) and price > 0):
            raise ValueError(f"price must be positive, got {price}")
        if self.last_time_s is None or self.last_price is None:
            return EwmaVolatility(
                self.half_life_s, self.floor_per_sqrt_s, None, 0.0, time_s, price, 1
            )
        dt = time_s - self.last_time_s
        if dt <= 0:
            raise ValueError(f"samples must be in time order: {time_s} after {self.last_time_s}")
        observed = math.log(price / self.last_price) ** 2 / dt
        decay = math.exp(-dt * math.log(2.0) / self.half_life_s)
        alpha = 1.0 - decay
        weight = decay * self.weight + alpha
        previous = 0.0 if self.variance_rate is None else self.variance_rate
        # Weighted mean of the observations so far: (decay*W*old + alpha*new) / (decay*W + alpha).
        variance = (decay * self.weight * previous + alpha * observed) / weight
        return EwmaVolatility(
            self.half_life_s,
            self.floor_per_sqrt_s,
            variance,
            weight,
            time_s,
            price,
            self.samples + 1,
        )

    @property
    def raw_sigma(self) -> float | None:
        """The estimate per sqrt(second) before the floor; None until two samples are in."""
        return None if self.variance_rate is None else math.sqrt(self.variance_rate)

    @property
    def sigma(self) -> float:
        """The sigma to use: the estimate, never below the floor."""
        raw = self.raw_sigma
        return self.floor_per_sqrt_s if raw is None else max(raw, self.floor_per_sqrt_s)

    @property
    def floored(self) -> bool:
        """True when the floor, not the data, sets :attr:`sigma`."""
        raw = self.raw_sigma
        return raw is None or raw < self.floor_per_sqrt_s


def ewma_sigma(
    samples: Iterable[tuple[float, float]], *, half_life_s: float, floor_per_sqrt_s: float
) -> EwmaVolatility:
    """EWMA volatility from ``(time_s, mark_price)`` samples in time order."""
    state = EwmaVolatility(half_life_s, floor_per_sqrt_s)
    for time_s, price in samples:
        state = state.update(time_s, price)
    return state
