"""The planner: the rules' proposals for one account → one :class:`Plan` of orders to send.

Pure: values in (the rules' results, the snapshot they read, the markets' order rules, the
planner's memory, ``now``), values out (the plan and the memory for the next cycle).

How a plan is made, per position ``(account, symbol, side)``:

1. **Alerts** (``ALERT`` proposals) always pass through to :attr:`Plan.alerts`.
2. **Validate.** A proposal is dropped, with the reason, when a number is negative, NaN or
   infinite, or a required one is missing; when its position is not in the snapshot; when it would
   not reduce exposure (a ``REDUCE`` whose target is at or above the current size); when a
   ``SET_LEVERAGE`` would not lower the position's leverage (or the current leverage is unknown, so
   lowering cannot be verified); when an ``ADD_MARGIN`` is for a cross position; when a
   ``PLACE_STOP`` is on the wrong side of the mark (it would trigger at once).
3. **Cooldown.** ``REDUCE``, ``CLOSE`` and ``ADD_MARGIN`` move size or money; after the guard
   planned one of them for a position, further non-``CRITICAL`` proposals of these kinds for it are
   dropped for ``cooldown_s``, so a bot re-opening does not make the guard thrash. ``CRITICAL``
   proposals always pass. ``SET_LEVERAGE`` and ``PLACE_STOP`` are idempotent standing settings
   that only protect (the stop is the backstop between cycles and must follow the size), so they
   neither start a cooldown nor wait for one.
4. **Merge** (the most protective wins; the losers are dropped as less protective):
   ``CLOSE`` beats any ``REDUCE``; among ``REDUCE`` the smallest ``target_size`` wins. The winner
   is sized to the market (below), which can turn it into a ``CLOSE``. If the position is being
   closed, its ``ADD_MARGIN`` and ``PLACE_STOP`` proposals are dropped (nothing left to protect).
   Otherwise the largest ``ADD_MARGIN`` is kept, and the stop closest to the mark. An
   ``ADD_MARGIN`` from a rule that also proposed reducing the position is that rule's pair (it
   puts back the margin the reduction releases, so its amount was not capped by free balance): it
   is kept only when a reduction is planned (another rule's winning REDUCE is the smaller target,
   so it releases at least as much), and dropped when none is (its REDUCE was invalid or in
   cooldown). The lowest ``SET_LEVERAGE`` is kept, also when the position is closed: the setting
   stays on the symbol and governs what the bot opens next.
5. **Order** the steps: positions by their most severe step (``CRITICAL`` first), then by
   notional (largest first), then by account, symbol and side; within a position: the reduction
   first (it frees margin), then leverage, then margin, then the stop. Steps, alerts and the new
   state do not depend on the order in which the proposals arrive; dropped proposals are sorted
   by position, kind, rule and reason (proposals equal in all of these keep their arrival order).

Sizing a reduction (all order amounts are in contracts of the market, ``MarketRules``):

* The amount **sold** is rounded **up** to the amount step, so the size kept is at or below the
  rule's target (at least as protective), and never above the position.
* An amount below the market's minimum order (``min_amount``, and ``min_notional`` at the mark) is
  raised to the minimum when the position allows it.
* If the amount reaches the whole position, or what would be left is below the minimum (a dust
  remainder cannot be reduced by an ordinary order later, so it is not protection), the whole
  position is closed. A full close is sent as it is, even below the minimum: it is reduce-only and
  the only way out of a dust position.
* With ``max_order_notional``, a reduction is split into near-equal parts, each a whole number of
  steps and at most the cap at the mark; the parts add up to the reduction. When the cap is so
  close to the minimum order that an even split would leave a part below the minimum, fewer,
  larger parts are made: the minimum is the exchange's rule, the cap is ours.
* Notional is in the quote currency: ``contracts x contract_size x mark`` for linear contracts and
  ``contracts x contract_size`` (the contract's face value) for inverse ones.

Every REDUCE/CLOSE step is a reduce-only market order in the closing direction (a long sells, a
short buys), recorded in :attr:`PlannedStep.order_side` and :attr:`PlannedStep.reduce_only`.

**Bot fighting the guard.** A reduction that finds the position larger than the guard's previous
reduction left it means something re-opened it. When that has happened ``fight_threshold`` times
within ``fight_window_s``, the plan carries a ``CRITICAL`` alert with the count and the window
(again at every further such reduction inside the window). Progressive reductions of a position
that never grows back (a crash) do not count. The planner sees planned reductions, not fills: a
reduction that did not fill (dry run, rejection) also leaves the position above what the guard
left and counts; the alert's figures show the sizes so an operator can tell.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, Literal, NamedTuple

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import (
    Action,
    ActionKind,
    Figures,
    FigureValue,
    Finding,
    Level,
    RuleResult,
)

OrderSide = Literal["buy", "sell"]

PLANNER = "planner"
"""The ``source`` of the alerts the planner raises itself."""

_STEP_TOLERANCE = 1e-9  # in amount steps: float noise when rounding to a step
_DECIMALS = 12  # amounts and prices are rounded to this many decimals to shed float noise
_EXPOSURE = frozenset({ActionKind.REDUCE, ActionKind.CLOSE})
_COOLDOWN_KINDS = frozenset({ActionKind.REDUCE, ActionKind.CLOSE, ActionKind.ADD_MARGIN})
_KIND_RANK = {
    ActionKind.CLOSE: 0,
    ActionKind.REDUCE: 0,
    ActionKind.SET_LEVERAGE: 1,
    ActionKind.ADD_MARGIN: 2,
    ActionKind.PLACE_STOP: 3,
}


def _finite_non_negative(name: str, value: float) -> None:
    if not (math.isfinite(value) and value >= 0):
        raise ValueError(f"{name} must be a finite number >= 0, got {value}")


def _finite_positive(name: str, value: float) -> None:
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"{name} must be a finite number > 0, got {value}")


@dataclass(frozen=True, slots=True)
class MarketRules:
    """How orders on one market must be sized and priced (amounts in contracts).

    ``contract_size`` is base units per contract (the quote face value for inverse contracts);
    ``amount_step`` the order amount increment and ``min_amount`` the smallest order, both in
    contracts; ``price_tick`` the price increment; ``min_notional`` the smallest order value in the
    quote currency, if the venue has one.
    """

    symbol: str
    contract_size: float = 1.0
    amount_step: float = 1.0
    min_amount: float = 0.0
    price_tick: float = 0.01
    min_notional: float | None = None

    def __post_init__(self) -> None:
        for name in ("contract_size", "amount_step", "price_tick"):
            _finite_positive(f"{self.symbol}: {name}", getattr(self, name))
        _finite_non_negative(f"{self.symbol}: min_amount", self.min_amount)
        if self.min_notional is not None:
            _finite_non_negative(f"{self.symbol}: min_notional", self.min_notional)

    def to_contracts(self, size: float) -> float:
        """A size in base units, in contracts (not rounded)."""
        return size / self.contract_size

    def to_size(self, contracts: float) -> float:
        """Contracts in base units."""
        return _clean(contracts * self.contract_size)

    def amount_up(self, contracts: float) -> float:
        """Contracts rounded **up** to the amount step: the rounding for an amount to sell."""
        steps = math.ceil(contracts / self.amount_step - _STEP_TOLERANCE)
        return _clean(max(0, steps) * self.amount_step)

    def amount_down(self, contracts: float) -> float:
        """Contracts rounded **down** to the amount step: the rounding for a size to keep."""
        steps = math.floor(contracts / self.amount_step + _STEP_TOLERANCE)
        return _clean(max(0, steps) * self.amount_step)

    def contract_value(self, mark: float, *, inverse: bool = False) -> float:
        """The quote-currency value of one contract at ``mark``."""
        return self.contract_size if inverse else self.contract_size * mark

    def min_order(self, mark: float, *, inverse: bool = False) -> float:
        """The smallest valid order in contracts at ``mark``: the minimum amount, the minimum
        notional and one step, whichever is largest, as a whole number of steps."""
        smallest = max(self.min_amount, self.amount_step)
        if self.min_notional:
            smallest = max(smallest, self.min_notional / self.contract_value(mark, inverse=inverse))
        return self.amount_up(smallest)

    def stop_price(self, price: float, side: Side, mark: float) -> float | None:
        """A stop for a ``side`` position rounded to the tick toward the mark (more protective),
        or away from it when toward would reach the mark; ``None`` if on the wrong side."""
        ticks = price / self.price_tick
        up = math.ceil(ticks - _STEP_TOLERANCE)
        down = math.floor(ticks + _STEP_TOLERANCE)
        for candidate in (up, down) if side is Side.LONG else (down, up):
            rounded = _clean(candidate * self.price_tick)
            if rounded > 0 and side.sign * (mark - rounded) > 0:
                return rounded
        return None


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
        _finite_non_negative("cooldown_s", self.cooldown_s)
        _finite_non_negative("fight_window_s", self.fight_window_s)
        if self.fight_threshold < 1:
            raise ValueError(f"fight_threshold must be >= 1, got {self.fight_threshold}")
        if self.max_order_notional is not None:
            _finite_positive("max_order_notional", self.max_order_notional)


def position_key(account: str, symbol: str, side: Side) -> str:
    """The key the planner remembers a position by: ``account|symbol|side``."""
    return f"{account}|{symbol}|{side.value}"


@dataclass(frozen=True, slots=True)
class PositionMemory:
    """What the planner remembers about one position (times in Unix seconds, sizes base units).

    ``last_acted_s``: when the guard last planned a reduction, close or margin add (cooldown).
    ``left_size``: the size its last reduction left. ``reopened_s``: when it reduced a position
    that had grown back above ``left_size`` (fight detection), within the fight window.
    """

    last_acted_s: float | None = None
    left_size: float | None = None
    reopened_s: tuple[float, ...] = ()


@dataclass(frozen=True, slots=True)
class PlannerState:
    """The planner's memory between cycles, by :func:`position_key`. JSON via :meth:`to_dict`."""

    positions: Mapping[str, PositionMemory] = field(default_factory=dict)

    def __post_init__(self) -> None:
        object.__setattr__(self, "positions", MappingProxyType(dict(self.positions)))

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict (keys sorted, so equal states serialise identically)."""
        return {
            "positions": {
                key: {
                    "last_acted_s": m.last_acted_s,
                    "left_size": m.left_size,
                    "reopened_s": list(m.reopened_s),
                }
                for key, m in sorted(self.positions.items())
            }
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PlannerState:
        """The state :meth:`to_dict` produced."""
        return cls(
            {
                str(key): PositionMemory(
                    last_acted_s=_optional_float(m.get("last_acted_s")),
                    left_size=_optional_float(m.get("left_size")),
                    reopened_s=tuple(float(x) for x in m.get("reopened_s", ())),
                )
                for key, m in data.get("positions", {}).items()
            }
        )


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
        return _clean(math.fsum(self.amounts))


@dataclass(frozen=True, slots=True)
class Plan:
    """What the executor should do for one account this cycle, and what it should not, and why."""

    steps: tuple[PlannedStep, ...] = ()
    alerts: tuple[Alert, ...] = ()
    dropped: tuple[Dropped, ...] = ()
    findings: tuple[Finding, ...] = ()


@dataclass(frozen=True, slots=True)
class ReductionSizing:
    """A reduction sized to a market: ``kind`` REDUCE or CLOSE, ``contracts`` to sell (whole
    steps, except a full close of a position that is not), ``size_after`` in base units."""

    kind: ActionKind
    contracts: float
    size_after: float
    notes: tuple[str, ...] = ()


def size_reduction(position: Position, target_size: float, market: MarketRules) -> ReductionSizing:
    """Size a reduction of ``position`` to at most ``target_size`` (base units) on ``market``.

    Raises ``ValueError`` if ``target_size`` is not below the position's size (not a reduction).
    """
    if not target_size < position.size:
        raise ValueError(f"target {target_size} is not below the size {position.size}")
    held = market.to_contracts(position.size)
    mark = position.mark_price
    notes: list[str] = []
    if target_size <= 0:
        return ReductionSizing(ActionKind.CLOSE, _clean(held), 0.0, ("close the whole position",))
    raw = held - market.to_contracts(target_size)
    sell = market.amount_up(raw)
    if not math.isclose(sell, raw, rel_tol=1e-9, abs_tol=1e-12):
        notes.append(f"sell {_num(raw)} rounded up to the step {_num(market.amount_step)}")
    smallest = market.min_order(mark, inverse=position.inverse)
    if sell < smallest:
        sell = smallest
        notes.append(f"raised to the minimum order of {_num(smallest)} contracts")
    left = held - sell
    if left <= market.amount_step * 1e-6:
        notes.append("the amount reaches the whole position: close it")
        return ReductionSizing(ActionKind.CLOSE, _clean(held), 0.0, tuple(notes))
    if _is_dust(left, market, position):
        notes.append(f"{_num(left)} contracts left would be below the minimum: close it all")
        return ReductionSizing(ActionKind.CLOSE, _clean(held), 0.0, tuple(notes))
    return ReductionSizing(ActionKind.REDUCE, sell, market.to_size(left), tuple(notes))


def split_order(
    contracts: float,
    market: MarketRules,
    mark: float,
    max_notional: float | None,
    *,
    inverse: bool = False,
) -> tuple[float, ...]:
    """Split an order of ``contracts`` into near-equal parts of at most ``max_notional`` at
    ``mark``, each a whole number of steps (the last part takes any off-step remainder of a full
    close), adding up to ``contracts``. See the module docstring for a cap below the minimum."""
    if max_notional is None or contracts <= 0:
        return (_clean(contracts),)
    step = market.amount_step
    cap_steps = math.floor(
        max_notional / market.contract_value(mark, inverse=inverse) / step + _STEP_TOLERANCE
    )
    total_steps = math.floor(contracts / step + _STEP_TOLERANCE)
    min_steps = max(1, round(market.min_order(mark, inverse=inverse) / step))
    parts = math.ceil(total_steps / max(cap_steps, 1))
    if parts > 1 and total_steps // parts < min_steps:
        parts = max(1, total_steps // min_steps)
    if parts <= 1:
        return (_clean(contracts),)
    base, extra = divmod(total_steps, parts)
    amounts = [_clean((base + (1 if i < extra else 0)) * step) for i in range(parts - 1)]
    amounts.append(_clean(contracts - math.fsum(amounts)))
    return tuple(amounts)


def plan(
    results: Sequence[RuleResult],
    snapshot: AccountSnapshot,
    markets: Mapping[str, MarketRules],
    state: PlannerState,
    now: datetime,
    config: PlannerConfig,
) -> tuple[Plan, PlannerState]:
    """Merge the rules' proposals for ``snapshot``'s account into a plan; see the module doc."""
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    t = now.timestamp()
    account = snapshot.account
    positions: dict[str, Position] = {}
    for position in snapshot.positions:
        positions.setdefault(position_key(account, position.symbol, position.side), position)

    alerts: list[Alert] = []
    dropped: list[Dropped] = []
    proposals: dict[str, list[Action]] = {}
    reducers: dict[str, set[str]] = {}  # the rules that proposed a reduction, by position key
    for action in (a for result in results for a in result.actions):
        if action.kind in _EXPOSURE and action.symbol is not None and action.side is not None:
            key = position_key(action.account, action.symbol, action.side)
            reducers.setdefault(key, set()).add(action.rule)
        if action.kind is ActionKind.ALERT:
            alerts.append(_alert_from(action))
            continue
        key, reason = _screen(action, account, positions, state, t, config)
        if reason is not None:
            dropped.append(Dropped(action, reason))
        else:
            proposals.setdefault(key, []).append(action)

    memory = dict(state.positions)
    steps: list[PlannedStep] = []
    for key in sorted(proposals):
        position = positions[key]
        outcome = _plan_position(
            proposals[key],
            position,
            markets.get(position.symbol),
            memory.get(key),
            t,
            config,
            reducers.get(key, set()),
        )
        steps.extend(outcome.steps)
        dropped.extend(outcome.dropped)
        alerts.extend(outcome.alerts)
        if outcome.memory is not None:
            memory[key] = outcome.memory

    severity: dict[tuple[str, Side], Level] = {}
    for step in steps:
        where = (step.symbol, step.side)
        severity[where] = max(severity.get(where, Level.OK), step.level)
    steps.sort(
        key=lambda s: (
            -severity[s.symbol, s.side],
            -s.size_before * s.mark_price,
            s.symbol,
            s.side.value,
            _KIND_RANK[s.kind],
        )
    )
    new_plan = Plan(
        steps=tuple(steps),
        alerts=tuple(sorted(alerts, key=_alert_order)),
        dropped=tuple(sorted(dropped, key=_dropped_order)),
        findings=tuple(f for result in results for f in result.findings),
    )
    return new_plan, PlannerState(_prune(memory, t, config))


# --- screening ---------------------------------------------------------------------------


def _screen(
    action: Action,
    account: str,
    positions: Mapping[str, Position],
    state: PlannerState,
    t: float,
    config: PlannerConfig,
) -> tuple[str, str | None]:
    """The position key of ``action`` and why it is dropped before merging (``None``: kept)."""
    bad = _bad_number(action)
    if bad is not None:
        return "", bad
    if action.symbol is None or action.side is None or action.account != account:
        return "", "no such position"
    key = position_key(action.account, action.symbol, action.side)
    position = positions.get(key)
    if position is None:
        return key, "no such position"
    reason = _against_position(action, position)
    if reason is not None:
        return key, reason
    if action.kind in _COOLDOWN_KINDS and action.level < Level.CRITICAL:
        last = state.positions.get(key, PositionMemory()).last_acted_s
        if last is not None and t - last < config.cooldown_s:
            return key, (
                f"cooldown: the guard acted {_num(t - last)} s ago "
                f"(cooldown {_num(config.cooldown_s)} s, level below critical)"
            )
    return key, None


def _bad_number(action: Action) -> str | None:
    for name in ("size_before", "target_size", "margin", "leverage", "stop_price"):
        value = getattr(action, name)
        if value is not None and not (math.isfinite(value) and value >= 0):
            return f"invalid number: {name}={value}"
    required = {
        ActionKind.REDUCE: "target_size",
        ActionKind.ADD_MARGIN: "margin",
        ActionKind.SET_LEVERAGE: "leverage",
        ActionKind.PLACE_STOP: "stop_price",
    }.get(action.kind)
    if required is not None:
        value = getattr(action, required)
        if value is None:
            return f"invalid number: {required} is missing"
        if required != "target_size" and value <= 0:
            return f"invalid number: {required}={value} must be positive"
    return None


def _given(value: float | None) -> float:
    """A number :func:`_bad_number` has already checked is there."""
    if value is None:  # pragma: no cover - screened out before
        raise ValueError("a required number is missing")
    return value


def _against_position(action: Action, position: Position) -> str | None:
    if action.kind is ActionKind.REDUCE:
        if _given(action.target_size) >= position.size:
            return (
                f"would add exposure: target {_num(action.target_size)} "
                f">= size {_num(position.size)}"
            )
    elif action.kind is ActionKind.SET_LEVERAGE:
        if position.leverage is None:
            return "would not lower: the current leverage is unknown"
        if _given(action.leverage) >= position.leverage:
            return (
                f"would not lower: leverage {_num(action.leverage)} "
                f">= current {_num(position.leverage)}"
            )
    elif action.kind is ActionKind.ADD_MARGIN:
        if position.margin_mode is not MarginMode.ISOLATED:
            return "add margin applies to isolated positions only"
    elif action.kind is ActionKind.PLACE_STOP:
        beyond_mark = position.side.sign * (position.mark_price - _given(action.stop_price)) <= 0
        if beyond_mark:
            return (
                f"stop {_num(action.stop_price)} would trigger at once "
                f"(mark {_num(position.mark_price)})"
            )
    return None


# --- merging one position ----------------------------------------------------------------


@dataclass(slots=True)
class _Outcome:
    steps: list[PlannedStep] = field(default_factory=list)
    dropped: list[Dropped] = field(default_factory=list)
    alerts: list[Alert] = field(default_factory=list)
    memory: PositionMemory | None = None


def _plan_position(
    actions: list[Action],
    position: Position,
    market: MarketRules | None,
    memory: PositionMemory | None,
    t: float,
    config: PlannerConfig,
    reducers: set[str],
) -> _Outcome:
    """Merge one position's screened proposals. ``reducers`` are the rules that proposed a
    reduction of it (before screening): their ADD_MARGIN puts back the margin that reduction
    releases, so it is kept only if a reduction is planned."""
    out = _Outcome()
    by_kind: dict[ActionKind, list[Action]] = {}
    for action in actions:
        group = ActionKind.CLOSE if action.kind in _EXPOSURE else action.kind
        by_kind.setdefault(group, []).append(action)

    size_after = position.size
    reducing = closing = False
    exposure = by_kind.get(ActionKind.CLOSE, [])
    if exposure and market is None:
        for action in exposure:
            out.dropped.append(Dropped(action, f"no market rules for {position.symbol}"))
        out.alerts.append(_unplannable(position, exposure))
    elif exposure and market is not None:
        ranked = _ranked(exposure, _exposure_rank)
        winner = ranked[0]
        _drop_losers(out, ranked, _describe(winner))
        step = _reduction_step(winner, ranked, position, market, config)
        out.steps.append(step)
        size_after = step.size_after
        reducing = True
        closing = step.kind is ActionKind.CLOSE
        out.memory, fight = _remember_reduction(memory, position, step, market, t, config)
        if fight is not None:
            out.alerts.append(fight)

    leverages = _ranked(by_kind.get(ActionKind.SET_LEVERAGE, []), _leverage_rank)
    if leverages:
        _drop_losers(out, leverages, _describe(leverages[0]))
        out.steps.append(_plain_step(ActionKind.SET_LEVERAGE, leverages, position, size_after))

    margins = _ranked(by_kind.get(ActionKind.ADD_MARGIN, []), _margin_rank)
    if margins and closing:
        out.dropped.extend(Dropped(a, "position is being closed") for a in margins)
        margins = []
    elif not reducing:
        unpaired = [a.rule in reducers for a in margins]
        out.dropped.extend(
            Dropped(a, "its paired reduction is not planned, so no margin is released")
            for a, drop in zip(margins, unpaired, strict=True)
            if drop
        )
        margins = [a for a, drop in zip(margins, unpaired, strict=True) if not drop]
    if margins:
        _drop_losers(out, margins, _describe(margins[0]))
        out.steps.append(_plain_step(ActionKind.ADD_MARGIN, margins, position, size_after))
        if out.memory is None:
            out.memory = _acted(memory, t)

    stops = _ranked(by_kind.get(ActionKind.PLACE_STOP, []), _stop_rank(position.side))
    if stops and closing:
        out.dropped.extend(Dropped(a, "position is being closed") for a in stops)
    elif stops and market is None:
        out.dropped.extend(Dropped(a, f"no market rules for {position.symbol}") for a in stops)
    elif stops and market is not None:
        _add_stop(out, stops, position, market, size_after)
    return out


Rank = tuple[float, int, str, str]


def _rank(value: float, action: Action) -> Rank:
    """Sort key: ``value`` first, then the more severe, then the rule and its reason."""
    return (value, -action.level, action.rule, action.reason)


def _ranked(actions: Sequence[Action], rank: Callable[[Action], Rank]) -> list[Action]:
    """``actions``, best first; when ranks tie, the whole proposal's ``repr`` decides, so the
    result never depends on the order the proposals came in (and ``repr`` is only paid then)."""
    ranked = sorted(actions, key=rank)
    if len(ranked) > 1 and len({rank(a) for a in ranked}) < len(ranked):
        ranked.sort(key=lambda a: (rank(a), repr(a)))
    return ranked


def _exposure_rank(action: Action) -> Rank:
    target = 0.0 if action.kind is ActionKind.CLOSE else (action.target_size or 0.0)
    return _rank(max(target, 0.0), action)


def _leverage_rank(action: Action) -> Rank:
    return _rank(action.leverage or 0.0, action)


def _margin_rank(action: Action) -> Rank:
    return _rank(-(action.margin or 0.0), action)


def _stop_rank(side: Side) -> Callable[[Action], Rank]:
    def rank(action: Action) -> Rank:
        # Closest to the mark first: the highest stop for a long, the lowest for a short.
        return _rank(-side.sign * (action.stop_price or 0.0), action)

    return rank


def _describe(action: Action) -> str:
    if action.kind is ActionKind.CLOSE or (
        action.kind is ActionKind.REDUCE and not action.target_size
    ):
        what = "close"
    elif action.kind is ActionKind.REDUCE:
        what = f"reduce to {_num(action.target_size)}"
    elif action.kind is ActionKind.SET_LEVERAGE:
        what = f"leverage {_num(action.leverage)}"
    elif action.kind is ActionKind.ADD_MARGIN:
        what = f"add margin {_num(action.margin)}"
    else:
        what = f"stop at {_num(action.stop_price)}"
    return f"{what} by {action.rule}"


def _drop_losers(out: _Outcome, ranked: Sequence[Action], winner: str) -> None:
    out.dropped.extend(Dropped(a, f"less protective than {winner}") for a in ranked[1:])


def _reduction_step(
    winner: Action,
    ranked: Sequence[Action],
    position: Position,
    market: MarketRules,
    config: PlannerConfig,
) -> PlannedStep:
    target = 0.0 if winner.kind is ActionKind.CLOSE else (winner.target_size or 0.0)
    sizing = size_reduction(position, target, market)
    amounts = split_order(
        sizing.contracts,
        market,
        position.mark_price,
        config.max_order_notional,
        inverse=position.inverse,
    )
    notes = list(sizing.notes)
    if len(amounts) > 1:
        notes.append(
            f"split into {len(amounts)} orders of at most {_num(config.max_order_notional)}"
        )
    value = market.contract_value(position.mark_price, inverse=position.inverse)
    return PlannedStep(
        kind=sizing.kind,
        action=winner,
        level=max(a.level for a in ranked),
        rules=_rules(ranked),
        account=winner.account,
        symbol=position.symbol,
        side=position.side,
        order_side="sell" if position.side is Side.LONG else "buy",
        reduce_only=True,
        amounts=amounts,
        size_before=position.size,
        size_after=sizing.size_after,
        mark_price=position.mark_price,
        notional=_clean(sizing.contracts * value),
        notes=tuple(notes),
        figures=_merged_figures(ranked),
    )


def _plain_step(
    kind: ActionKind, ranked: Sequence[Action], position: Position, size_after: float
) -> PlannedStep:
    winner = ranked[0]
    return PlannedStep(
        kind=kind,
        action=winner,
        level=max(a.level for a in ranked),
        rules=_rules(ranked),
        account=winner.account,
        symbol=position.symbol,
        side=position.side,
        order_side=None,
        reduce_only=False,
        amounts=(),
        size_before=position.size,
        size_after=size_after,
        mark_price=position.mark_price,
        notional=0.0,
        margin=winner.margin if kind is ActionKind.ADD_MARGIN else None,
        leverage=winner.leverage if kind is ActionKind.SET_LEVERAGE else None,
        figures=_merged_figures(ranked),
    )


def _add_stop(
    out: _Outcome,
    ranked: Sequence[Action],
    position: Position,
    market: MarketRules,
    size_after: float,
) -> None:
    for index, action in enumerate(ranked):
        price = market.stop_price(_given(action.stop_price), position.side, position.mark_price)
        if price is None:
            out.dropped.append(Dropped(action, "stop would trigger at once after tick rounding"))
            continue
        _drop_losers(out, ranked[index:], _describe(action))
        contracts = _clean(market.to_contracts(size_after))
        value = market.contract_value(position.mark_price, inverse=position.inverse)
        notes = () if price == action.stop_price else (f"stop price rounded to {_num(price)}",)
        out.steps.append(
            PlannedStep(
                kind=ActionKind.PLACE_STOP,
                action=action,
                level=max(a.level for a in ranked[index:]),
                rules=_rules(ranked[index:]),
                account=action.account,
                symbol=position.symbol,
                side=position.side,
                order_side="sell" if position.side is Side.LONG else "buy",
                reduce_only=True,
                amounts=(contracts,),
                size_before=position.size,
                size_after=size_after,
                mark_price=position.mark_price,
                notional=_clean(contracts * value),
                stop_price=price,
                notes=notes,
                figures=_merged_figures(ranked[index:]),
            )
        )
        return


def _rules(ranked: Sequence[Action]) -> tuple[str, ...]:
    names = [ranked[0].rule]
    for action in sorted(ranked[1:], key=lambda a: a.rule):
        if action.rule not in names:
            names.append(action.rule)
    return tuple(names)


def _merged_figures(ranked: Sequence[Action]) -> Figures:
    """The winner's figures, then each other proposal's prefixed by its rule (when new)."""
    merged: list[tuple[str, FigureValue]] = list(ranked[0].figures)
    seen = set(merged)
    for action in ranked[1:]:
        for name, value in action.figures:
            item = (f"{action.rule}.{name}", value)
            if (name, value) not in seen and item not in seen:
                merged.append(item)
                seen.add(item)
    return tuple(merged)


# --- memory: cooldown and fight detection ------------------------------------------------


def _acted(memory: PositionMemory | None, t: float) -> PositionMemory:
    m = memory or PositionMemory()
    return PositionMemory(last_acted_s=t, left_size=m.left_size, reopened_s=m.reopened_s)


def _remember_reduction(
    memory: PositionMemory | None,
    position: Position,
    step: PlannedStep,
    market: MarketRules,
    t: float,
    config: PlannerConfig,
) -> tuple[PositionMemory, Alert | None]:
    m = memory or PositionMemory()
    recent = tuple(x for x in m.reopened_s if t - x < config.fight_window_s)
    tolerance = 0.5 * market.amount_step * market.contract_size
    regrown = m.left_size is not None and position.size > m.left_size + tolerance
    if regrown:
        recent = (*recent, t)
    new = PositionMemory(last_acted_s=t, left_size=step.size_after, reopened_s=recent)
    if not (regrown and len(recent) >= config.fight_threshold):
        return new, None
    alert = Alert(
        level=Level.CRITICAL,
        account=step.account,
        symbol=position.symbol,
        side=position.side,
        source=PLANNER,
        message=(
            f"bot is fighting the guard: {position.symbol} {position.side.value} was re-opened "
            f"and reduced {len(recent)} times in {_num(config.fight_window_s)} s"
        ),
        figures=(
            ("count", len(recent)),
            ("window_s", config.fight_window_s),
            ("threshold", config.fight_threshold),
            ("size_before", position.size),
            ("guard_left_size", m.left_size),
            ("size_after", step.size_after),
        ),
    )
    return new, alert


def _prune(
    memory: Mapping[str, PositionMemory], t: float, config: PlannerConfig
) -> dict[str, PositionMemory]:
    """Forget what can no longer matter: reopen times outside the window, positions the guard
    has not acted on for longer than both the cooldown and the window."""
    horizon = max(config.cooldown_s, config.fight_window_s)
    kept = {}
    for key, m in memory.items():
        if m.last_acted_s is None or t - m.last_acted_s >= horizon:
            continue
        recent = tuple(x for x in m.reopened_s if t - x < config.fight_window_s)
        kept[key] = PositionMemory(m.last_acted_s, m.left_size, recent)
    return kept


# --- alerts and small helpers ------------------------------------------------------------


def _alert_from(action: Action) -> Alert:
    return Alert(
        level=action.level,
        account=action.account,
        symbol=action.symbol,
        side=action.side,
        source=action.rule,
        message=action.reason,
        figures=action.figures,
    )


def _unplannable(position: Position, actions: Sequence[Action]) -> Alert:
    return Alert(
        level=max(a.level for a in actions),
        account=actions[0].account,
        symbol=position.symbol,
        side=position.side,
        source=PLANNER,
        message=(
            f"cannot size a reduction of {position.symbol} {position.side.value}: "
            "no market rules (amount step, minimum) for it"
        ),
        figures=(("size", position.size), ("rules", ",".join(sorted({a.rule for a in actions})))),
    )


def _alert_order(alert: Alert) -> tuple[int, str, str, str, str, str]:
    side = alert.side.value if alert.side else ""
    return (-alert.level, alert.account, alert.symbol or "", side, alert.source, alert.message)


def _dropped_order(item: Dropped) -> tuple[str, str, str, str, str, str]:
    a = item.action
    side = a.side.value if a.side else ""
    return (a.account, a.symbol or "", side, a.kind.value, a.rule, item.reason)


def _is_dust(contracts: float, market: MarketRules, position: Position) -> bool:
    if contracts < market.min_amount * (1 - _STEP_TOLERANCE):
        return True
    if not market.min_notional:
        return False
    value = contracts * market.contract_value(position.mark_price, inverse=position.inverse)
    return value < market.min_notional * (1 - _STEP_TOLERANCE)


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _clean(value: float) -> float:
    return round(value, _DECIMALS) + 0.0


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.10g}"
