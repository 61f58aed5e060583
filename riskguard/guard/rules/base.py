"""The vocabulary every rule shares: levels, findings, actions, the rule input and the protocol.

A rule is pure. It receives a :class:`RuleInput` (the account snapshot, the risk core's evaluation
of it, the time, the reaction horizon, the protective orders already on the exchange) and its own
memory from the previous cycle, and returns a :class:`RuleResult`: findings (what it measured and
which level that is), proposed actions (what should be done, with the numbers that justify it),
and its memory for the next cycle. Nothing here sends anything: the planner merges proposals and
the executor acts.
"""

from __future__ import annotations

import fnmatch
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import IntEnum, StrEnum
from functools import lru_cache
from operator import itemgetter
from typing import Protocol

from riskguard.domain import AccountSnapshot, OpenStop, Side
from riskguard.risk.evaluation import AccountEvaluation
from riskguard.risk.tails import StressMove

FigureValue = float | int | str | None
Figures = tuple[tuple[str, FigureValue], ...]


class Level(IntEnum):
    """How serious a finding is; ordered, so ``max`` gives the worst."""

    OK = 0
    WARN = 1
    ACT = 2
    CRITICAL = 3


class ActionKind(StrEnum):
    """What a rule may ask for. Every kind reduces risk; none can add exposure."""

    REDUCE = "reduce"  # reduce-only market order down to ``target_size``
    CLOSE = "close"  # reduce-only market order for the whole position
    ADD_MARGIN = "add_margin"  # move ``margin`` from free balance into an isolated position
    SET_LEVERAGE = "set_leverage"  # lower the exchange leverage setting to ``leverage``
    PLACE_STOP = "place_stop"  # keep a reduce-only stop-market on the mark at ``stop_price``
    ALERT = "alert"  # nothing to send: people must know


@dataclass(frozen=True, slots=True)
class Finding:
    """What a rule measured, against which threshold, and the level that makes it."""

    rule: str
    rule_type: str
    level: Level
    account: str
    symbol: str | None
    side: Side | None
    metric: str
    measured: float | None
    threshold: float | None
    message: str
    figures: Figures = ()


@dataclass(frozen=True, slots=True)
class Action:
    """A proposed protective action and the numbers that justify it (sizes in base units)."""

    kind: ActionKind
    account: str
    symbol: str | None
    side: Side | None
    rule: str
    level: Level
    reason: str
    size_before: float | None = None
    target_size: float | None = None
    margin: float | None = None
    leverage: float | None = None
    stop_price: float | None = None
    figures: Figures = ()


@dataclass(frozen=True, slots=True)
class RuleInput:
    """Everything a rule may read for one account in one cycle.

    ``horizon_s`` is the reaction horizon (poll interval plus measured fetch and order latency).
    ``data_age_s`` is how old the snapshot is and ``consistent`` whether it passed the checks;
    rules other than ``stale_data`` never see stale or inconsistent data (the engine stops them).
    ``sigma_per_sqrt_s`` maps symbols to the mark's volatility.
    """

    snapshot: AccountSnapshot
    evaluation: AccountEvaluation
    now: datetime
    horizon_s: float
    free_balance: float
    sigma_per_sqrt_s: Mapping[str, float] = field(default_factory=dict)
    open_stops: tuple[OpenStop, ...] = ()
    data_age_s: float = 0.0
    consistent: bool = True
    stress_moves: Mapping[str, StressMove] = field(default_factory=dict)
    """The move each symbol is stressed with (learned tail or configured gaps) and its source."""
    max_stop_sizes: Mapping[str, float] = field(default_factory=dict)
    """The largest stop-market one order can be per symbol, in base units (the venue's largest
    market order), where the venue has a limit."""


Memory = Mapping[str, FigureValue]


@dataclass(frozen=True, slots=True)
class RuleResult:
    """A rule's output for one account and cycle."""

    findings: tuple[Finding, ...] = ()
    actions: tuple[Action, ...] = ()
    memory: Memory = field(default_factory=dict)


class Rule(Protocol):
    """A configured rule."""

    @property
    def name(self) -> str: ...

    @property
    def rule_type(self) -> str: ...

    def applies_to(self, account: str, symbol: str | None) -> bool: ...

    def evaluate(self, data: RuleInput, memory: Memory) -> RuleResult: ...


@dataclass(frozen=True, slots=True)
class Scope:
    """Which accounts and symbols a rule covers: shell-style patterns (``*``, ``BTC/*``)."""

    accounts: tuple[str, ...] = ("*",)
    symbols: tuple[str, ...] = ("*",)

    def covers(self, account: str, symbol: str | None = None) -> bool:
        if not _matches(account, self.accounts):
            return False
        return symbol is None or _matches(symbol, self.symbols)


@lru_cache(maxsize=65536)
def _matches(name: str, patterns: tuple[str, ...]) -> bool:
    """Whether ``name`` matches any pattern (cached: rules ask for every position every cycle)."""
    return "*" in patterns or any(fnmatch.fnmatchcase(name, p) for p in patterns)


_LEVEL_OF_PAIR = itemgetter(0)
_LEVELS: dict[int, Level] = {int(lvl): lvl for lvl in Level}


def level_of(value: int) -> Level:
    """``Level(value)``, looked up without the enum's call (rules read a level back from their
    memory for every position every cycle); a value that is no level raises as ``Level`` does."""
    found = _LEVELS.get(value)
    return found if found is not None else Level(value)


def classify(
    value: float | None,
    thresholds: Sequence[tuple[Level, float | None]],
    previous: Level,
    *,
    worse_when_lower: bool,
    hysteresis: float,
) -> Level:
    """The level for ``value`` given ``(level, threshold)`` pairs, with hysteresis.

    A level is entered when the value reaches its threshold, and left only once the value is
    back beyond the threshold by ``hysteresis`` (a fraction of the threshold), so a value hovering
    at a threshold does not flap between levels every cycle. ``None`` values are ``OK``.
    """
    if value is None:
        return Level.OK
    level = Level.OK
    for lvl, threshold in sorted(thresholds, key=_LEVEL_OF_PAIR):
        if threshold is None:
            continue
        margin = abs(threshold) * hysteresis if lvl <= previous else 0.0
        reached = value <= threshold + margin if worse_when_lower else value >= threshold - margin
        if reached:
            level = max(level, lvl)
    return level


def figures(**values: FigureValue) -> Figures:
    """Named figures for a finding or action, in the order given."""
    return tuple(values.items())
