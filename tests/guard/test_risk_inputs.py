"""What a cycle evaluates with: last cycle's evaluation is given back only when it still holds."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode, Side
from riskguard.guard.risk_inputs import (
    SettingsMemo,
    guard_risk_settings,
    unchanged_evaluation,
)
from riskguard.risk import assess_account
from riskguard.risk.evaluation import evaluate_account
from riskguard.risk.tails import StressMove
from riskguard.risk.volatility import per_sqrt_second
from riskguard.testing import BTC, TAKEN_AT, position, snapshot

ETH = "ETH/USDT:USDT"
CONFIG = GuardConfig()
SIGMA = per_sqrt_second(0.05)


def _book(btc_mark: float, eth_mark: float, wallet: float) -> object:
    return snapshot(
        position(mark_price=btc_mark, leverage=20.0),
        position(
            symbol=ETH,
            side=Side.SHORT,
            size=10.0,
            entry_price=4_000.0,
            mark_price=eth_mark,
            margin_mode=MarginMode.CROSS,
        ),
        wallet_balance=wallet,
    )


marks = st.sampled_from([95_000.0, 100_000.0, 104_000.0])
eth_marks = st.sampled_from([3_900.0, 4_000.0])
wallets = st.sampled_from([5_000.0, 10_000.0])
horizons = st.sampled_from([6.0, 16.0])


@given(marks, eth_marks, wallets, horizons, marks, eth_marks, wallets, horizons)
def test_a_reused_evaluation_is_the_one_a_fresh_evaluation_would_give(
    btc_a: float,
    eth_a: float,
    wallet_a: float,
    horizon_a: float,
    btc_b: float,
    eth_b: float,
    wallet_b: float,
    horizon_b: float,
) -> None:
    last = _book(btc_a, eth_a, wallet_a)
    before = evaluate_account(last, guard_risk_settings(CONFIG, {BTC: SIGMA}, horizon_a))
    now = replace(_book(btc_b, eth_b, wallet_b), taken_at=TAKEN_AT + timedelta(seconds=5))
    settings = guard_risk_settings(CONFIG, {BTC: SIGMA}, horizon_b)

    reused = unchanged_evaluation(last, before, now, settings)

    same_inputs = (btc_a, eth_a, wallet_a, horizon_a) == (btc_b, eth_b, wallet_b, horizon_b)
    assert (reused is before) == same_inputs
    if reused is not None:
        assert reused == evaluate_account(now, settings)


def test_nothing_is_reused_before_a_first_evaluation() -> None:
    book = _book(100_000.0, 4_000.0, 10_000.0)
    settings = guard_risk_settings(CONFIG, {}, 6.0)

    assert unchanged_evaluation(None, None, book, settings) is None


def test_any_change_to_the_snapshot_but_its_time_is_evaluated_afresh() -> None:
    settings = guard_risk_settings(CONFIG, {}, 6.0)
    last = snapshot(position())
    before = evaluate_account(last, settings)
    later = replace(last, taken_at=TAKEN_AT + timedelta(minutes=1))

    assert unchanged_evaluation(last, before, later, settings) is before
    for changed in (
        replace(later, notes=("positions settle in USDT and USDC",)),
        replace(later, account_type="Bybit unified trading account"),
        replace(later, settle="USDC"),
        replace(later, positions=(position(size=1.5),)),
    ):
        assert unchanged_evaluation(last, before, changed, settings) is None


moves = st.sampled_from(
    [
        {},
        {BTC: StressMove(BTC, 0.12, 0.12, "configured gaps")},
        {BTC: StressMove(BTC, 0.2, 0.15, "learned tail")},
    ]
)
sigmas = st.sampled_from([{}, {BTC: SIGMA}, {BTC: SIGMA * 3, ETH: SIGMA}])


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), sigmas, horizons, moves), max_size=12))
def test_the_settings_memo_gives_what_guard_risk_settings_gives(
    asks: list[tuple[str, dict[str, float], float, dict[str, StressMove]]],
) -> None:
    memo = SettingsMemo(CONFIG)

    for account, sigma, horizon, move in asks:
        assert memo.settings(account, sigma, horizon, move) == guard_risk_settings(
            CONFIG, sigma, horizon, move
        )


def test_the_settings_memo_keeps_what_it_was_given_not_a_later_change_to_it() -> None:
    memo = SettingsMemo(CONFIG)
    sigma = {BTC: SIGMA}
    first = memo.settings("a", sigma, 6.0, {})

    sigma[BTC] = SIGMA * 4

    assert memo.settings("a", sigma, 6.0, {}) != first
    assert memo.settings("a", sigma, 6.0, {}) == guard_risk_settings(CONFIG, sigma, 6.0, {})


@given(marks, eth_marks, wallets, marks, eth_marks, wallets)
def test_the_same_book_taken_later_has_the_same_risk_figures(
    btc_a: float, eth_a: float, wallet_a: float, btc_b: float, eth_b: float, wallet_b: float
) -> None:
    # The replay's recorder samples a book's figures again only when the book changed.
    last = _book(btc_a, eth_a, wallet_a)
    now = replace(_book(btc_b, eth_b, wallet_b), taken_at=TAKEN_AT + timedelta(seconds=5))

    same = now.same_book(last)

    assert same == ((btc_a, eth_a, wallet_a) == (btc_b, eth_b, wallet_b))
    if same:
        assert assess_account(now) == assess_account(last)
    assert not now.same_book(None)
