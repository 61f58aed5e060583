"""Fields ccxt left empty in a position row, read from the venue's raw row (``info``).

ccxt's unified position row is filled by each venue's parser, and some parsers (or versions) leave
``contracts``, ``side``, ``marginMode`` or ``leverage`` empty where the venue's own answer has them.
A row with no ``contracts`` would read as flat and its position would vanish from the guard's
view, so those fields are filled here from the raw row before the normaliser reads it, and every
filled field is named with its source (:class:`Filled`), for the snapshot to say.

The raw conventions are data, per venue answer (not per venue name): a field path and how to read
it. Entry prices and isolated margins have their own tables in
:mod:`~riskguard.exchange.ccxt_account`.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final


@dataclass(frozen=True, slots=True)
class Filled:
    """One field of one row that did not come from ccxt's own unified field."""

    symbol: str
    field: str
    source: str

    def text(self) -> str:
        """``BTC/USDT:USDT contracts: venue raw positionAmt``."""
        return f"{self.symbol} {self.field}: {self.source}"


_SIZE_FIELDS: Final = (
    (("positionAmt",), "positionSide"),  # Binance positionRisk: signed in one-way mode
    (("size",), "side"),  # Bybit v5 position/list: unsigned, side Buy/Sell
    (("pos",), "posSide"),  # OKX positions: contracts, signed in net mode
    (("position", "szi"), None),  # Hyperliquid assetPositions[].position: signed
)
"""Raw size fields in contracts (each venue's base or contract unit, as ccxt counts contracts),
with the raw field that names the side where the size is not signed."""

_SIDE_WORDS: Final = {
    "long": "long",
    "short": "short",
    "buy": "long",
    "sell": "short",
    "LONG": "long",
    "SHORT": "short",
    "Buy": "long",
    "Sell": "short",
}

_MODE_FIELDS: Final = (
    (("marginType",), {"cross": "cross", "isolated": "isolated", "crossed": "cross"}),  # Binance
    (("mgnMode",), {"cross": "cross", "isolated": "isolated"}),  # OKX
    # Bybit v5: 1 is isolated on classic accounts; 0 is no answer (unified accounts always say 0)
    (("tradeMode",), {"1": "isolated"}),
    (("position", "leverage", "type"), {"cross": "cross", "isolated": "isolated"}),  # Hyperliquid
    # Binance positionRisk v2 also says it as a boolean
    (("isolated",), {"True": "isolated", "False": "cross", "true": "isolated", "false": "cross"}),
)
"""Raw margin-mode fields and how their values read."""

_LEVERAGE_FIELDS: Final = (
    ("leverage",),  # Binance positionRisk, Bybit v5
    ("lever",),  # OKX positions
    ("position", "leverage", "value"),  # Hyperliquid
)


def at(info: Any, path: tuple[str | int, ...]) -> Any:
    """The value at ``path`` in a raw answer (keys of mappings, indices of lists), or None."""
    value: Any = info
    for key in path:
        if isinstance(key, int):
            value = value[key] if isinstance(value, list) and len(value) > key else None
        else:
            value = value.get(key) if isinstance(value, (dict, Mapping)) else None
    return value


def number(value: Any) -> float | None:
    """A raw field as a finite float; None for empty, boolean or unreadable values."""
    if value is None or value == "" or isinstance(value, bool):
        return None
    try:
        result = float(value)
    except (TypeError, ValueError):
        return None
    return result if math.isfinite(result) else None


def _raw_size(info: Any) -> tuple[float, str, str] | None:
    """(contracts, side, source) from the raw row, or None where it holds no open size."""
    for path, side_field in _SIZE_FIELDS:
        signed = number(at(info, path))
        if signed is None or signed == 0:
            continue
        word = _SIDE_WORDS.get(str(info.get(side_field))) if side_field else None
        side = word or ("long" if signed > 0 else "short")
        return abs(signed), side, "venue raw " + ".".join(path)
    return None


def _raw_mode(info: Any) -> tuple[str, str] | None:
    for path, words in _MODE_FIELDS:
        raw = at(info, path)
        if raw is None:
            continue
        mode = words.get(str(raw))
        if mode is not None:
            return mode, "venue raw " + ".".join(path)
    return None


def _raw_leverage(info: Any) -> tuple[float, str] | None:
    for path in _LEVERAGE_FIELDS:
        value = number(at(info, path))
        if value is not None and value > 0:
            return value, "venue raw " + ".".join(path)
    return None


def fill_row(row: Mapping[str, Any]) -> tuple[dict[str, Any], tuple[Filled, ...]]:
    """The row with ``contracts``/``side``, ``marginMode`` and ``leverage`` filled from its raw
    row where ccxt left them empty, and what was filled from where.

    A row that ccxt reads as flat (no contracts) but whose raw row holds a size is an open
    position: it is read, never dropped. Fields ccxt did fill are left as they are.
    """
    filled = dict(row)
    said: list[Filled] = []
    info = row.get("info")
    if not isinstance(info, (dict, Mapping)):
        return filled, ()
    symbol = str(row.get("symbol"))
    contracts = number(row.get("contracts"))
    if not contracts or row.get("side") not in ("long", "short"):
        raw = _raw_size(info)
        if raw is not None:
            size, side, source = raw
            if not contracts:
                filled["contracts"] = size
                said.append(Filled(symbol, "contracts", source))
            if row.get("side") not in ("long", "short"):
                filled["side"] = side
                said.append(Filled(symbol, "side", source))
    if row.get("marginMode") not in ("cross", "isolated"):
        mode = _raw_mode(info)
        if mode is not None:
            filled["marginMode"] = mode[0]
            said.append(Filled(symbol, "margin mode", mode[1]))
    leverage = number(row.get("leverage"))
    if leverage is None or leverage <= 0:
        raw_leverage = _raw_leverage(info)
        if raw_leverage is not None:
            filled["leverage"] = raw_leverage[0]
            said.append(Filled(symbol, "leverage", raw_leverage[1]))
    return filled, tuple(said)
