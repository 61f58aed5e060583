"""The stress test of a large account as one broadcast of positions x scenarios.

:func:`riskguard.risk.stress_account` hands accounts of at least
:data:`riskguard.risk.shortfall.STRESS_ARRAY_MIN` position-scenario pairs here; below that the
per-position loop is faster than numpy's fixed cost per call. The arithmetic is the loop's,
operation for operation: ``value[p, s]`` is the PnL at ``mark x factor`` less the cost of closing
there, the cross account adds its positions' rows to the wallet in snapshot order (a running
sum, as the loop adds them), and each isolated row sits on its own collateral. The two paths
give the same floats (tests/risk/test_stress_columns.py).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from riskguard.domain import MarginMode, Position, Side
from riskguard.risk.account import isolated_collateral


def stress_rows(
    positions: Sequence[Position],
    wallet: float,
    factors: list[list[float]],
    slips: list[float],
) -> tuple[list[list[float]], list[float] | None, list[float], list[float]]:
    """``(columns, cross, equity_after, shortfall)`` as :class:`StressResult` keeps them.

    ``factors[i]`` are position ``i``'s price factors per scenario, ``slips`` each scenario's
    slippage.
    """
    count = len(slips)
    size = np.array([p.size for p in positions])
    signed = np.array([(1 if p.side is Side.LONG else -1) * p.size for p in positions])
    mark = np.array([p.mark_price for p in positions])
    entry = np.array([p.entry_price for p in positions])
    cost = np.array([p.taker_fee for p in positions])[:, None] + np.array(slips)
    stressed = mark[:, None] * np.array(factors).reshape(len(positions), count)
    values = signed[:, None] * (stressed - entry[:, None]) - size[:, None] * stressed * cost
    inverse = np.array([p.inverse for p in positions])
    if inverse.any():
        coin = signed[:, None] * ((1.0 / entry)[:, None] - 1.0 / stressed) - (
            size[:, None] / stressed * cost
        )
        values = np.where(inverse[:, None], coin, values)
    cross_rows = [i for i, p in enumerate(positions) if p.margin_mode is MarginMode.CROSS]
    iso_rows = [i for i, p in enumerate(positions) if p.margin_mode is not MarginMode.CROSS]
    zeros = np.zeros((1, count))
    own = (
        np.array([isolated_collateral(positions[i]) for i in iso_rows])[:, None] + values[iso_rows]
    )
    iso_total = np.add.accumulate(np.vstack([zeros, own]), axis=0)[-1]
    iso_short = np.add.accumulate(np.vstack([zeros, np.maximum(0.0, -own)]), axis=0)[-1]
    columns: list[list[float]] = [[]] * len(positions)
    for i, row in zip(iso_rows, own.tolist(), strict=True):
        columns[i] = row
    if not cross_rows:
        return columns, None, (wallet + iso_total).tolist(), iso_short.tolist()
    start = np.full((1, count), wallet)
    cross_equity = np.add.accumulate(np.vstack([start, values[cross_rows]]), axis=0)[-1]
    cross = cross_equity.tolist()
    for i in cross_rows:
        columns[i] = cross
    shortfall = np.maximum(0.0, -cross_equity) + iso_short
    return columns, cross, (cross_equity + iso_total).tolist(), shortfall.tolist()
