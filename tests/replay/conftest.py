"""Price files for replay tests: a synthetic one-minute crash, tick series and a price gap."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

T0 = 1_700_006_400_000
"""2023-11-15 00:00 UTC: the first bar of every synthetic file."""
MINUTE = 60_000


def write_klines(path: Path, closes: list[float], *, header: bool = True) -> Path:
    """A Binance-style kline CSV: open = previous close, high/low 0.2% around the bar."""
    lines = ["timestamp_ms,open,high,low,close,volume"] if header else []
    previous = closes[0]
    for i, close in enumerate(closes):
        high = max(previous, close) * 1.002
        low = min(previous, close) * 0.998
        lines.append(f"{T0 + i * MINUTE},{previous:.2f},{high:.2f},{low:.2f},{close:.2f},1.000")
        previous = close
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


TICK_MS = 10_000
"""Spacing of the points of a synthetic tick series (the mark's half-life is 5 s)."""


def write_ticks(path: Path, prices: list[float], *, step_ms: int = TICK_MS) -> Path:
    """A ``timestamp_ms,price`` tick series from ``T0``, one point every ``step_ms``."""
    rows = [f"{T0 + i * step_ms},{price:.2f}" for i, price in enumerate(prices)]
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def gap_prices(*, start: float = 40_000.0, to: float = 30_000.0, points: int = 60) -> list[float]:
    """Flat at ``start`` for five minutes, then one tick at ``to`` and flat there: a 25% gap
    down, far past the bankruptcy price of a 20x long (5% under its entry)."""
    return [start] * 30 + [to] * (points - 30)


def crash_closes(*, start: float = 40_000.0, drop: float = 0.30, bars: int = 240) -> list[float]:
    """Flat for an hour, down ``drop`` over the next hour, then flat: a 20x long dies."""
    out = []
    for i in range(bars):
        if i < 60:
            price = start
        elif i < 120:
            price = start * (1 - drop * (i - 60) / 60)
        else:
            price = start * (1 - drop) * (1 + 0.02 * math.sin(i / 10))
        out.append(price)
    return out


@pytest.fixture
def crash_csv(tmp_path: Path) -> Path:
    """240 one-minute bars of BTC falling 30% between minute 60 and 120."""
    return write_klines(tmp_path / "crash.csv", crash_closes())


@pytest.fixture
def squeeze_csv(tmp_path: Path) -> Path:
    """The mirror image: up 40% between minute 60 and 120 (a short dies)."""
    return write_klines(tmp_path / "squeeze.csv", crash_closes(drop=-0.40))


@pytest.fixture
def gap_csv(tmp_path: Path) -> Path:
    """A tick series that gaps 25% down at minute five (see :func:`gap_prices`)."""
    return write_ticks(tmp_path / "gap.csv", gap_prices())
