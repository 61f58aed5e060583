"""Spot margin accounts: venue ratios, moves to liquidation, shortfall and remedy sizing.

Oracles are written here from the venues' definitions (docs/spot_margin.md), never from the
module's own solver: Binance margin level = assets / (borrowed + interest); OKX's estimated
liquidation price of a quick-margin long = (quote liability x (1 + MMR) x (1 + fee) - quote
assets) / (base assets - base liability x (1 + MMR) x (1 + fee)); Bybit's MM rate is the
inverse of equity over maintenance margin.
"""

from __future__ import annotations

import math

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from riskguard.errors import InputError
from riskguard.risk import (
    BINANCE_CROSS,
    BINANCE_ISOLATED,
    BYBIT_UTA,
    OKX_MARGIN,
    MarginAsset,
    MarginLoanAccount,
    MarginVenueRule,
    assess,
    bankruptcy_move,
    buy_to_repay,
    liquidation_move,
    margin_call_move,
    margin_level,
    sell_to_repay,
    shortfall_at,
    shortfall_price_scenarios,
    shortfall_scenarios,
    with_levels,
)

RULES = [BINANCE_CROSS, with_levels(BINANCE_ISOLATED, liquidation=1.05), OKX_MARGIN, BYBIT_UTA]


def long_account(
    held: float, price: float, owed_quote: float, quote_held: float = 0.0, mmr: float = 0.1
) -> MarginLoanAccount:
    return MarginLoanAccount(
        "USDT",
        (
            MarginAsset("BTC", held, price=price, maintenance_rate=mmr),
            MarginAsset("USDT", quote_held, borrowed=owed_quote, maintenance_rate=mmr),
        ),
    )


def short_account(
    owed: float, price: float, quote_held: float, mmr: float = 0.1
) -> MarginLoanAccount:
    return MarginLoanAccount(
        "USDT",
        (
            MarginAsset("BTC", 0.0, borrowed=owed, price=price, maintenance_rate=mmr),
            MarginAsset("USDT", quote_held, maintenance_rate=mmr),
        ),
    )


# --- worked numbers --------------------------------------------------------------------------


def test_binance_margin_level_matches_the_documented_cross_account_example() -> None:
    # Binance's API docs example (GET /sapi/v1/margin/account): BTC free 0.004995, BNB free
    # 2346.5 borrowed 201.66666672; totalAssetOfBtc 6.82728457, totalLiabilityOfBtc 0.58633215,
    # marginLevel 11.64405625. BNB's price in BTC is implied by the liability total.
    bnb_in_btc = 0.58633215 / 201.66666672
    account = MarginLoanAccount(
        "BTC",
        (
            MarginAsset("BTC", 0.004995),
            MarginAsset("BNB", 2346.5, borrowed=201.66666672, price=bnb_in_btc),
        ),
    )
    result = assess(account, BINANCE_CROSS)
    assert result.assets_value == pytest.approx(6.82728457, abs=1e-7)  # 8-decimal rounding
    assert result.liabilities_value == pytest.approx(0.58633215, abs=1e-8)
    assert result.level == pytest.approx(11.64405625, rel=1e-7)
    assert not result.margin_call


def test_binance_cross_levels_say_margin_call_and_liquidation() -> None:
    # 1.5 BTC held at 100,000 against 50,000 USDT owed: level 3. Call at 1.3, liquidation 1.1.
    account = long_account(1.5, 100_000.0, 50_000.0)
    assert margin_level(account, BINANCE_CROSS) == pytest.approx(3.0)
    assert not assess(account.moved(-0.55, "BTC"), BINANCE_CROSS).margin_call  # level 1.35
    call = assess(account.at_prices({"BTC": 40_000.0}), BINANCE_CROSS)  # level 1.2
    assert call.margin_call
    assert not call.liquidating
    assert assess(account.at_prices({"BTC": 36_000.0}), BINANCE_CROSS).liquidating  # 1.08


