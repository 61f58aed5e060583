"""Distance to liquidation: as a fraction of price, in sigmas over a horizon, and as a probability.

distance   = |M - LP| / M, negative when the position is already past its threshold
sigma dist = |ln(M / LP)| / (sigma * sqrt(h))     sigma per sqrt(second), h in seconds
P(touch)   = 2 * Phi(-sigma_dist) = erfc(sigma_dist / sqrt(2))   driftless GBM barrier hit
"""

from __future__ import annotations

import math


def distance_fraction(mark: float, liquidation: float | None, safe: bool = True) -> float | None:
    """Fraction of the mark price the market must move to reach ``liquidation``.

    None when there is no liquidation price. Negative (or zero) when ``safe`` is False, i.e. the
    position is at or past its threshold and ``liquidation`` is where it would recover.
    """
    if liquidation is None:
        return None
    gap = abs(mark - liquidation) / mark
    return gap if safe else -gap


def sigma_distance(
    mark: float,
    liquidation: float | None,
    sigma_per_sqrt_s: float,
    horizon_s: float,
    safe: bool = True,
) -> float | None:
    """Distance to liquidation in standard deviations of the log mark over ``horizon_s``."""
    if liquidation is None:
        return None
    if sigma_per_sqrt_s <= 0 or horizon_s <= 0:
        raise ValueError("sigma and horizon must be positive")
    value = abs(math.log(mark / liquidation)) / (sigma_per_sqrt_s * math.sqrt(horizon_s))
    return value if safe else -value


def touch_probability(
    mark: float,
    liquidation: float | None,
    sigma_per_sqrt_s: float,
    horizon_s: float,
    safe: bool = True,
) -> float:
    """Probability that a driftless log-normal mark touches ``liquidation`` within ``horizon_s``.

    1.0 for a position already past its threshold; 0.0 when there is no liquidation price.
    """
    if not safe:
        return 1.0
    z = sigma_distance(mark, liquidation, sigma_per_sqrt_s, horizon_s)
    if z is None:
        return 0.0
    return min(1.0, math.erfc(z / math.sqrt(2.0)))
