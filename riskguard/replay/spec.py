"""What ``riskguard replay`` is asked to do, parsed from its options.

Each parser takes one option's text and returns a value or raises
:class:`~riskguard.errors.InputError` with one line naming the option and what was wrong:

- ``--open SYMBOL,SIDE,LEVERAGEx[,isolated|cross][,NOTIONAL]`` (:func:`parse_open`);
- ``--prices SYMBOL=FILE`` (:func:`parse_prices`);
- ``--from`` / ``--to``: ISO 8601 (``2020-03-12T10:00Z``; a time without a zone is UTC) or epoch
  milliseconds (:func:`parse_time`);
- ``--baselines none,static-stop`` (:func:`parse_baselines`);
- ``--balance`` and ``--poll-interval-s``: finite numbers within their bounds
  (:func:`parse_bounded`: a balance up to 10^15, a poll interval of 0.01 to 86,400 s, a leverage
  of 1 to 1,000x, a notional up to 10^15).
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

MAX_AMOUNT = 1e15
"""Largest balance or notional accepted (as in the config, :mod:`riskguard.validation`)."""
MAX_LEVERAGE = 1_000.0
POLL_INTERVAL_S = (0.01, 86_400.0)
"""Smallest and largest guard poll interval (as ``guard.poll_interval_s``)."""
MAX_EPOCH_MS = 253_402_300_799_999
"""9999-12-31T23:59:59.999Z: the last time a date can hold."""

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


def parse_bounded(text: str, option: str, low: float, high: float, *, above: bool = False) -> float:
    """A number given to ``option``: finite and within ``[low, high]`` (``(low, high]`` if
    ``above``), or one line saying which bound it broke."""
    value = _number(text, option, "value")
    if value > high or value < low or (above and value == low):
        bound = f"above {low:g}" if above else f"at least {low:g}"
        raise InputError(f"{option}: must be {bound} and at most {high:,g}, got {text!r}")
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
    if leverage > MAX_LEVERAGE:
        raise InputError(
            f"{option}: leverage must be at most {MAX_LEVERAGE:,g}x, got {leverage_text!r}"
        )
    mode: MarginModeName = "isolated"
    notional: float | None = None
    for extra in rest:
        low = extra.lower()
        if low in ("isolated", "cross"):
            mode = "isolated" if low == "isolated" else "cross"
        else:
            notional = _number(extra, option, "notional")
            if notional <= 0 or notional > MAX_AMOUNT:
                raise InputError(
                    f"{option}: notional must be positive and at most {MAX_AMOUNT:g}, got {extra!r}"
                )
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
        if len(stripped) > 16 or int(stripped) > MAX_EPOCH_MS:
            raise InputError(f"{option} {text!r}: epoch ms after the year 9999")
        return int(stripped)
    try:
        moment = datetime.fromisoformat(stripped.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise InputError(
            f"{option} {text!r}: not a time; give ISO 8601 (2020-03-12T10:00Z) or epoch ms"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    try:
        return int(moment.timestamp() * 1000)
    except (OverflowError, ValueError):
        raise InputError(f"{option} {text!r}: not a time a clock can hold") from None


def parse_baselines(text: str) -> tuple[str, ...]:
    """``--baselines none,static-stop`` (any subset, or an empty string for none at all)."""
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BASELINES]
    if unknown:
        raise InputError(
            f"--baselines: unknown baseline {unknown[0]!r}; choose from {', '.join(BASELINES)}"
        )
    return tuple(b for b in BASELINES if b in names)