def test_binance_long_liquidates_at_the_price_where_assets_are_1_1_times_the_loan() -> None:
    # 1.5 x P = 1.1 x 50,000  ->  P = 36,666.67, a 63.33% fall.
    move = liquidation_move(long_account(1.5, 100_000.0, 50_000.0), BINANCE_CROSS, "BTC")
    assert move.reachable
    assert move.price == pytest.approx(110_000.0 / 3.0)
    assert move.move == pytest.approx(-0.633333333, abs=1e-9)


def test_binance_short_liquidates_on_a_rise() -> None:
    # 150,000 USDT held against 0.5 BTC owed: 150,000 = 1.1 x 0.5 x P  ->  P = 272,727.27.
    move = liquidation_move(short_account(0.5, 100_000.0, 150_000.0), BINANCE_CROSS, "BTC")
    assert move.price == pytest.approx(150_000.0 / 0.55)
    assert move.move is not None
    assert move.move > 0


def test_okx_liquidation_price_matches_okx_estimated_liquidation_price_formula() -> None:
    # OKX quick margin: 6 ETH held, 5,000 USDT owed, MMR 10%, taker fee 0.1%.
    account = MarginLoanAccount(
        "USDT",
        (
            MarginAsset("ETH", 6.0, price=1_000.0, maintenance_rate=0.1),
            MarginAsset("USDT", 0.0, borrowed=5_000.0, maintenance_rate=0.1),
        ),
        closing_fee_rate=0.001,
    )
    okx_formula = (5_000.0 * 1.1 * 1.001 - 0.0) / (6.0 - 0.0)
    move = liquidation_move(account, OKX_MARGIN, "ETH")
    assert move.price == pytest.approx(okx_formula, rel=1e-12)
    assert assess(account.at_prices({"ETH": okx_formula}), OKX_MARGIN).level == pytest.approx(1.0)


def test_bybit_mm_rate_is_maintenance_over_equity_and_liquidates_at_one() -> None:
    # 6 ETH at 1,000 held, 5,000 USDT owed at MMR 10%: MM 500, equity 1,000 -> rate 0.5.
    account = long_account(6.0, 1_000.0, 5_000.0, mmr=0.1)
    account = MarginLoanAccount("USDT", (MarginAsset("ETH", 6.0, price=1_000.0), account.assets[1]))
    result = assess(account, BYBIT_UTA)
    assert result.level == pytest.approx(0.5)
    move = liquidation_move(account, BYBIT_UTA, "ETH")
    # equity = MM: 6P - 5,000 = 500 -> P = 916.67
    assert move.price == pytest.approx(5_500.0 / 6.0)
    assert assess(account.at_prices({"ETH": 5_500.0 / 6.0}), BYBIT_UTA).liquidating


def test_okx_haircut_lowers_the_equity_that_counts() -> None:
    full = long_account(1.5, 100_000.0, 50_000.0)
    cut = MarginLoanAccount(
        "USDT",
        (
            MarginAsset("BTC", 1.5, price=100_000.0, haircut=0.9, maintenance_rate=0.1),
            full.assets[1],
        ),
    )
    assert assess(cut, OKX_MARGIN).collateral_equity == pytest.approx(1.5 * 100_000 * 0.9 - 50_000)
    # Binance's margin level ignores collateral ratios (they limit borrowing, not liquidation).
    assert margin_level(cut, BINANCE_CROSS) == margin_level(full, BINANCE_CROSS)


def test_no_loan_means_no_liquidation_move() -> None:
    account = MarginLoanAccount(
        "USDT", (MarginAsset("BTC", 1.0, price=100.0), MarginAsset("USDT", 5.0))
    )
    move = liquidation_move(account, BINANCE_CROSS, "BTC")
    assert not move.reachable
    assert "nothing is owed" in move.reason
    assert margin_level(account, BINANCE_CROSS) == math.inf
    assert margin_level(account, BYBIT_UTA) == 0.0


