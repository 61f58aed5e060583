"""One paper account holding a 2 BTC long at 10x on a flat price, for the executor's tests."""

from __future__ import annotations

from riskguard.clock import VirtualClock, to_datetime
from riskguard.domain import AccountSnapshot, MarginMode, Side, Tier
from riskguard.exchange.ccxt_account import snapshot_from_ccxt, tiers_from_ccxt
from riskguard.guard.rules.base import Action, ActionKind, Level
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket
from riskguard.risk import get_profile

SYMBOL = "BTC/USDT:USDT"


def long_venue(
    mode: MarginMode = MarginMode.CROSS, seconds: int = 50
) -> tuple[PaperVenue, VirtualClock]:
    """Account ``main`` (100,000) long 2 BTC at 10x on a price flat at 100,000 for ``seconds``."""
    prices = tuple([100_000.0] * seconds)
    times = tuple(1_700_000_000_000 + i * 1000 for i in range(seconds))
    bars = Bars(SYMBOL, times, prices, prices, prices, prices, 0)
    market = PaperMarket(SYMBOL, (Tier(0, float("inf"), 0.005, 0, 125),), mark_half_life_s=0)
    venue = PaperVenue(get_profile("binance"), [market], {SYMBOL: bars})
    venue.add_account("main", 100_000.0)
    if mode is MarginMode.ISOLATED:
        venue.set_margin_mode("main", SYMBOL, mode)
    venue.set_leverage("main", SYMBOL, 10)
    venue.create_order("main", SYMBOL, "market", "buy", 2.0, None)
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return venue, clock


async def snapshot_of(client: PaperExchange) -> AccountSnapshot:
    """The account as the guard reads it through ``client``."""
    markets = await client.load_markets()
    tiers = {SYMBOL: tiers_from_ccxt(await client.fetch_market_leverage_tiers(SYMBOL))}
    return snapshot_from_ccxt(
        account="main",
        venue="binance",
        balance=await client.fetch_balance(),
        positions=await client.fetch_positions(),
        markets=markets,
        tiers=tiers,
        taken_at=to_datetime(client.milliseconds()),
    )


def reduce_long(
    target: float, kind: ActionKind = ActionKind.REDUCE, size_before: float = 2.0
) -> Action:
    """Reduce (or close) the long to ``target`` BTC."""
    return Action(
        kind=kind,
        account="main",
        symbol=SYMBOL,
        side=Side.LONG,
        rule="liquidation_distance",
        level=Level.ACT,
        reason="test",
        size_before=size_before,
        target_size=target,
    )
