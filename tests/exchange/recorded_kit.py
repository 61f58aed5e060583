"""What every recorded-payload test needs: the recorded calls, the unified fields riskguard
reads, and a market in ccxt's shape built from facts in a payload (``test_recorded_<venue>.py``)."""

from __future__ import annotations

import copy
import functools
import json
from pathlib import Path
from typing import Any

POSITION_FIELDS = (
    "symbol",
    "contracts",
    "contractSize",
    "side",
    "entryPrice",
    "markPrice",
    "liquidationPrice",
    "marginMode",
    "collateral",
    "unrealizedPnl",
    "leverage",
)
"""Unified position fields riskguard reads (normaliser and the guard's cross-check)."""

ORDER_FIELDS = (
    "id",
    "clientOrderId",
    "symbol",
    "side",
    "amount",
    "remaining",
    "reduceOnly",
    "stopLossPrice",
    "triggerPrice",
)
"""Unified order fields ``open_stops_from_ccxt`` reads."""


def swap_market(
    symbol: str, market_id: str, contract_size: float | None, **extra: Any
) -> dict[str, Any]:
    """A perpetual swap in ccxt's market shape; linear unless it settles in its base coin.
    ``extra`` adds or replaces keys (taker fee, precision, limits, ids)."""
    base, _, rest = symbol.partition("/")
    quote, _, settle = rest.partition(":")
    inverse = settle == base
    market: dict[str, Any] = {
        "id": market_id,
        "symbol": symbol,
        "base": base,
        "quote": quote,
        "settle": settle,
        "baseId": base,
        "quoteId": quote,
        "settleId": settle,
        "type": "swap",
        "spot": False,
        "margin": False,
        "swap": True,
        "future": False,
        "option": False,
        "contract": True,
        "active": True,
        "linear": not inverse,
        "inverse": inverse,
        "contractSize": contract_size,
    }
    market.update(extra)
    return market


@functools.cache
def load_recorded(path: Path) -> dict[str, Any]:
    """A recorded file (``{"methods": {Method: [call, ...]}, ...}``), read once."""
    with path.open(encoding="utf-8") as handle:
        data: dict[str, Any] = json.load(handle)
    return data


def recorded_entry(path: Path, method: str, index: int = 0) -> dict[str, Any]:
    """A deep copy of one recorded call (tests may alter it)."""
    return copy.deepcopy(load_recorded(path)["methods"][method][index])
