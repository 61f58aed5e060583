"""What a replay found: per run (the guard, each baseline), per position, and the totals.

Money figures are in the settlement currency. A position's ``final_equity`` is what is left of
the margin put into it: its initial margin plus everything it made or lost (realised and
unrealised PnL, trading and liquidation fees, funding), with any loss past its collateral
counted in ``shortfall`` instead (the venue's insurance fund paid it; on a real exchange it can
be a debt). Summed with the balance no position used, the positions' final equities give the
account's final equity.

``min_distance_pct`` is the smallest distance from the mark to the liquidation price seen at any
poll while the position was open (0 when it was liquidated). The ``series`` are what the report
plots; they are not in the JSON.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from riskguard.clock import iso8601


@dataclass(frozen=True, slots=True)
class Action:
    """One thing the guard (or the baseline's bot) did to a position."""

    time_ms: int
    kind: str
    """``reduce``, ``close``, ``place_stop``, ``move_stop``, ``stop_filled``, ``add_margin``,
    ``set_leverage``, ``cancel_stop``, or ``failed``."""
    detail: str
    contracts: float | None = None
    price: float | None = None
    rule: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "time": iso8601(self.time_ms),
            "time_ms": self.time_ms,
            "kind": self.kind,
            "rule": self.rule,
            "contracts": self.contracts,
            "price": self.price,
            "detail": self.detail,
        }


@dataclass(frozen=True, slots=True)
class PositionResult:
    """One position at the end of one run."""

    account: str
    symbol: str
    side: str
    margin_mode: str
    leverage: float
    initial_margin: float
    liquidated: bool
    shortfall: float
    final_equity: float
    min_distance_pct: float | None
    fees: float
    funding: float
    final_size: float
    actions: tuple[Action, ...] = ()

    @property
    def key(self) -> tuple[str, str, str]:
        return (self.account, self.symbol, self.side)

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "margin_mode": self.margin_mode,
            "leverage": self.leverage,
            "initial_margin": _money(self.initial_margin),
            "liquidated": self.liquidated,
            "shortfall": _money(self.shortfall),
            "final_equity": _money(self.final_equity),
            "min_distance_pct": _pct(self.min_distance_pct),
            "fees": _money(self.fees),
            "funding": _money(self.funding),
            "final_size": self.final_size,
            "actions": [a.to_json() for a in self.actions],
        }


@dataclass(frozen=True, slots=True)
class Totals:
    """A run's sums over its accounts."""

    liquidations: int
    shortfall: float
    final_equity: float
    fees: float
    funding: float
    start_equity: float

    def to_json(self) -> dict[str, Any]:
        return {
            "liquidations": self.liquidations,
            "shortfall": _money(self.shortfall),
            "final_equity": _money(self.final_equity),
            "fees": _money(self.fees),
            "funding": _money(self.funding),
            "start_equity": _money(self.start_equity),
        }


@dataclass(slots=True)
class PositionSeries:
    """One position's path in one run, sampled at the polls (NaN where it does not apply)."""

    mark: list[float] = field(default_factory=list)
    liquidation: list[float] = field(default_factory=list)
    stop: list[float] = field(default_factory=list)
    size: list[float] = field(default_factory=list)


@dataclass(slots=True)
class RunSeries:
    """A run's samples: times, each account's equity, each position's path."""

    times_ms: list[int] = field(default_factory=list)
    equity: dict[str, list[float]] = field(default_factory=dict)
    positions: dict[tuple[str, str, str], PositionSeries] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: ``guard``, ``none`` or ``static-stop``."""

    name: str
    positions: tuple[PositionResult, ...]
    totals: Totals
    cycles: int
    alerts: int
    wall_s: float
    series: RunSeries = field(default_factory=RunSeries, compare=False, repr=False)

    def position(self, key: tuple[str, str, str]) -> PositionResult | None:
        return next((p for p in self.positions if p.key == key), None)

    def to_json(self) -> dict[str, Any]:
        return {
            "positions": [p.to_json() for p in self.positions],
            "totals": self.totals.to_json(),
            "cycles": self.cycles,
            "alerts": self.alerts,
        }


@dataclass(frozen=True, slots=True)
class ReplayResult:
    """The guard's run and the baselines', with what the replay was asked."""

    runs: Mapping[str, RunResult]
    inputs: Mapping[str, Any]
    wall_s: float

    @property
    def guard(self) -> RunResult:
        return self.runs["guard"]

    def saved(self) -> dict[str, dict[str, Any]]:
        """What the guard saved against each baseline (positive: the guard did better)."""
        guard = self.runs.get("guard")
        if guard is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name, run in self.runs.items():
            if name == "guard":
                continue
            g, b = guard.totals, run.totals
            out[name] = {
                "final_equity": _money(g.final_equity - b.final_equity),
                "shortfall": _money(b.shortfall - g.shortfall),
                "liquidations": b.liquidations - g.liquidations,
                "fees": _money(b.fees - g.fees),
            }
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": dict(self.inputs),
            "runs": {name: run.to_json() for name, run in self.runs.items()},
            "saved": self.saved(),
            "wall_s": round(self.wall_s, 3),
        }


def _money(value: float) -> float:
    return round(value, 6) if math.isfinite(value) else value


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
