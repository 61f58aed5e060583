"""Stress scenarios: a SPAN-style array scaled by volatility, plus explicit gap moves.

CME SPAN values a position under 16 scenarios: price moves of 0, +-1/3, +-2/3 and +-1 of the
price scan range, each with volatility up and down, and two extreme moves (a multiple of the range)
of which only a cover fraction of the loss is counted. For crypto the scan range comes from the
mark's own volatility over the reaction horizon; linear contracts have no vega, so "volatility up"
is modelled as worse closing slippage. Historical gaps are added as explicit scenarios at full
weight, because a gap is exactly what a volatility estimate from calm minutes does not foresee.

Moves are fractions of the mark (-0.3 = the price falls 30%) applied jointly to every symbol of
an account; per-symbol moves override the common one (e.g. an altcoin falling three times as far).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Scenario:
    """A joint price move.

    ``loss_weight`` scales the price change's effect on PnL (SPAN's cover fraction for extreme
    moves); ``cost_factor`` multiplies the closing slippage (volatility up).
    """

    name: str
    move: float
    symbol_moves: tuple[tuple[str, float], ...] = ()
    loss_weight: float = 1.0
    cost_factor: float = 1.0

    def __post_init__(self) -> None:
        for symbol, move in ((None, self.move), *self.symbol_moves):
            if not (math.isfinite(move) and move > -1.0):
                where = f" for {symbol}" if symbol else ""
                raise ValueError(f"scenario {self.name!r}: move{where} must be > -1, got {move}")
        if not 0.0 <= self.loss_weight <= 1.0:
            raise ValueError(f"scenario {self.name!r}: loss_weight must be in [0, 1]")
        if self.cost_factor < 0.0:
            raise ValueError(f"scenario {self.name!r}: cost_factor must be >= 0")

    def move_for(self, symbol: str) -> float:
        """The fractional move this scenario applies to ``symbol``."""
        for sym, move in self.symbol_moves:
            if sym == symbol:
                return move
        return self.move


# Historical one-directional gaps (RISK_MATH.md): 2025-10-10 (-11.8% in 15 min), 2021-05-19
# (-31% in hours), 2020-03-12 (-50% over a day); the same sizes upwards for short squeezes.
DEFAULT_GAPS: tuple[float, ...] = (-0.12, -0.31, -0.50, 0.12, 0.31, 0.50)


def gap_scenarios(moves: tuple[float, ...] = DEFAULT_GAPS) -> tuple[Scenario, ...]:
    """One full-weight scenario per explicit gap move."""
    return tuple(Scenario(name=f"gap {m:+.1%}", move=m) for m in moves)


MAX_LOG_MOVE = 20.0
"""Log moves beyond +-20 (a price x485 million, or down to 2e-9 of itself) are all the same to a
stress test; bounding them keeps a wild volatility estimate finite and every fall above -100%."""


def log_move(log_return: float) -> float:
    """``exp(log_return) - 1``, the log return bounded to +-:data:`MAX_LOG_MOVE`."""
    return math.expm1(max(-MAX_LOG_MOVE, min(MAX_LOG_MOVE, log_return)))


def span_scenarios(
    sigma_per_sqrt_s: float | Mapping[str, float],
    horizon_s: float,
    *,
    scan_sigmas: float = 3.0,
    extreme_multiple: float = 3.0,
    extreme_cover: float = 0.35,
    vol_up_cost_factor: float = 2.0,
    default_sigma_per_sqrt_s: float | None = None,
) -> tuple[Scenario, ...]:
    """The 16 SPAN-style scenarios for a price scan range of ``scan_sigmas`` sigma over the horizon.

    ``sigma_per_sqrt_s`` is one volatility for all symbols, or a mapping per symbol (then
    ``default_sigma_per_sqrt_s`` covers symbols not in it). Moves are log-consistent:
    ``exp(f * range) - 1``, so a large down move never reaches a zero price.
    """
    if horizon_s <= 0:
        raise ValueError("horizon_s must be positive")
    if isinstance(sigma_per_sqrt_s, Mapping):
        per_symbol = dict(sigma_per_sqrt_s)
        common = default_sigma_per_sqrt_s if default_sigma_per_sqrt_s is not None else 0.0
    else:
        per_symbol = {}
        common = sigma_per_sqrt_s
    if common < 0 or any(v < 0 for v in per_symbol.values()):
        raise ValueError("sigma must be >= 0")
    root_h = math.sqrt(horizon_s)
    symbols = sorted(per_symbol.items())
    expm1 = math.expm1
    bound = MAX_LOG_MOVE

    def make(name: str, fraction: float, weight: float, cost: float) -> Scenario:
        # log_move inlined; the products are taken in the same order as
        # fraction * scan_sigmas * sigma * root_h, so the floats are log_move's.
        scan = fraction * scan_sigmas
        overrides = tuple(
            [(sym, expm1(max(-bound, min(bound, scan * sig * root_h)))) for sym, sig in symbols]
        )
        return Scenario(
            name=name,
            move=expm1(max(-bound, min(bound, scan * common * root_h))),
            symbol_moves=overrides,
            loss_weight=weight,
            cost_factor=cost,
        )

    out: list[Scenario] = []
    for up, down, fraction in _SPAN_FRACTIONS:
        out.append(make(up, fraction, 1.0, vol_up_cost_factor))
        out.append(make(down, fraction, 1.0, 1.0))
    out.append(
        make(
            f"span +{extreme_multiple:g}x extreme",
            extreme_multiple,
            extreme_cover,
            vol_up_cost_factor,
        )
    )
    out.append(
        make(
            f"span -{extreme_multiple:g}x extreme",
            -extreme_multiple,
            extreme_cover,
            vol_up_cost_factor,
        )
    )
    return tuple(out)


_SPAN_FRACTIONS: tuple[tuple[str, str, float], ...] = tuple(
    (f"span {label} vol up", f"span {label} vol down", fraction)
    for label, fraction in (
        ("0", 0.0),
        ("+1/3", 1 / 3),
        ("-1/3", -1 / 3),
        ("+2/3", 2 / 3),
        ("-2/3", -2 / 3),
        ("+1", 1.0),
        ("-1", -1.0),
    )
)
"""The scan range's fractions SPAN moves by, each with the names of its vol up / down pair."""