def test_a_long_backed_by_quote_alone_is_never_liquidated_by_its_asset() -> None:
    # 200 USDT held against 100 USDT owed: 0.5 BTC cannot push the level under 1.1.
    account = long_account(0.5, 100.0, 100.0, quote_held=200.0)
    move = liquidation_move(account, BINANCE_CROSS, "BTC")
    assert not move.reachable
    assert "zero" in move.reason


def test_quote_asset_never_moves_and_binance_isolated_needs_its_tier_level() -> None:
    account = long_account(1.0, 100.0, 50.0)
    assert not liquidation_move(account, BINANCE_CROSS, "USDT").reachable
    with pytest.raises(InputError, match="liquidation level"):
        liquidation_move(account, BINANCE_ISOLATED, "BTC")
    with pytest.raises(InputError, match="margin-call"):
        margin_call_move(account, OKX_MARGIN)


def test_margin_call_move_comes_before_the_liquidation_move() -> None:
    account = long_account(1.5, 100_000.0, 50_000.0)
    call = margin_call_move(account, BINANCE_CROSS, "BTC")
    liq = liquidation_move(account, BINANCE_CROSS, "BTC")
    assert call.move is not None
    assert liq.move is not None
    assert liq.move < call.move < 0


def test_an_account_already_past_liquidation_says_so() -> None:
    account = long_account(1.0, 50.0, 50.0)
    move = liquidation_move(account, BINANCE_CROSS, "BTC")
    assert move.already
    assert move.move == 0.0


def test_shortfall_is_what_is_owed_beyond_the_assets() -> None:
    account = long_account(1.5, 100_000.0, 50_000.0)
    report = shortfall_scenarios(account, [-0.5, -0.7, -0.9])
    assert [o.shortfall for o in report.outcomes] == pytest.approx([0.0, 5_000.0, 35_000.0])
    assert report.worst.label == "all -90.00%"
    explicit = shortfall_price_scenarios(account, [{"BTC": 20_000.0}])
    assert explicit.worst.shortfall == pytest.approx(20_000.0)
    assert shortfall_at(account).shortfall == 0.0


def test_inputs_are_checked_with_the_field_named() -> None:
    with pytest.raises(InputError, match=r"BTC\.borrowed"):
        MarginAsset("BTC", 1.0, borrowed=-1.0)
    with pytest.raises(InputError, match=r"BTC\.price"):
        MarginAsset("BTC", 1.0, price=0.0)
    with pytest.raises(InputError, match="haircut"):
        MarginAsset("BTC", 1.0, haircut=1.5)
    with pytest.raises(InputError, match="quote asset's price"):
        MarginLoanAccount("USDT", (MarginAsset("USDT", 1.0, price=2.0),))
    with pytest.raises(InputError, match="twice"):
        MarginLoanAccount("USDT", (MarginAsset("BTC", 1.0), MarginAsset("BTC", 1.0)))
    with pytest.raises(InputError, match="no such asset"):
        long_account(1.0, 1.0, 0.5).at_prices({"ETH": 1.0})


def test_sell_to_repay_reaches_the_target_exactly() -> None:
    # level 1.5 -> 2: sell q at 100,000: (150,000 - 100,000q) / (100,000 - 100,000q) = 2 -> q = 0.5
    account = long_account(1.5, 100_000.0, 100_000.0)
    remedy = sell_to_repay(account, BINANCE_CROSS, "BTC", 2.0)
    assert remedy.reached
    assert remedy.amount == pytest.approx(0.5)
    assert remedy.quote_amount == pytest.approx(50_000.0)
    assert remedy.level_after == pytest.approx(2.0)


