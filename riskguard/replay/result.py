"""What a replay found: per run (the guard, each baseline), per account, per position, and totals.

Money figures are in the settlement currency. A position's ``final_equity`` is what is left of
what the user put into it, its initial margin and the fee it paid to open (``opening_fee``),
after everything it made or lost since (realised and unrealised PnL, trading and liquidation
fees, funding), with any loss past its collateral counted in ``shortfall`` instead (the venue's
insurance fund paid it; on a real exchange it can be a debt). A position liquidated exactly at
its bankruptcy price so ends at zero, not at minus its opening fee. Summed with the balance no
position used, the positions' final equities give the account's final equity.

Going below zero is what the user loses past what they put in, so it is measured apart from the
liquidation and shortfall counters (a stop that fills far past bankruptcy liquidates nothing):

- A position's equity at a moment is the same accounting as its ``final_equity`` so far: its
  initial margin and opening fee plus realised PnL, unrealised PnL at the mark, minus fees
  (trading, the opening fee included, and liquidation) and funding paid. An account's equity is
  its wallet plus its isolated margins plus the unrealised PnL of its positions at the marks.
- ``min_equity`` is the lowest of these at any moment of the run: after every price tick of the
  paper venue (once its stops, limit fills, funding and liquidations have played), at every
  poll (after the guard's or the bot's orders filled) and at the end. A fill past bankruptcy is
  charged at the fill: a stop or a reduction as it books its loss, a liquidation before the
  insurance fund pays its shortfall (the position's and its account's equity at that moment are
  the ones after the close minus that shortfall), so every liquidation with a shortfall takes
  its position below zero.
- ``negative``: ``min_equity`` below zero (by more than :data:`NEGATIVE_TOLERANCE`, float noise).
  A run's totals count its negative positions and negative accounts.

``min_distance_pct`` is the smallest distance from the mark to the liquidation price seen at any
poll while the position was open (0 when it was liquidated). The ``series`` are what the report
plots; they are not in the JSON.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from riskguard.clock import iso8601

NEGATIVE_TOLERANCE = 1e-6
"""Equity counts as below zero when it is below minus this (a millionth of the settlement
currency): a position closed exactly at its bankruptcy price ends at zero give or take float
noise."""


def went_negative(min_equity: float) -> bool:
    """Whether a lowest equity is below zero (beyond :data:`NEGATIVE_TOLERANCE`)."""
    return min_equity < -NEGATIVE_TOLERANCE


def negative_words(min_equity: float | None) -> str:
    """``no``, or ``yes (min -3,779.12)``: how the table and the report say it."""
    if min_equity is None or not went_negative(min_equity):
        return "no"
    return f"yes (min {min_equity:,.2f})"


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
    min_equity: float
    """The lowest equity of the position at any tick, poll or fill of the run."""
    negative: bool
    """``min_equity`` went below zero."""
    min_distance_pct: float | None
    fees: float
    funding: float
    final_size: float
    actions: tuple[Action, ...] = ()
    opening_fee: float = 0.0
    """The trading fee paid to open the position: with ``initial_margin``, what the user put in."""

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
            "opening_fee": _money(self.opening_fee),
            "liquidated": self.liquidated,
            "shortfall": _money(self.shortfall),
            "final_equity": _money(self.final_equity),
            "min_equity": _money(self.min_equity),
            "negative": self.negative,
            "min_distance_pct": _pct(self.min_distance_pct),
            "fees": _money(self.fees),
            "funding": _money(self.funding),
            "final_size": self.final_size,
            "actions": [a.to_json() for a in self.actions],
        }


@dataclass(frozen=True, slots=True)
class AccountResult:
    """One account at the end of one run, and the lowest its equity went."""

    account: str
    start_equity: float
    final_equity: float
    min_equity: float
    """The lowest equity of the account (wallet, isolated margins, unrealised PnL) at any tick,
    poll or fill of the run."""
    negative: bool
    """``min_equity`` went below zero."""

    def to_json(self) -> dict[str, Any]:
        return {
            "account": self.account,
            "start_equity": _money(self.start_equity),
            "final_equity": _money(self.final_equity),
            "min_equity": _money(self.min_equity),
            "negative": self.negative,
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
    negative_positions: int
    """How many positions went below zero at some moment."""
    negative_accounts: int
    """How many accounts went below zero at some moment."""

    def to_json(self) -> dict[str, Any]:
        return {
            "liquidations": self.liquidations,
            "shortfall": _money(self.shortfall),
            "final_equity": _money(self.final_equity),
            "fees": _money(self.fees),
            "funding": _money(self.funding),
            "start_equity": _money(self.start_equity),
            "negative_positions": self.negative_positions,
            "negative_accounts": self.negative_accounts,
        }


def floats() -> array[float]:
    """An empty series of floats: a typed array, 8 bytes a sample (a list of floats takes 32)."""
    return array("d")


def _times() -> array[int]:
    return array("q")


@dataclass(slots=True)
class PositionSeries:
    """One position's path in one run, sampled at the polls (NaN where it does not apply).

    The series are typed arrays: a 4-day replay keeps some 23,000 samples per run."""

    mark: array[float] = field(default_factory=floats)
    liquidation: array[float] = field(default_factory=floats)
    stop: array[float] = field(default_factory=floats)
    size: array[float] = field(default_factory=floats)


@dataclass(slots=True)
class RunSeries:
    """A run's samples: times (epoch ms), each account's equity, each position's path."""

    times_ms: array[int] = field(default_factory=_times)
    equity: dict[str, array[float]] = field(default_factory=dict)
    positions: dict[tuple[str, str, str], PositionSeries] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class RunResult:
    """One run: ``guard``, ``none`` or ``static-stop``."""

    name: str
    positions: tuple[PositionResult, ...]
    accounts: tuple[AccountResult, ...]
    totals: Totals
    cycles: int
    alerts: int
    wall_s: float
    series: RunSeries = field(default_factory=RunSeries, compare=False, repr=False)

    def position(self, key: tuple[str, str, str]) -> PositionResult | None:
        return next((p for p in self.positions if p.key == key), None)

    @property
    def negative(self) -> bool:
        """Some account or position of the run went below zero."""
        return any(a.negative for a in self.accounts) or any(p.negative for p in self.positions)

    @property
    def min_equity(self) -> float | None:
        """The lowest equity any account of the run had (``None`` without accounts)."""
        return min((a.min_equity for a in self.accounts), default=None)

    def negative_words(self) -> str:
        """The run in words: ``no``, ``yes (min -3,779.12)`` when an account went below zero
        (its lowest equity), or ``no (1 position below zero, min -1,234.56)`` when only
        positions did (the account's free balance absorbed it)."""
        if any(a.negative for a in self.accounts):
            return negative_words(self.min_equity)
        below = [p.min_equity for p in self.positions if p.negative]
        if not below:
            return "no"
        n = len(below)
        return f"no ({n} position{'s' if n > 1 else ''} below zero, min {min(below):,.2f})"

    def to_json(self) -> dict[str, Any]:
        return {
            "positions": [p.to_json() for p in self.positions],
            "accounts": [a.to_json() for a in self.accounts],
            "totals": self.totals.to_json(),
            "min_equity": None if self.min_equity is None else _money(self.min_equity),
            "negative": self.negative,
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
                "negative_positions": b.negative_positions - g.negative_positions,
                "negative_accounts": b.negative_accounts - g.negative_accounts,
            }
        return out

    def cost(self) -> dict[str, dict[str, Any]]:
        """What the guard gave up against each baseline: on the positions where the baseline
        ended with more equity than the guard (holding through a rally the guard cut, or a stop
        that never fired), the sum of the differences and how many positions they are."""
        guard = self.runs.get("guard")
        if guard is None:
            return {}
        out: dict[str, dict[str, Any]] = {}
        for name, run in self.runs.items():
            if name == "guard":
                continue
            gave_up = 0.0
            positions = 0
            for g in guard.positions:
                b = run.position(g.key)
                if b is not None and b.final_equity > g.final_equity:
                    gave_up += b.final_equity - g.final_equity
                    positions += 1
            out[name] = {"gave_up": _money(gave_up), "positions": positions}
        return out

    def to_json(self) -> dict[str, Any]:
        return {
            "inputs": dict(self.inputs),
            "runs": {name: run.to_json() for name, run in self.runs.items()},
            "saved": self.saved(),
            "cost": self.cost(),
            "wall_s": round(self.wall_s, 3),
        }


def _money(value: float) -> float:
    return round(value, 6) if math.isfinite(value) else value


def _pct(value: float | None) -> float | None:
    return None if value is None else round(value, 6)
