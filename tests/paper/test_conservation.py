"""Money on the paper venue is conserved: every unit is in a wallet, a position or the ledger.

After any sequence of orders (market, limit, reduce-only, stop), leverage and margin changes, on
one-way and hedge accounts, isolated and cross, and price paths with crashes that liquidate and
gap past bankruptcy, at every step:

    total equity = deposits + realized PnL + unrealized PnL - fees - funding
                   - liquidation fees + shortfall covered by the insurance fund
    insurance fund = its start + liquidation fees - shortfall covered

and the ledger's realized PnL equals the PnL recomputed from each account's own trade list (with
average-cost entries), which also reproduces the account's open positions.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import ccxt.async_support as ccxt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from riskguard.domain import MarginMode, Side, Tier
from riskguard.paper.engine import PaperAccount, PaperVenue
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket
from riskguard.risk import PROFILES, get_profile, with_cumulative_amounts

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SYMBOLS = (BTC, ETH)
START_PRICE = {BTC: 100_000.0, ETH: 3_000.0}
MAX_CONTRACTS = {BTC: 3.0, ETH: 2_000.0}
"""Largest order drawn, in contracts (BTC contract: 1 BTC; ETH contract: 0.01 ETH)."""
T0 = 1_700_006_400_000
STEP_MS = 1_000
TICKS = 40
ACCOUNTS = {"oneway": False, "hedge": True}
"""Account id -> hedge mode."""
REL_TOL = 1e-9


def markets(mark_half_life_s: float, funding_rate: float) -> list[PaperMarket]:
    """A tiered BTC market with 1-BTC contracts and a flat ETH market with 0.01-ETH contracts."""
    btc_tiers = with_cumulative_amounts(
        [
            Tier(0.0, 50_000.0, 0.004, max_leverage=100.0),
            Tier(50_000.0, 250_000.0, 0.005, max_leverage=50.0),
            Tier(250_000.0, math.inf, 0.01, max_leverage=20.0),
        ]
    )
    common: dict[str, Any] = {
        "mark_half_life_s": mark_half_life_s,
        "funding_rate": funding_rate,
        "funding_interval_ms": 5_000,
        "max_leverage": 100.0,
    }
    return [
        PaperMarket(BTC, btc_tiers, **common),
        PaperMarket(
            ETH,
            (Tier(0.0, math.inf, 0.01, 5.0),),
            contract_size=0.01,
            amount_step=1.0,
            min_amount=1.0,
            **common,
        ),
    ]


def path_bars(symbol: str, log_returns: list[float], offset_ms: int) -> Bars:
    """A tick series from ``START_PRICE`` along ``log_returns``, kept within 1/50x..20x."""
    start = START_PRICE[symbol]
    prices = [start]
    for r in log_returns:
        prices.append(min(start * 20, max(start / 50, prices[-1] * math.exp(r))))
    times = tuple(T0 + offset_ms + i * STEP_MS for i in range(len(prices)))
    values = tuple(prices)
    return Bars(symbol, times, values, values, values, values, 0)


# --- the independent recomputation ------------------------------------------------------------


def replay_trades(venue: PaperVenue, acc: PaperAccount) -> tuple[float, dict[Any, Any]]:
    """Realized PnL and open legs ``{(symbol, side): (size, entry)}`` from the trade list alone.

    Average-cost accounting: a fill on a leg's own side adds to it at a weighted entry, a fill
    against it closes at ``side * size * (price - entry)``. One-way accounts net a symbol's
    fills (closing the opposite leg first, opening with the rest); hedge accounts route each
    fill to the leg its order named.
    """
    legs: dict[tuple[str, Side], list[float]] = {}
    realized = 0.0

    def close(key: tuple[str, Side], base: float, price: float) -> float:
        nonlocal realized
        leg = legs.get(key)
        if leg is None:
            return 0.0
        closing = min(base, leg[0])
        realized += key[1].sign * closing * (price - leg[1])
        leg[0] -= closing
        if leg[0] <= 1e-12 * max(1.0, closing):
            del legs[key]
        return closing

    def add(key: tuple[str, Side], base: float, price: float) -> None:
        size, entry = legs.get(key, [0.0, price])
        legs[key] = [size + base, (size * entry + base * price) / (size + base)]

    for trade in acc.trades:
        base = trade.amount * venue.markets[trade.symbol].contract_size
        side = Side.LONG if trade.side == "buy" else Side.SHORT
        assert trade.order_id is not None
        order = acc.orders[trade.order_id]
        if acc.hedge_mode:
            target = order.position_side or side
            if target is side:
                add((trade.symbol, side), base, trade.price)
            else:
                closed = close((trade.symbol, target), base, trade.price)
                # A fill on the leg it closes reports what it closed, no more.
                assert closed == pytest.approx(base, rel=REL_TOL), f"{trade} closed {closed}"
        else:
            rest = base - close((trade.symbol, side.opposite), base, trade.price)
            if rest > 1e-12:
                # Reduce-only never opens or flips a position.
                assert not order.reduce_only, f"reduce-only {trade} opened {rest}"
                add((trade.symbol, side), rest, trade.price)
    return realized, {k: (v[0], v[1]) for k, v in legs.items()}


def check_books(venue: PaperVenue, where: str) -> None:
    """Assert every conservation identity of the venue now."""
    ledger = venue.ledger
    upnl = venue.unrealized_pnl()
    terms = (
        ledger.deposits,
        ledger.realized_pnl,
        upnl,
        ledger.fees,
        ledger.funding,
        ledger.liquidation_fees,
        ledger.shortfall_covered,
    )
    scale = max(1.0, *(abs(t) for t in terms))
    expected = (
        ledger.deposits
        + ledger.realized_pnl
        + upnl
        - ledger.fees
        - ledger.funding
        - ledger.liquidation_fees
        + ledger.shortfall_covered
    )
    assert venue.total_equity() == pytest.approx(expected, rel=0, abs=REL_TOL * scale), where
    assert ledger.insurance_fund == pytest.approx(
        ledger.insurance_start + ledger.liquidation_fees - ledger.shortfall_covered,
        rel=0,
        abs=REL_TOL * max(ledger.insurance_start, scale),
    ), where

    replayed = 0.0
    booked = 0.0
    fees = 0.0
    for acc in venue.accounts.values():
        realized, legs = replay_trades(venue, acc)
        replayed += realized
        booked += sum(t.realized_pnl for t in acc.trades)
        fees += sum(t.fee for t in acc.trades)
        held = {k: (p.size, p.entry_price) for k, p in acc.positions.items()}
        assert set(legs) == set(held), f"{where}: {acc.id} legs {legs} != positions {held}"
        for key, (size, entry) in legs.items():
            assert size == pytest.approx(held[key][0], rel=REL_TOL, abs=1e-12), where
            assert entry == pytest.approx(held[key][1], rel=REL_TOL), where
    assert ledger.realized_pnl == pytest.approx(replayed, rel=0, abs=REL_TOL * scale), where
    assert ledger.realized_pnl == pytest.approx(booked, rel=0, abs=REL_TOL * scale), where
    assert ledger.fees == pytest.approx(fees, rel=0, abs=REL_TOL * scale), where
    # The liquidation records account for every liquidation fee and every shortfall covered.
    records = venue.liquidations
    liq_fees = sum(r.fee for r in records)
    shortfalls = sum(r.shortfall for r in records)
    assert ledger.liquidation_fees == pytest.approx(liq_fees, rel=0, abs=REL_TOL * scale), where
    assert ledger.shortfall_covered == pytest.approx(shortfalls, rel=0, abs=REL_TOL * scale), where


# --- random scenarios ---------------------------------------------------------------------------


@dataclass(frozen=True)
class Step:
    """One account action, then the market moves ``ticks`` ticks."""

    kind: str
    account: str = "oneway"
    symbol: str = BTC
    side: str = "buy"
    fraction: float = 0.5
    """Order size as a fraction of what the account can afford (of the position, reduce-only;
    above 1 on purpose sometimes); margin changes as a fraction of what is free or posted."""
    offset: float = 0.0
    """Limit or trigger price relative to the mark; the leverage for set_leverage; for a
    market order with ``flag``, the hedge leg named (> 0 LONG, < 0 SHORT)."""
    reduce_only: bool = False
    flag: bool = False
    """Stop-loss (stop), isolated (set_margin_mode), name a hedge leg (market)."""
    ticks: int = 1


accounts_st = st.sampled_from(sorted(ACCOUNTS))
symbols_st = st.sampled_from(SYMBOLS)
sides_st = st.sampled_from(["buy", "sell"])
fraction_st = st.floats(0.05, 1.2)
ticks_st = st.integers(0, 3)

steps_st = st.one_of(
    st.builds(
        Step,
        kind=st.just("market"),
        account=accounts_st,
        symbol=symbols_st,
        side=sides_st,
        fraction=fraction_st,
        offset=st.sampled_from([1.0, -1.0]),
        reduce_only=st.booleans(),
        flag=st.booleans(),
        ticks=ticks_st,
    ),
    st.builds(
        Step,
        kind=st.just("limit"),
        account=accounts_st,
        symbol=symbols_st,
        side=sides_st,
        fraction=fraction_st,
        offset=st.floats(-0.02, 0.02),
        reduce_only=st.booleans(),
        ticks=ticks_st,
    ),
    st.builds(
        Step,
        kind=st.just("stop"),
        account=accounts_st,
        symbol=symbols_st,
        side=sides_st,
        fraction=fraction_st,
        offset=st.floats(-0.05, 0.05),
        reduce_only=st.booleans(),
        flag=st.booleans(),
        ticks=ticks_st,
    ),
    st.builds(
        Step,
        kind=st.just("set_leverage"),
        account=accounts_st,
        symbol=symbols_st,
        offset=st.sampled_from([1.0, 3.0, 10.0, 25.0, 50.0, 100.0]),
        ticks=ticks_st,
    ),
    st.builds(
        Step,
        kind=st.just("set_margin_mode"),
        account=accounts_st,
        symbol=symbols_st,
        flag=st.booleans(),
        ticks=ticks_st,
    ),
    st.builds(
        Step,
        kind=st.sampled_from(["add_margin", "reduce_margin"]),
        account=accounts_st,
        symbol=symbols_st,
        side=sides_st,
        fraction=fraction_st,
        ticks=ticks_st,
    ),
    st.builds(Step, kind=st.just("cancel"), account=accounts_st, fraction=fraction_st),
)


def _log_return(draw: tuple[int, float, float]) -> float:
    kind, small, big = draw
    if kind == 0:
        return -big  # a crash: liquidations, often past the bankruptcy price
    if kind == 1:
        return big  # a squeeze: the same for shorts
    return small


log_return_st = st.tuples(st.integers(0, 19), st.floats(-0.015, 0.015), st.floats(0.1, 0.7)).map(
    _log_return
)


def order_amount(venue: PaperVenue, step: Step) -> float:
    """Contracts for an order step: a fraction of what the account can afford, or of the
    position a reduce-only order closes."""
    acc = venue.accounts[step.account]
    market = venue.markets[step.symbol]
    if step.reduce_only:
        closing = Side.LONG if step.side == "sell" else Side.SHORT
        pos = acc.positions.get((step.symbol, closing))
        contracts = pos.size / market.contract_size if pos else market.min_amount
    else:
        free = max(0.0, venue.available_balance(acc)) * venue.leverage_of(acc, step.symbol)
        contracts = free / (venue.mark_price(step.symbol) * market.contract_size)
    return max(market.min_amount, step.fraction * contracts)


def apply(venue: PaperVenue, step: Step) -> None:
    """Do ``step`` on ``venue``; a venue refusing it (a ccxt error) is a legitimate outcome."""
    acc_id, symbol = step.account, step.symbol
    acc = venue.accounts[acc_id]
    mark = venue.mark_price(symbol)
    leg = Side.LONG if step.side == "buy" else Side.SHORT
    try:
        if step.kind in ("market", "limit", "stop"):
            position_side = None
            if acc.hedge_mode and step.flag and step.kind == "market":
                # Either leg, whatever the side: SELL on LONG closes it without reduceOnly.
                position_side = Side.LONG if step.offset > 0 else Side.SHORT
            venue.create_order(
                acc_id,
                symbol,
                "limit" if step.kind == "limit" else "market",
                step.side,
                order_amount(venue, step),
                mark * (1 + step.offset) if step.kind == "limit" else None,
                reduce_only=step.reduce_only,
                position_side=position_side,
                trigger_price=mark * (1 + step.offset) if step.kind == "stop" else None,
                stop_loss=step.flag and step.kind == "stop",
            )
        elif step.kind == "set_leverage":
            venue.set_leverage(acc_id, symbol, step.offset)
        elif step.kind == "set_margin_mode":
            mode = MarginMode.ISOLATED if step.flag else MarginMode.CROSS
            venue.set_margin_mode(acc_id, symbol, mode)
        elif step.kind == "add_margin":
            amount = step.fraction * max(1.0, venue.available_balance(acc))
            venue.add_margin(acc_id, symbol, amount, leg)
        elif step.kind == "reduce_margin":
            pos = acc.positions.get((symbol, leg))
            posted = pos.isolated_margin if pos else 1.0
            venue.reduce_margin(acc_id, symbol, step.fraction * 0.3 * max(1.0, posted), leg)
        elif step.kind == "cancel":
            open_ids = [o.id for o in acc.orders.values() if o.status == "open"]
            if open_ids:
                pick = min(len(open_ids) - 1, int(step.fraction * len(open_ids)))
                venue.cancel_order(acc_id, open_ids[pick])
        else:  # pragma: no cover - the strategy draws only the kinds above
            raise AssertionError(step.kind)
    except ccxt.BaseError:
        pass
    venue.advance_to(min(venue.end_ms, venue.now_ms + step.ticks * STEP_MS))


opening_st = st.tuples(
    st.sampled_from(list(MarginMode)),
    st.sampled_from([5.0, 10.0, 20.0, 50.0]),
    sides_st,
    st.floats(0.2, 0.9),
)
"""How each account opens on each symbol before the random steps: mode, leverage, side, size."""


@settings(max_examples=80, deadline=None)
@given(
    profile=st.sampled_from(sorted(PROFILES)),
    deposits=st.tuples(st.floats(2_000.0, 200_000.0), st.floats(2_000.0, 200_000.0)),
    mark_half_life_s=st.sampled_from([0.0, 3.0]),
    funding_rate=st.floats(-0.002, 0.002),
    btc_returns=st.lists(log_return_st, min_size=TICKS, max_size=TICKS),
    eth_returns=st.lists(log_return_st, min_size=TICKS, max_size=TICKS),
    openings=st.lists(opening_st, min_size=4, max_size=4),
    steps=st.lists(steps_st, min_size=5, max_size=40),
)
def test_money_is_conserved_through_any_orders_and_price_path(
    profile: str,
    deposits: tuple[float, float],
    mark_half_life_s: float,
    funding_rate: float,
    btc_returns: list[float],
    eth_returns: list[float],
    openings: list[tuple[MarginMode, float, str, float]],
    steps: list[Step],
) -> None:
    # Arrange: a one-way and a hedge account, each opening on BTC and ETH (ticks interleaved
    # half a second apart) in a drawn mode, leverage, side and size.
    feeds = {BTC: path_bars(BTC, btc_returns, 0), ETH: path_bars(ETH, eth_returns, 500)}
    venue = PaperVenue(
        get_profile(profile), markets(mark_half_life_s, funding_rate), feeds, insurance_fund=1e6
    )
    for (acc_id, hedge), deposit in zip(ACCOUNTS.items(), deposits, strict=True):
        venue.add_account(acc_id, deposit, hedge_mode=hedge)
    check_books(venue, "start")
    pairs = [(a, s) for a in ACCOUNTS for s in SYMBOLS]
    for (acc_id, symbol), (mode, leverage, side, fraction) in zip(pairs, openings, strict=True):
        apply(venue, Step("set_margin_mode", acc_id, symbol, flag=mode is MarginMode.ISOLATED))
        apply(venue, Step("set_leverage", acc_id, symbol, offset=leverage, ticks=0))
        apply(venue, Step("market", acc_id, symbol, side, fraction / 2, ticks=0))
        check_books(venue, f"opened {acc_id} {symbol}")

    # Act / Assert: the books balance after every step, and after the rest of the path.
    for i, step in enumerate(steps):
        apply(venue, step)
        check_books(venue, f"after step {i}: {step}")
    venue.advance_to(venue.end_ms)
    check_books(venue, "at the end")


def test_crash_past_bankruptcy_in_both_margin_modes_keeps_the_books_balanced() -> None:
    # Arrange: four accounts, long and short, isolated and cross, at 20x; BTC falls 40% in one
    # tick, then jumps to 125,000 in the next.
    feeds = {
        BTC: path_bars(BTC, [0.0, math.log(0.6), math.log(125 / 60), 0.0], 0),
        ETH: path_bars(ETH, [], 0),
    }
    venue = PaperVenue(get_profile("binance"), markets(0.0, 0.0), feeds)
    for mode in MarginMode:
        for side in ("buy", "sell"):
            acc_id = f"{mode.value}-{side}"
            venue.add_account(acc_id, 10_000.0)
            if mode is MarginMode.ISOLATED:
                venue.set_margin_mode(acc_id, BTC, mode)
            venue.set_leverage(acc_id, BTC, 20.0)
            venue.create_order(acc_id, BTC, "market", side, 1.0, None)
    check_books(venue, "opened")

    # Act / Assert
    for i in range(1, 5):
        venue.advance_to(T0 + i * STEP_MS)
        check_books(venue, f"tick {i}")

    # Assert: all four were liquidated, each past its bankruptcy price.
    assert len(venue.liquidations) == 4
    assert all(r.shortfall > 0 for r in venue.liquidations)
    assert {(r.margin_mode, r.side) for r in venue.liquidations} == {
        (m.value, s.value) for m in MarginMode for s in Side
    }
    assert venue.ledger.shortfall_covered == pytest.approx(
        sum(r.shortfall for r in venue.liquidations), rel=1e-12
    )
