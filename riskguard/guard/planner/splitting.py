"""Splitting a sized reduction into orders of at most ``max_order_notional`` each, and no larger
than the venue's largest market order (:attr:`MarketRules.max_market_amount`).

With a cap, a reduction is split into near-equal parts, each a whole number of steps and at most
the cap (the smaller of the two, the notional one at the mark); the parts add up to the
reduction. When the cap is so
close to the minimum order that an even split would leave a part below the minimum, fewer,
larger parts are made: the minimum is the exchange's rule, the cap is ours.
"""

from __future__ import annotations

import math

from riskguard.domain import STEP_TOLERANCE, MarketRules, clean_float


def split_order(
    contracts: float,
    market: MarketRules,
    mark: float,
    max_notional: float | None,
    *,
    inverse: bool = False,
) -> tuple[float, ...]:
    """Split an order of ``contracts`` into near-equal parts of at most ``max_notional`` at
    ``mark`` and at most the market's largest market order, each a whole number of steps (the
    last part takes any off-step remainder of a full close), adding up to ``contracts``. See the
    module docstring for a cap below the minimum."""
    caps = []
    if max_notional is not None:
        caps.append(max_notional / market.contract_value(mark, inverse=inverse))
    if market.max_market_amount is not None:
        caps.append(market.max_market_amount)
    if not caps or contracts <= 0:
        return (clean_float(contracts),)
    step = market.amount_step
    cap_steps = math.floor(min(caps) / step + STEP_TOLERANCE)
    total_steps = math.floor(contracts / step + STEP_TOLERANCE)
    min_steps = max(1, round(market.min_order(mark, inverse=inverse) / step))
    parts = math.ceil(total_steps / max(cap_steps, 1))
    if parts > 1 and total_steps // parts < min_steps:
        parts = max(1, total_steps // min_steps)
    if parts <= 1:
        return (clean_float(contracts),)
    base, extra = divmod(total_steps, parts)
    amounts = [clean_float((base + (1 if i < extra else 0)) * step) for i in range(parts - 1)]
    amounts.append(clean_float(contracts - math.fsum(amounts)))
    return tuple(amounts)
