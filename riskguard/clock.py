"""Clocks: the wall clock for live accounts, a virtual one for replays, a paced one for demos.

Everything that needs the time takes a :class:`Clock`. Times are integer milliseconds since the
Unix epoch, as exchanges report them.

- :class:`SystemClock`: real time.
- :class:`VirtualClock`: time moves only when told to (``advance_to``) or when someone sleeps on
  it, so a 24-hour crash replays in seconds. Listeners (the paper venue) are called on every move,
  so an order's latency lets the market move while it is in flight.
- :class:`PacedClock`: virtual time that runs ``speed`` times faster than the wall clock from a
  chosen start, for live demos.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Protocol


class Clock(Protocol):
    """What riskguard needs from a clock."""

    def now_ms(self) -> int:
        """Milliseconds since the epoch."""
        ...

    async def sleep(self, seconds: float) -> None:
        """Wait ``seconds`` of this clock's time."""
        ...


def to_datetime(ms: int) -> datetime:
    """Epoch milliseconds to an aware UTC datetime."""
    return datetime.fromtimestamp(ms / 1000.0, tz=UTC)


def iso8601(ms: int) -> str:
    """Epoch milliseconds as ccxt's ISO 8601 string (``2020-03-12T00:00:00.000Z``)."""
    return to_datetime(ms).strftime("%Y-%m-%dT%H:%M:%S.") + f"{ms % 1000:03d}Z"


class SystemClock:
    """The wall clock."""

    def now_ms(self) -> int:
        return time.time_ns() // 1_000_000

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)


class VirtualClock:
    """Time that moves only when advanced; sleeping advances it."""

    def __init__(self, start_ms: int) -> None:
        self._now = int(start_ms)
        self._listeners: list[Callable[[int], None]] = []

    def now_ms(self) -> int:
        return self._now

    def subscribe(self, listener: Callable[[int], None]) -> None:
        """Call ``listener(now_ms)`` after every move of the clock."""
        self._listeners.append(listener)

    def advance_to(self, t_ms: int) -> None:
        """Move to ``t_ms`` (never backwards) and tell the listeners."""
        if t_ms < self._now:
            raise ValueError(f"a virtual clock cannot go back: {t_ms} < {self._now}")
        self._now = int(t_ms)
        for listener in self._listeners:
            listener(self._now)

    async def sleep(self, seconds: float) -> None:
        self.advance_to(self._now + round(seconds * 1000))
        await asyncio.sleep(0)


class PacedClock:
    """Virtual time running ``speed`` times faster than the wall clock, from ``start_ms``."""

    def __init__(self, start_ms: int, speed: float) -> None:
        if not speed > 0:
            raise ValueError(f"speed must be positive, got {speed}")
        self._start = int(start_ms)
        self._speed = speed
        self._wall0 = time.monotonic()

    @property
    def speed(self) -> float:
        return self._speed

    def now_ms(self) -> int:
        return self._start + int((time.monotonic() - self._wall0) * 1000 * self._speed)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds / self._speed)
