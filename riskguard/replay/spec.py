"""What ``riskguard replay`` is asked to do, parsed from its options.

Each parser takes one option's text and returns a value or raises
:class:`~riskguard.errors.InputError` with one line naming the option and what was wrong:

- ``--open SYMBOL,SIDE,LEVERAGEx[,isolated|cross][,NOTIONAL]`` (:func:`parse_open`);
- ``--prices SYMBOL=FILE`` (:func:`parse_prices`);
- ``--from`` / ``--to``: ISO 8601 (``2020-03-12T10:00Z``; a time without a zone is UTC) or epoch
  milliseconds (:func:`parse_time`);
- ``--baselines none,static-stop`` (:func:`parse_baselines`).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Literal

from riskguard.errors import InputError

BASELINES: tuple[str, ...] = ("none", "static-stop")
"""The baselines a replay can run beside the guard, in the order they are reported."""

Side = Literal["long", "short"]
MarginModeName = Literal["isolated", "cross"]


@dataclass(frozen=True, slots=True)
class OpenSpec:
    """A position to open at the first price: ``--open BTC/USDT:USDT,long,20x,isolated``."""

    symbol: str
    side: Side
    leverage: float
    margin_mode: MarginModeName = "isolated"
    notional: float | None = None
    """Position value at the first price; ``None``: margin = balance / (2 x positions)."""


def _number(text: str, option: str, what: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise InputError(f"{option}: {what} {text!r} is not a number") from None
    if not math.isfinite(value):
        raise InputError(f"{option}: {what} {text!r} is not a finite number")
    return value


def parse_open(text: str) -> OpenSpec:
    """Parse one ``--open`` value."""
    option = f"--open {text!r}"
    parts = [p.strip() for p in text.split(",")]
    if len(parts) < 3 or len(parts) > 5:
        raise InputError(
            f"{option}: expected SYMBOL,SIDE,LEVERAGEx[,isolated|cross][,NOTIONAL], "
            f"e.g. BTC/USDT:USDT,long,20x,isolated"
        )
    symbol, side, leverage_text, *rest = parts
    if not symbol:
        raise InputError(f"{option}: the symbol is empty")
    side_l = side.lower()
    if side_l not in ("long", "short"):
        raise InputError(f"{option}: side must be long or short, got {side!r}")
    lev = leverage_text.lower().removesuffix("x")
    leverage = _number(lev, option, "leverage")
    if leverage < 1:
        raise InputError(f"{option}: leverage must be at least 1x, got {leverage_text!r}")
    mode: MarginModeName = "isolated"
    notional: float | None = None
    for extra in rest:
        low = extra.lower()
        if low in ("isolated", "cross"):
            mode = "isolated" if low == "isolated" else "cross"
        else:
            notional = _number(extra, option, "notional")
            if notional <= 0:
                raise InputError(f"{option}: notional must be positive, got {extra!r}")
    return OpenSpec(
        symbol=symbol,
        side="long" if side_l == "long" else "short",
        leverage=leverage,
        margin_mode=mode,
        notional=notional,
    )


def parse_prices(text: str) -> tuple[str, Path]:
    """Parse one ``--prices SYMBOL=FILE`` value (the file is read later, by the feed reader)."""
    symbol, sep, file = text.partition("=")
    if not sep or not symbol.strip() or not file.strip():
        raise InputError(
            f"--prices {text!r}: expected SYMBOL=FILE, e.g. "
            "BTC/USDT:USDT=../shared/data/crashes/btcusdt-perp-2020-03-12.csv"
        )
    return symbol.strip(), Path(file.strip())


def parse_time(text: str, option: str) -> int:
    """``--from`` / ``--to``: ISO 8601 (UTC when no zone is given) or epoch milliseconds."""
    stripped = text.strip()
    if stripped.isdigit():
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {text!r}: not a time; give ISO 8601 (2020-03-12T10:00Z) or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return int(moment.timestamp() * 1000)


def parse_baselines(text: str) -> tuple[str, ...]:
    """``--baselines none,static-stop`` (any subset, or an empty string for none at all)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError(
            f"--baselines: unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}"
        )
    return tuple(b for b in BASELINES if b in names)
