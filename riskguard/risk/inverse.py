"""Coin-margined (inverse) contracts, computed exactly through the reciprocal price.

An inverse contract of quote value ``N`` (contracts x contract size in USD) settles in the base
coin: ``PnL = s * N * (1/E - 1/P)`` coins, and the maintenance margin is charged on the coin value
``N / P``. Writing ``x = 1/P`` these are exactly a *linear* position of the opposite side, size
``N``, entry ``1/E`` and mark ``1/M`` in ``x``-space:

    (-s) * N * (x - 1/E) = s * N * (1/E - x)          N * x * rate = (N / P) * rate

so every linear formula (tiers by coin notional, venue fee terms, Bybit's entry-value margin,
the tier walk) applies unchanged in ``x``, and prices map back as ``P = 1/x``. Money figures of an
inverse position (collateral, equity, margin, shortfall) are in the base coin.
"""

from __future__ import annotations

from dataclasses import replace

from riskguard.domain import Position, Side
from riskguard.risk.account import PositionRisk
from riskguard.risk.distance import distance_fraction


def reciprocal(position: Position) -> Position:
    """The linear position in reciprocal-price space equivalent to an inverse ``position``."""
    return replace(
        position,
        side=Side.SHORT if position.side is Side.LONG else Side.LONG,
        entry_price=1.0 / position.entry_price,
        mark_price=1.0 / position.mark_price,
        contract_size=1.0,
        inverse=False,
    )


def reciprocal_move(adverse_move: float, side: Side) -> float:
    """The adverse move in reciprocal space matching ``adverse_move`` of the real price."""
    return adverse_move / (1.0 - side.sign * adverse_move)


def _invert(price: float | None) -> float | None:
    return None if price is None else 1.0 / price


def from_reciprocal(risk: PositionRisk, position: Position) -> PositionRisk:
    """Map figures computed in reciprocal space back to the inverse position's real prices."""
    liquidation = _invert(risk.liquidation_price)
    return replace(
        risk,
        side=position.side.value,
        mark_price=position.mark_price,
        liquidation_price=liquidation,
        bankruptcy_price=_invert(risk.bankruptcy_price),
        distance=distance_fraction(position.mark_price, liquidation, risk.safe),
    )
