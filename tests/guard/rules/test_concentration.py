"""``concentration``: the share of the account's notional in one asset.

The reference account holds BTC on two settlement currencies (100,000 + 50,000), ETH 30,000 and
SOL 20,000: 200,000 in all, of which BTC is 75%.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from riskguard import testing
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.rules.base import Action, ActionKind, Level, Memory, RuleInput, RuleResult
from riskguard.guard.rules.concentration import (
    ConcentrationConfig,
    ConcentrationRule,
    ShareThreshold,
    asset_of,
)
from riskguard.risk import RiskSettings, assess_account, evaluate_account
from riskguard.validation import problem_lines

NOW = datetime(2025, 1, 1, tzinfo=UTC)
BTC_USDT = "BTC/USDT:USDT"
BTC_USDC = "BTC/USDC:USDC"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
SETTINGS = RiskSettings(slippage=0.0)


def _position(symbol: str, size: float, price: float, side: Side = Side.LONG) -> Position:
    """A cross position entered and marked at ``price``, flat 0.5% maintenance, no fee."""
    return testing.position(
        symbol=symbol,
        side=side,
        size=size,
        entry_price=price,
        margin_mode=MarginMode.CROSS,
        leverage=None,
        maintenance_margin_rate=0.005,
    )


def _snapshot(*positions: Position, account: str = "main") -> AccountSnapshot:
    return testing.snapshot(*positions, wallet_balance=1_000_000.0, taken_at=NOW, account=account)


def _reference_account() -> AccountSnapshot:
    return _snapshot(
        _position(BTC_USDT, 1.0, 100_000.0),
        _position(BTC_USDC, 0.5, 100_000.0),
        _position(ETH, 10.0, 3_000.0),
        _position(SOL, 100.0, 200.0),
    )


def _two_assets(btc_share: float) -> AccountSnapshot:
    # BTC at 100,000 and ETH at 1,000 so that shares of 100,000 are exact
    return _snapshot(
        _position(BTC_USDT, btc_share, 100_000.0),
        _position(ETH, 100.0 * (1 - btc_share), 1_000.0),
    )


def _rule(**fields: object) -> ConcentrationRule:
    return ConcentrationRule(ConcentrationConfig(type="concentration", **fields))


def _run(
    rule: ConcentrationRule, snapshot: AccountSnapshot, memory: Memory | None = None
) -> RuleResult:
    evaluation = evaluate_account(snapshot, SETTINGS)
    return rule.evaluate(RuleInput(snapshot, evaluation, NOW, 20.0, 0.0), memory or {})


def _apply(snapshot: AccountSnapshot, actions: tuple[Action, ...]) -> AccountSnapshot:
    sizes = {(a.symbol, a.side): a.target_size for a in actions if a.kind is ActionKind.REDUCE}
    return replace(
        snapshot,
        positions=tuple(
            replace(p, size=sizes.get((p.symbol, p.side)) or p.size) for p in snapshot.positions
        ),
    )


def _share(snapshot: AccountSnapshot, asset: str) -> float:
    risk = assess_account(snapshot)
    held = sum(r.notional for r in risk.positions if asset_of(r.symbol) == asset)
    return held / risk.total_notional * 100.0


def _levels(result: RuleResult) -> dict[str, Level]:
    return {str(dict(f.figures)["asset"]): f.level for f in result.findings}


# --- the asset of a symbol --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("symbol", "asset"),
    [
        (BTC_USDT, "BTC"),
        (BTC_USDC, "BTC"),
        ("BTC/USD:BTC", "BTC"),  # inverse
        ("ETH/USDT", "ETH"),  # no settlement suffix
        ("BTCUSDT", "BTCUSDT"),  # an exchange id: left as it is
    ],
)
def test_asset_of_symbol_is_its_base_currency(symbol: str, asset: str) -> None:
    assert asset_of(symbol) == asset


def test_asset_of_symbol_follows_aliases() -> None:
    aliases = {"1000PEPE": "PEPE", "kPEPE": "PEPE"}
    assert asset_of("1000PEPE/USDT:USDT", aliases) == asset_of("kPEPE/USDC:USDC", aliases) == "PEPE"


# --- classification ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("btc_share", "expected"),
    [
        (0.4, Level.OK),
        (0.5, Level.WARN),  # exactly 50%: entered at the threshold
        (0.75, Level.ACT),
        (0.95, Level.CRITICAL),
    ],
)
def test_asset_share_grades_by_default_thresholds(btc_share: float, expected: Level) -> None:
    result = _run(_rule(), _two_assets(btc_share))
    assert result.memory["asset:BTC"] == int(expected)
    assert _levels(result).get("BTC", Level.OK) is expected


def test_one_asset_on_two_settlement_currencies_counts_once() -> None:
    # BTC 150,000 of 200,000 = 75%: act (70%); ETH 15% and SOL 10% are fine
    result = _run(_rule(), _reference_account())
    assert _levels(result) == {"BTC": Level.ACT}
    finding = result.findings[0]
    facts = dict(finding.figures)
    assert finding.measured == pytest.approx(75.0)
    assert finding.threshold == 70.0
    assert facts["asset_notional"] == pytest.approx(150_000.0)
    assert facts["total_notional"] == pytest.approx(200_000.0)
    assert facts["positions"] == 2
    assert result.memory == {"asset:BTC": 2, "asset:ETH": 0, "asset:SOL": 0}


def test_longs_and_shorts_of_one_asset_add_up() -> None:
    # BTC long 0.5 and short 0.5 (gross 100,000) against ETH 100,000: 50%
    snapshot = _snapshot(
        _position(BTC_USDT, 0.5, 100_000.0),
        _position(BTC_USDT, 0.5, 100_000.0, side=Side.SHORT),
        _position(ETH, 100.0, 1_000.0),
    )
    result = _run(_rule(), snapshot)
    assert result.memory["asset:BTC"] == int(Level.WARN)


def test_aliases_group_renamed_markets() -> None:
    snapshot = _snapshot(
        _position("1000PEPE/USDT:USDT", 1_000.0, 10.0),
        _position("kPEPE/USDC:USDC", 1_000.0, 10.0),
        _position(ETH, 5.0, 1_000.0),
    )
    result = _run(_rule(aliases={"1000PEPE": "PEPE", "kPEPE": "PEPE"}), snapshot)
    assert _levels(result) == {"PEPE": Level.ACT}  # 20,000 of 25,000 = 80%


def test_small_accounts_below_min_total_notional_are_not_graded() -> None:
    result = _run(_rule(min_total_notional=1_000_000.0), _reference_account())
    assert result == RuleResult()


def test_empty_account_is_not_graded() -> None:
    assert _run(_rule(), _snapshot()) == RuleResult()


# --- hysteresis -------------------------------------------------------------------------------


def test_share_hovering_at_act_does_not_flap() -> None:
    # act at 70%, hysteresis 20%: ACT is left only below 56%
    rule = _rule()
    memory: Memory = {}
    levels = []
    for share in (0.72, 0.6, 0.57, 0.55):
        memory = _run(rule, _two_assets(share), memory).memory
        levels.append(Level(int(memory["asset:BTC"] or 0)))
    assert levels == [Level.ACT, Level.ACT, Level.ACT, Level.WARN]


def test_same_share_seen_fresh_is_only_a_warning() -> None:
    result = _run(_rule(), _two_assets(0.6))
    assert result.memory["asset:BTC"] == int(Level.WARN)


# --- actions ----------------------------------------------------------------------------------


def test_default_is_an_alert_without_orders() -> None:
    result = _run(_rule(), _reference_account())
    assert [(a.kind, a.level) for a in result.actions] == [(ActionKind.ALERT, Level.ACT)]
    assert "BTC is 75.0%" in result.actions[0].reason


def test_warn_has_no_action() -> None:
    assert _run(_rule(reduce=True), _two_assets(0.6)).actions == ()


def test_reduce_scales_the_asset_to_the_target_share() -> None:
    # Arrange: r = (150,000 - 0.4 * 200,000) / 0.6 = 116,667 off BTC's 150,000: factor 2/9
    snapshot = _reference_account()
    # Act
    result = _run(_rule(reduce=True), snapshot)
    # Assert
    reductions: list[tuple[object, ...]] = [
        (a.symbol, a.size_before, a.target_size) for a in result.actions[1:]
    ]
    assert result.actions[0].kind is ActionKind.ALERT
    assert reductions == [
        (BTC_USDT, 1.0, pytest.approx(2 / 9)),
        (BTC_USDC, 0.5, pytest.approx(1 / 9)),
    ]
    assert _share(_apply(snapshot, result.actions), "BTC") == pytest.approx(40.0)


def test_single_asset_account_is_alerted_but_never_reduced_to_nothing() -> None:
    snapshot = _snapshot(_position(BTC_USDT, 1.0, 100_000.0), _position(BTC_USDC, 1.0, 100_000.0))
    result = _run(_rule(reduce=True), snapshot)
    assert _levels(result) == {"BTC": Level.CRITICAL}
    assert [a.kind for a in result.actions] == [ActionKind.ALERT]
    assert "cannot lower the share" in result.actions[0].reason


# --- scope ------------------------------------------------------------------------------------


def test_positions_outside_the_scope_count_only_in_the_total() -> None:
    # BTC/USDC is out of scope: BTC in scope is 100,000 of 200,000 = 50%, a warning
    result = _run(_rule(reduce=True, scope={"symbols": ["*/USDT:USDT"]}), _reference_account())
    assert _levels(result) == {"BTC": Level.WARN}
    assert result.actions == ()


def test_account_outside_the_scope_gets_nothing() -> None:
    snapshot = replace(_reference_account(), account="hedge-desk")
    assert _run(_rule(scope={"accounts": ["main"]}), snapshot) == RuleResult()


# --- config -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "path"),
    [
        ({"act": {"share_pct": 40.0}}, "act.share_pct: must be above warn.share_pct"),
        ({"critical": {"share_pct": 70.0}}, "critical.share_pct: must be above act.share_pct"),
        ({"target_pct": 70.0}, "target_pct: must be below act.share_pct"),
        ({"critical": {"share_pct": 120.0}}, "critical.share_pct:"),
        ({"target_pct": 0.0}, "target_pct:"),
        ({"min_total_notional": -1.0}, "min_total_notional:"),
        ({"aliases": ["PEPE"]}, "aliases:"),
        ({"reduce_to": 40}, "reduce_to:"),
    ],
)
def test_invalid_config_names_the_field(fields: dict[str, object], path: str) -> None:
    with pytest.raises(ValidationError) as caught:
        ConcentrationConfig(type="concentration", **fields)
    lines = problem_lines(caught.value)
    assert any(line.startswith(path) for line in lines), lines


def test_default_config_only_alerts() -> None:
    config = ConcentrationConfig(type="concentration")
    assert config.reduce is False
    assert config.act == ShareThreshold(share_pct=70.0)


# --- properties -------------------------------------------------------------------------------

_SYMBOLS = [BTC_USDT, BTC_USDC, ETH, SOL, "ETH/USDC:USDC"]


@settings(max_examples=80, deadline=None)
@given(
    holdings=st.lists(
        st.tuples(st.sampled_from(_SYMBOLS), st.booleans(), st.floats(0.01, 100.0)),
        min_size=1,
        max_size=6,
        unique_by=lambda h: (h[0], h[1]),
    ),
    target=st.floats(5.0, 60.0),
)
def test_shares_add_up_and_reductions_meet_the_target_without_adding_exposure(
    holdings: list[tuple[str, bool, float]], target: float
) -> None:
    # Arrange
    positions = tuple(
        _position(symbol, size, 1_000.0, Side.SHORT if short else Side.LONG)
        for symbol, short, size in holdings
    )
    snapshot = _snapshot(*positions)
    # Act
    result = _run(_rule(reduce=True, target_pct=target), snapshot)
    # Assert
    assert sum(f.measured or 0.0 for f in result.findings) <= 100.0 * (1 + 1e-9)
    after = _apply(snapshot, result.actions)
    for action in result.actions:
        if action.kind is ActionKind.ALERT:
            continue
        assert action.kind is ActionKind.REDUCE
        assert action.target_size is not None
        assert action.size_before is not None
        assert 0.0 < action.target_size < action.size_before
        assert _share(after, asset_of(action.symbol or "")) == pytest.approx(target)
