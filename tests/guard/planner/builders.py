"""Builders shared by the planner's tests: positions, snapshots, proposals, markets, a one-call
``plan`` and the Hypothesis scenarios of the property tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime

from hypothesis import settings
from hypothesis import strategies as st

from riskguard.domain import AccountSnapshot, MarginMode, MarketRules, Position, Side
from riskguard.guard.planner import Plan, PlannedStep, PlannerConfig, PlannerState, plan
from riskguard.guard.rules.base import Action, ActionKind, Level, RuleResult

NOW = datetime(2025, 3, 1, 12, 0, tzinfo=UTC)
ACCOUNT = "acct"
BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
NO_COOLDOWN = PlannerConfig(cooldown_s=0.0)


# --- builders ----------------------------------------------------------------------------


def _position(
    symbol: str = BTC,
    side: Side = Side.LONG,
    size: float = 10.0,
    mark: float = 100.0,
    *,
    leverage: float | None = 10.0,
    margin_mode: MarginMode = MarginMode.ISOLATED,
    contract_size: float = 1.0,
) -> Position:
    return Position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=mark,
        mark_price=mark,
        margin_mode=margin_mode,
        leverage=leverage,
        collateral=size * mark / 10,
        contract_size=contract_size,
        maintenance_margin_rate=0.005,
    )


def _snapshot(*positions: Position, account: str = ACCOUNT) -> AccountSnapshot:
    return AccountSnapshot(
        venue="binance", wallet_balance=1_000.0, positions=positions, taken_at=NOW, account=account
    )


def _action(
    kind: ActionKind,
    *,
    symbol: str | None = BTC,
    side: Side | None = Side.LONG,
    rule: str = "liquidation_distance",
    level: Level = Level.ACT,
    account: str = ACCOUNT,
    **numbers: float | None,
) -> Action:
    return Action(
        kind=kind,
        account=account,
        symbol=symbol,
        side=side,
        rule=rule,
        level=level,
        reason=f"{rule} says {kind.value}",
        figures=(("proposed_by", rule),),
        **numbers,
    )


def _reduce(target: float, **kw: object) -> Action:
    return _action(ActionKind.REDUCE, target_size=target, **kw)  # type: ignore[arg-type]


def _close(**kw: object) -> Action:
    return _action(ActionKind.CLOSE, target_size=0.0, **kw)  # type: ignore[arg-type]


def _market(
    symbol: str = BTC,
    *,
    contract_size: float = 1.0,
    step: float = 0.1,
    min_amount: float = 0.1,
    tick: float = 0.01,
    min_notional: float | None = None,
    max_market_amount: float | None = None,
) -> MarketRules:
    return MarketRules(
        symbol=symbol,
        contract_size=contract_size,
        amount_step=step,
        min_amount=min_amount,
        price_tick=tick,
        min_notional=min_notional,
        max_market_amount=max_market_amount,
    )


MARKETS = {BTC: _market(BTC), ETH: _market(ETH)}


def _plan(
    *actions: Action,
    positions: Sequence[Position] = (),
    markets: dict[str, MarketRules] | None = None,
    state: PlannerState | None = None,
    now: datetime = NOW,
    config: PlannerConfig = NO_COOLDOWN,
) -> tuple[Plan, PlannerState]:
    return plan(
        [RuleResult(actions=tuple(actions))],
        _snapshot(*(positions or (_position(),))),
        MARKETS if markets is None else markets,
        state or PlannerState(),
        now,
        config,
    )


def _kinds(result: Plan) -> list[ActionKind]:
    return [step.kind for step in result.steps]


def _reasons(result: Plan) -> list[str]:
    return [d.reason for d in result.dropped]


PROPERTY = settings(max_examples=100, deadline=None)


@st.composite
def _scenarios(draw: st.DrawFn) -> tuple[Position, MarketRules, list[Action], PlannerConfig]:
    contract_size = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001, 10.0]))
    step = draw(st.sampled_from([1.0, 0.1, 0.01, 0.001]))
    min_steps = draw(st.integers(1, 20))
    mark = draw(st.floats(0.5, 100_000.0))
    min_notional = draw(st.none() | st.floats(1.0, 200.0))
    market = MarketRules(
        symbol=BTC,
        contract_size=contract_size,
        amount_step=step,
        min_amount=min_steps * step,
        min_notional=min_notional,
    )
    side = draw(st.sampled_from(Side))
    held_steps = draw(st.integers(1, 100_000))
    position = _position(
        side=side, size=held_steps * step * contract_size, mark=mark, contract_size=contract_size
    )
    levels = st.sampled_from([Level.WARN, Level.ACT, Level.CRITICAL])
    reductions = st.builds(
        lambda fraction, level, rule: _reduce(
            position.size * fraction, side=side, level=level, rule=rule
        ),
        st.floats(0.0, 1.5),
        levels,
        st.sampled_from(["a", "b", "c"]),
    )
    closes = st.builds(lambda level: _close(side=side, level=level), levels)
    actions = draw(st.lists(reductions | closes, min_size=1, max_size=5))
    cap: float | None = None
    if draw(st.booleans()):
        # a cap of at least twice the minimum order, so every part can respect both
        smallest = market.min_order(mark) * market.contract_value(mark)
        cap = smallest * draw(st.floats(2.0, 50.0))
    return position, market, actions, PlannerConfig(cooldown_s=0.0, max_order_notional=cap)


def _reductions(result: Plan) -> list[PlannedStep]:
    return [s for s in result.steps if s.kind in {ActionKind.REDUCE, ActionKind.CLOSE}]
