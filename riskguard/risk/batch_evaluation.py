"""The evaluation of many isolated positions at once, on arrays.

The figures :func:`riskguard.risk.evaluate_position` gives one position at a time (liquidation
price, distance, sigma distance, touch probability, and the shortfall of the position on its
own collateral under the stress scenarios with the scenario that gives it), for a whole batch:
the liquidation part is the exact tier walk of :mod:`riskguard.risk.batch`, the stress one
broadcast of positions x scenarios per chunk of rows. Prices, distances and shortfalls are the
scalar path's floats; sigma distances and touch probabilities agree to float rounding (numpy's
logarithm is not libm's).

One known difference: an inverse position given by its leverage alone (no collateral) stands
on the coin collateral its liquidation price uses (``size / entry / leverage``) in the stress
here, while :func:`~riskguard.risk.position_shortfall` derives ``size x entry / leverage`` from
the position as quoted.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from riskguard.domain import Position
from riskguard.risk.arrays import Bools, Floats, Ints, PositionArrays, position_arrays
from riskguard.risk.batch import CHUNK, solve_arrays
from riskguard.risk.scenarios import Scenario
from riskguard.risk.shortfall import DEFAULT_SLIPPAGE
from riskguard.risk.venues import VenueProfile

_ERFC = np.frompyfunc(math.erfc, 1, 1)


@dataclass(frozen=True, slots=True, eq=False)
class BatchEvaluation:
    """One array per figure, one row per position, in input order.

    ``liquidation_price``, ``distance`` and ``sigma_distance`` are NaN where no liquidation
    price exists; ``worst_scenario`` indexes the scenarios, -1 where no scenario leaves a
    shortfall.
    """

    liquidation_price: Floats
    distance: Floats
    safe: Bools
    sigma_distance: Floats
    touch_probability: Floats
    shortfall: Floats
    worst_scenario: Ints


def scenario_factors(scenarios: Sequence[Scenario], symbols: Sequence[str]) -> Floats:
    """``1 + loss_weight x move`` per scenario (rows) and position (columns)."""
    by_symbol = {
        symbol: [1.0 + sc.loss_weight * sc.move_for(symbol) for sc in scenarios]
        for symbol in dict.fromkeys(symbols)
    }
    columns = [by_symbol[symbol] for symbol in symbols]
    return np.array(columns, dtype=np.float64).reshape(len(symbols), len(scenarios)).T


def evaluate_positions(
    positions: Sequence[Position],
    profile: VenueProfile,
    sigma_per_sqrt_s: float,
    horizon_s: float,
    scenarios: Sequence[Scenario],
    *,
    slippage: float = DEFAULT_SLIPPAGE,
) -> BatchEvaluation:
    """:func:`riskguard.risk.evaluate_position` for every (isolated) position of a batch."""
    rows = list(positions)
    factors = scenario_factors(scenarios, [p.symbol for p in rows])
    slips = np.array([slippage * sc.cost_factor for sc in scenarios], dtype=np.float64)
    return evaluate_arrays(
        position_arrays(rows, profile), factors, slips, sigma_per_sqrt_s, horizon_s
    )


def evaluate_arrays(
    a: PositionArrays,
    factors: Floats,
    slips: Floats,
    sigma_per_sqrt_s: float | Floats,
    horizon_s: float,
) -> BatchEvaluation:
    """The batch evaluation from columns: ``factors`` is scenarios x positions (see
    :func:`scenario_factors`), ``slips`` the slippage of each scenario, ``sigma_per_sqrt_s``
    one volatility or one per position."""
    n = len(a)
    out = BatchEvaluation(
        liquidation_price=np.empty(n),
        distance=np.empty(n),
        safe=np.empty(n, dtype=np.bool_),
        sigma_distance=np.empty(n),
        touch_probability=np.empty(n),
        shortfall=np.empty(n),
        worst_scenario=np.empty(n, dtype=np.intp),
    )
    sigma = np.broadcast_to(np.asarray(sigma_per_sqrt_s, dtype=np.float64), (n,))
    root_h = math.sqrt(horizon_s)
    with np.errstate(divide="ignore", invalid="ignore"):
        for lo in range(0, n, CHUNK):
            hi = min(n, lo + CHUNK)
            _evaluate_chunk(
                a.rows(lo, hi), factors[:, lo:hi], slips, sigma[lo:hi], root_h, out, lo, hi
            )
    return out


def _evaluate_chunk(
    a: PositionArrays,
    factors: Floats,
    slips: Floats,
    sigma: Floats,
    root_h: float,
    out: BatchEvaluation,
    lo: int,
    hi: int,
) -> None:
    price, safe = solve_arrays(a)
    if a.inverse.any():
        price = np.where(a.inverse, 1.0 / price, price)
    mark = a.quote_mark
    gap = np.abs(mark - price) / mark
    out.liquidation_price[lo:hi] = price
    out.distance[lo:hi] = np.where(safe, gap, -gap)
    out.safe[lo:hi] = safe
    # Sigma distance and touch probability (riskguard.risk.distance), without a volatility:
    # infinitely far while safe.
    z = np.abs(np.log(mark / price)) / (sigma * root_h)
    z = np.where(sigma > 0, z, np.inf)
    out.sigma_distance[lo:hi] = np.where(np.isnan(price), np.nan, np.where(safe, z, -z))
    touch = np.minimum(1.0, np.asarray(_ERFC(z / math.sqrt(2.0)), dtype=np.float64))
    touch = np.where(np.isnan(price), 0.0, touch)
    out.touch_probability[lo:hi] = np.where(safe, touch, 1.0)
    # Stress: every position marked at mark x factor and closed there, on its own collateral.
    quote_sign = np.where(a.inverse, -a.sign, a.sign)
    signed = quote_sign * a.size
    fee = a.taker_fee + slips[:, None]
    stressed = mark * factors
    if a.inverse.any():
        value = np.where(
            a.inverse,
            signed * (1.0 / a.quote_entry - 1.0 / stressed) - a.size / stressed * fee,
            signed * (stressed - a.quote_entry) - a.size * stressed * fee,
        )
    else:
        value = signed * (stressed - a.quote_entry) - a.size * stressed * fee
    equity = a.collateral + value
    if len(slips):
        worst = np.argmin(equity, axis=0)
        shortfall = np.maximum(0.0, -equity[worst, np.arange(len(worst))])
        out.worst_scenario[lo:hi] = np.where(shortfall > 0, worst, -1)
        out.shortfall[lo:hi] = shortfall
    else:
        out.worst_scenario[lo:hi] = -1
        out.shortfall[lo:hi] = 0.0
