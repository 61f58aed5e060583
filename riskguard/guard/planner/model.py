"""The planner's values: its settings and the plan it returns (steps, alerts, dropped proposals)."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Literal, NamedTuple

from riskguard.domain import Side, clean_float, require_finite_non_negative, require_finite_positive
from riskguard.guard.rules.base import Action, ActionKind, Figures, Finding, Level

OrderSide = Literal["buy", "sell"]

PLANNER = "planner"
"""The ``source`` of the alerts the planner raises itself."""


@dataclass(frozen=True, slots=True)
class PlannerConfig:
    """The planner's settings.

    ``cooldown_s``: after the guard reduced, closed or added margin to a position, further
    non-critical proposals of those kinds for it wait this long. ``fight_window_s`` and
    ``fight_threshold``: raise a critical "bot is fighting the guard" alert when the guard had to
    reduce a re-opened position this many times within the window. ``max_order_notional``: split
    a reduction into orders of at most this value at the mark (quote currency); ``None`` sends
    one order.
    """

    cooldown_s: float = 60.0
    fight_window_s: float = 900.0
    fight_threshold: int = 3
    max_order_notional: float | None = None

    def __post_init__(self) -> None:
        require_finite_non_negative("cooldown_s", self.cooldown_s)
        require_finite_non_negative("fight_window_s", self.fight_window_s)
        if self.fight_threshold < 1:
            raise ValueError(f"fight_threshold must be >= 1, got {self.fight_threshold}")
        if self.max_order_notional is not None:
            require_finite_positive("max_order_notional", self.max_order_notional)


def position_key(account: str, symbol: str, side: Side) -> str:
    """The key the planner remembers a position by: ``account|symbol|side``."""
    return f"{account}|{symbol}|{side.value}"


@dataclass(frozen=True, slots=True)
class Alert:
    """Something people must know: a rule's ``ALERT`` proposal or the planner's own finding.

    ``source`` is the rule's name, or ``"planner"``.
    """

    level: Level
    account: str
    symbol: str | None
    side: Side | None
    source: str
    message: str
    figures: Figures = ()


class Dropped(NamedTuple):
    """A proposal the plan does not carry out, and why."""

    action: Action
    reason: str


@dataclass(frozen=True, slots=True)
class PlannedStep:
    """One thing to do to one position, with the numbers behind it.

    ``kind`` is what to send; it differs from ``action.kind`` when a REDUCE was sized into a CLOSE.
    ``amounts`` are order amounts in contracts: the split orders of a REDUCE/CLOSE, the stop's
    amount for a PLACE_STOP (the size the position has after this plan's reduction), empty
    otherwise. ``size_before``/``size_after`` are in base units. ``rules`` names the winning
    proposal's rule first, then the other rules whose proposals this step also satisfies (those
    are in :attr:`Plan.dropped` as less protective). ``notes`` say how the planner sized it.
    """

    kind: ActionKind
    action: Action
    level: Level
    rules: tuple[str, ...]
    account: str
    symbol: str
    side: Side
    order_side: OrderSide | None
    reduce_only: bool
    amounts: tuple[float, ...]
    size_before: float
    size_after: float
    mark_price: float
    notional: float
    margin: float | None = None
    leverage: float | None = None
    stop_price: float | None = None
    notes: tuple[str, ...] = ()
    figures: Figures = ()

    @property
    def key(self) -> str:
        """The position's :func:`position_key`."""
        return position_key(self.account, self.symbol, self.side)

    @property
    def contracts(self) -> float:
        """All order amounts together, in contracts."""
        return clean_float(math.fsum(self.amounts))


@dataclass(frozen=True, slots=True)
class Plan:
    """What the executor should do for one account this cycle, and what it should not, and why."""

    steps: tuple[PlannedStep, ...] = ()
    alerts: tuple[Alert, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    findings: tuple[Finding, ...] = ()
