"""Seeded fault injection for the paper venue: latency, errors, partial fills and stale marks.

Each client method of each account draws from its own random stream (seeded from the fault seed,
the account and the method name), and every call draws the same number of numbers whatever the
outcome, so a run is reproducible from its seed even when calls interleave differently.
"""

from __future__ import annotations

import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

import ccxt.async_support as ccxt


class LatencyKind(StrEnum):
    FIXED = "fixed"
    UNIFORM = "uniform"
    LOGNORMAL = "lognormal"


@dataclass(frozen=True, slots=True)
class Latency:
    """A latency distribution in milliseconds.

    ``fixed``: always ``ms``. ``uniform``: between ``low_ms`` and ``high_ms``. ``lognormal``:
    median ``ms`` with log-standard deviation ``sigma``.
    """

    kind: LatencyKind = LatencyKind.FIXED
    ms: float = 0.0
    low_ms: float = 0.0
    high_ms: float = 0.0
    sigma: float = 0.5

    def draw(self, u: float, z: float) -> float:
        """Latency in ms from a uniform ``u`` in [0, 1) and a standard normal ``z``."""
        if self.kind is LatencyKind.FIXED:
            return self.ms
        if self.kind is LatencyKind.UNIFORM:
            return self.low_ms + (self.high_ms - self.low_ms) * u
        return self.ms * math.exp(self.sigma * z)


@dataclass(frozen=True, slots=True)
class MethodFaults:
    """Probabilities of each fault for one method (each in [0, 1])."""

    latency: Latency = Latency()
    timeout: float = 0.0
    unavailable: float = 0.0
    rate_limit: float = 0.0
    reject: float = 0.0
    partial_fill: float = 0.0
    partial_fill_min: float = 0.1
    partial_fill_max: float = 0.9
    accepted_timeout: float = 0.0

    def __post_init__(self) -> None:
        for name in ("timeout", "unavailable", "rate_limit", "reject", "partial_fill"):
            value = getattr(self, name)
            if not 0.0 <= value <= 1.0:
                raise ValueError(f"{name} must be a probability, got {value}")
        if not 0.0 <= self.accepted_timeout <= 1.0:
            raise ValueError("accepted_timeout must be a probability")
        if not 0.0 < self.partial_fill_min <= self.partial_fill_max < 1.0:
            raise ValueError("partial fill fractions must satisfy 0 < min <= max < 1")


@dataclass(frozen=True, slots=True)
class StaleMark:
    """The mark a client sees for ``symbol`` stays frozen from ``from_ms`` for ``duration_ms``."""

    symbol: str
    from_ms: int
    duration_ms: int

    def covers(self, symbol: str, t_ms: int) -> bool:
        return symbol == self.symbol and self.from_ms <= t_ms < self.from_ms + self.duration_ms


@dataclass(frozen=True, slots=True)
class FaultConfig:
    """Faults per method name (``*`` applies to methods not listed) and stale-mark windows."""

    seed: int = 0
    methods: Mapping[str, MethodFaults] = field(default_factory=dict)
    stale_marks: tuple[StaleMark, ...] = ()

    def for_method(self, method: str) -> MethodFaults | None:
        return self.methods.get(method, self.methods.get("*"))


@dataclass(frozen=True, slots=True)
class Decision:
    """What happens to one call."""

    latency_s: float
    error: ccxt.BaseError | None = None
    accepted_then_timeout: bool = False
    fill_fraction: float = 1.0


_NO_FAULT = Decision(0.0)


class FaultInjector:
    """Draws a :class:`Decision` per call, reproducibly from the seed."""

    def __init__(self, config: FaultConfig, account: str) -> None:
        self.config = config
        self.account = account
        self._streams: dict[str, random.Random] = {}

    def _stream(self, method: str) -> random.Random:
        rng = self._streams.get(method)
        if rng is None:
            rng = random.Random(f"{self.config.seed}/{self.account}/{method}")
            self._streams[method] = rng
        return rng

    def decide(self, method: str, *, is_order: bool = False) -> Decision:
        """Draw this call's fate. Orders may also be rejected, partly filled, or lost in transit."""
        faults = self.config.for_method(method)
        if faults is None:
            return _NO_FAULT
        rng = self._stream(method)
        u = [rng.random() for _ in range(7)]
        z = rng.gauss(0.0, 1.0)
        latency_s = max(0.0, faults.latency.draw(u[0], z)) / 1000.0
        label = f"paper fault ({method})"
        if u[1] < faults.unavailable:
            return Decision(latency_s, ccxt.ExchangeNotAvailable(f"{label}: exchange unavailable"))
        if u[2] < faults.rate_limit:
            return Decision(latency_s, ccxt.RateLimitExceeded(f"{label}: rate limit exceeded"))
        if u[3] < faults.timeout:
            return Decision(latency_s, ccxt.RequestTimeout(f"{label}: request timed out"))
        if not is_order:
            return Decision(latency_s)
        if u[4] < faults.reject:
            return Decision(latency_s, ccxt.InvalidOrder(f"{label}: order rejected by the venue"))
        fraction = 1.0
        if u[5] < faults.partial_fill:
            fraction = faults.partial_fill_min + (
                faults.partial_fill_max - faults.partial_fill_min
            ) * (u[5] / faults.partial_fill)
        return Decision(
            latency_s, accepted_then_timeout=u[6] < faults.accepted_timeout, fill_fraction=fraction
        )

    def stale_window(self, symbol: str, t_ms: int) -> StaleMark | None:
        for window in self.config.stale_marks:
            if window.covers(symbol, t_ms):
                return window
        return None

    def state(self) -> dict[str, object]:
        """The random streams' states, to save with the venue."""
        return {
            method: list(map(_jsonable, rng.getstate())) for method, rng in self._streams.items()
        }

    def restore(self, saved: Mapping[str, object]) -> None:
        for method, state in saved.items():
            rng = random.Random()
            if not isinstance(state, list) or len(state) != 3:
                raise ValueError(f"fault stream {method!r}: damaged state")
            rng.setstate((state[0], tuple(state[1]), state[2]))
            self._streams[method] = rng


def _jsonable(value: object) -> object:
    return list(value) if isinstance(value, tuple) else value