def test_buy_to_repay_is_capped_by_the_quote_held_and_never_borrows() -> None:
    # owes 2 BTC at 100 (200), holds 210 USDT: level 1.05. Buying back q: (210 - 100q) / (200 -
    # 100q) = 2 -> q = 1.9.
    account = short_account(2.0, 100.0, 210.0)
    remedy = buy_to_repay(account, BINANCE_CROSS, "BTC", 2.0)
    assert remedy.reached
    assert remedy.amount == pytest.approx(1.9)
    # with 150 USDT held it can buy back only 1.5 BTC: level (150-150)/(50) = 0, short of 2
    poorer = short_account(2.0, 100.0, 150.0)
    capped = buy_to_repay(poorer, BINANCE_CROSS, "BTC", 2.0)
    assert not capped.reached
    assert capped.limited_by == "quote held"
    assert capped.amount == pytest.approx(1.5)
    assert capped.quote_amount == pytest.approx(150.0)


def test_a_zero_maintenance_rate_on_a_loan_is_refused_by_equity_based_rules() -> None:
    account = MarginLoanAccount(
        "USDT", (MarginAsset("BTC", 1.0, price=100.0), MarginAsset("USDT", 0.0, borrowed=50.0))
    )
    with pytest.raises(InputError, match=r"USDT\.maintenance_rate"):
        assess(account, OKX_MARGIN)
    assert margin_level(account, BINANCE_CROSS) == pytest.approx(2.0)


def test_sell_to_repay_with_no_quote_loan_sells_nothing() -> None:
    account = short_account(1.0, 100.0, 150.0)
    account = MarginLoanAccount("USDT", (MarginAsset("ETH", 1.0, price=10.0), *account.assets))
    remedy = sell_to_repay(account, BINANCE_CROSS, "ETH", 5.0)
    assert remedy.amount == 0.0
    assert not remedy.reached
    assert remedy.limited_by == "quote owed"


# --- properties ------------------------------------------------------------------------------

prices = st.floats(min_value=0.01, max_value=1e6)
amounts = st.floats(min_value=0.001, max_value=1e4)
rates = st.floats(min_value=0.005, max_value=0.2)
haircuts = st.floats(min_value=0.5, max_value=1.0)
rules = st.sampled_from(RULES)


@st.composite
def mixed_accounts(draw: st.DrawFn) -> MarginLoanAccount:
    rows = [
        MarginAsset(
            "USDT",
            draw(st.floats(min_value=0.0, max_value=1e6)),
            borrowed=draw(st.floats(min_value=0.0, max_value=1e6)),
            maintenance_rate=draw(rates),
        )
    ]
    rows.extend(
        MarginAsset(
            name,
            draw(st.floats(min_value=0.0, max_value=1e3)),
            borrowed=draw(st.floats(min_value=0.0, max_value=1e3)),
            interest=draw(st.floats(min_value=0.0, max_value=1.0)),
            price=draw(prices),
            haircut=draw(haircuts),
            maintenance_rate=draw(rates),
        )
        for name in ("BTC", "ETH")
    )
    account = MarginLoanAccount("USDT", tuple(rows), closing_fee_rate=draw(st.floats(0.0, 0.002)))
    assume(any(a.owed * a.price > 1e-3 for a in account.assets))
    return account


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(mixed_accounts(), rules, st.sampled_from(["BTC", "ETH", None]))
def test_the_level_at_the_liquidation_move_is_the_liquidation_level(
    account: MarginLoanAccount, rule: MarginVenueRule, asset: str | None
) -> None:
    move = liquidation_move(account, rule, asset)
    assume(move.reachable and not move.already)
    assert move.move is not None
    assume(-0.999 < move.move < 1e3)  # not a price within 0.1% of zero (float cancellation)
    at = account.moved(move.move, asset)
    assert rule.liquidation_level is not None
    assert margin_level(at, rule) == pytest.approx(rule.liquidation_level, rel=1e-6)
    # a little less of the same move leaves the account short of liquidation
    before = account.moved(move.move * 0.99, asset) if move.move > -0.99 else account
    assert not assess(before, rule).liquidating or move.move * 0.99 == 0


@settings(max_examples=200, deadline=None)
@given(amounts, prices, st.floats(min_value=1.2, max_value=20.0), st.floats(1.0, 40.0), rules)
def test_a_long_and_its_mirror_short_liquidate_on_opposite_sides(
    held: float, price: float, level: float, quote_multiple: float, rule: MarginVenueRule
) -> None:
    loan = held * price / level
    long = long_account(held, price, loan)
    short = short_account(held / level, price, held * price * quote_multiple / level)
    down = liquidation_move(long, rule, "BTC")
    up = liquidation_move(short, rule, "BTC")
    if down.reachable and not down.already:
        assert down.move is not None
        assert down.move < 0
    if up.reachable and not up.already:
        assert up.move is not None
        assert up.move > 0


@settings(max_examples=300, deadline=None)
@given(
    amounts,
    prices,
    st.floats(min_value=1.05, max_value=10.0),
    st.floats(0.0, 1.0),
    st.floats(1.05, 30.0),
    st.floats(0.0, 0.01),
)
def test_selling_to_repay_never_lowers_a_binance_long_above_one(
    held: float, price: float, level: float, share: float, target: float, cost: float
) -> None:
    account = long_account(held, price, held * price / level)
    before = margin_level(account, BINANCE_CROSS)
    assume(before * (1.0 - cost) > 1.0)
    amount = held * share
    row = account.get("BTC")
    assert row is not None
    remedy = sell_to_repay(account, BINANCE_CROSS, "BTC", target, cost)
    assert remedy.level_after >= before - 1e-9
    assert remedy.amount <= held + 1e-12
    assert remedy.quote_amount <= account.assets[1].owed * (1 + 1e-12)
    if remedy.reached and remedy.amount > 0:
        assert remedy.level_after == pytest.approx(target, rel=1e-9)
    del amount


@settings(max_examples=300, deadline=None)
@given(
    mixed_accounts(),
    st.sampled_from([OKX_MARGIN, BYBIT_UTA, BINANCE_CROSS]),
    st.sampled_from(["BTC", "ETH"]),
    st.floats(0.0, 0.01),
    st.booleans(),
)
def test_a_remedy_never_trades_more_than_held_or_owed_and_reaches_or_says_why(
    account: MarginLoanAccount, rule: MarginVenueRule, asset: str, cost: float, sell: bool
) -> None:
    row = account.get(asset)
    quote = account.get("USDT")
    assert row is not None
    assert quote is not None
    healthier = 2.0 if rule is not BYBIT_UTA else 0.3
    size = (sell_to_repay if sell else buy_to_repay)(account, rule, asset, healthier, cost)
    if sell:
        assert size.amount <= row.held * (1 + 1e-12)
        assert size.quote_amount <= quote.owed * (1 + 1e-9) + 1e-9
    else:
        assert size.amount <= row.owed * (1 + 1e-12)
        assert size.quote_amount <= quote.held * (1 + 1e-9) + 1e-9
    if size.reached and size.amount > 0:
        assert rule.to_health(size.level_after) == pytest.approx(
            rule.to_health(healthier), rel=1e-6
        )
    if not size.reached:
        assert size.limited_by


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.filter_too_much])
@given(mixed_accounts(), st.sampled_from(["BTC", "ETH", None]))
def test_shortfall_is_zero_short_of_the_bankruptcy_move_and_positive_past_it(
    account: MarginLoanAccount, asset: str | None
) -> None:
    move = bankruptcy_move(account, asset)
    assume(move.reachable and not move.already)
    assert move.move is not None
    assume(0.02 < abs(move.move) < 100)
    short_of = account.moved(move.move * 0.98, asset)
    past = account.moved(move.move * 1.02, asset) if move.move * 1.02 > -1 else None
    assert shortfall_at(short_of).shortfall == pytest.approx(
        0.0, abs=1e-6 * shortfall_scale(account)
    )
    if past is not None:
        assert shortfall_at(past).shortfall > 0


def shortfall_scale(account: MarginLoanAccount) -> float:
    return max(1.0, sum((a.held + a.owed) * a.price for a in account.assets))
