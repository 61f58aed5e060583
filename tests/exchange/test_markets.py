"""SharedMarkets: one load per exchange, tiers in as few calls as the venue allows, stale > none.

The ports are small fakes that record each request and raise ccxt errors on demand; one test runs
a real ccxt OKX client behind LiveExchange (its one tier request answered in-process) to check
that OKX's contract-bounded tiers end up as size tiers in base units.
"""

from __future__ import annotations

import asyncio
import math
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.domain import MarketRules, Tier, TierUnit
from riskguard.exchange.ccxt_account import tiers_from_ccxt
from riskguard.exchange.live import LiveExchange
from riskguard.exchange.markets import SharedMarkets, market_rules
from tests.exchange.test_live import OKX_BTC_POSITION_TIERS, okx_btc_swap_market

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
SPOT = "BTC/USDT"

MARKETS: dict[str, dict[str, Any]] = {
    BTC: {
        "symbol": BTC,
        "swap": True,
        "contract": True,
        "contractSize": 1.0,
        "precision": {"amount": 0.001, "price": 0.1},
        "limits": {"amount": {"min": 0.001}, "cost": {"min": 100.0}},
    },
    ETH: {"symbol": ETH, "swap": True, "contract": True, "contractSize": 1.0},
    SOL: {"symbol": SOL, "swap": True, "contract": True, "contractSize": 1.0},
    SPOT: {"symbol": SPOT, "spot": True, "swap": False, "contract": False},
}


def rows(rate: float = 0.004) -> list[dict[str, Any]]:
    """ccxt tiers of one symbol, Binance-style (maintenance amount in ``info['cum']``)."""
    return [
        {"minNotional": 0.0, "maxNotional": 50_000.0, "maintenanceMarginRate": rate,
         "maxLeverage": 125.0, "info": {"cum": "0"}},
        {"minNotional": 50_000.0, "maxNotional": 600_000.0, "maintenanceMarginRate": 2 * rate,
         "maxLeverage": 100.0, "info": {"cum": str(50_000.0 * rate)}},
    ]  # fmt: skip


class FakePort:
    """The part of an exchange port SharedMarkets uses; every request is recorded in ``calls``."""

    def __init__(self, *, bulk: bool, markets: dict[str, Any] | None = None) -> None:
        self.id = "binanceusdm" if bulk else "okx"
        self.has: dict[str, Any] = {
            "fetchLeverageTiers": True if bulk else False,  # noqa: SIM210 - ccxt's flag values
            "fetchMarketLeverageTiers": "emulated" if bulk else True,
        }
        self.markets: dict[str, Any] = {}
        self.answer_markets = dict(MARKETS if markets is None else markets)
        self.tier_rate = 0.004
        self.calls: list[tuple[str, Any]] = []
        self.adopted: list[dict[str, Any]] = []
        self.sources: list[Any] = []
        self.failures: dict[str, BaseException] = {}

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        self.calls.append(("load_markets", reload))
        await asyncio.sleep(0)  # a real request suspends: let concurrent callers interleave
        if "load_markets" in self.failures:
            raise self.failures["load_markets"]
        self.markets = dict(self.answer_markets)
        return self.markets

    async def fetch_leverage_tiers(self, symbols: list[str]) -> dict[str, list[dict[str, Any]]]:
        self.calls.append(("fetch_leverage_tiers", list(symbols)))
        await asyncio.sleep(0)
        if "fetch_leverage_tiers" in self.failures:
            raise self.failures["fetch_leverage_tiers"]
        return {s: rows(self.tier_rate) for s in symbols}

    def adopt_markets(self, markets: dict[str, Any], source: Any = None) -> None:
        self.sources.append(source)
        self.adopted.append(dict(markets))
        self.markets = dict(markets)


def run(coro: Any) -> Any:
    return asyncio.run(coro)


# ---------------------------------------------------------------------- ensure


def test_ensure_loads_markets_once_through_the_first_port() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    run(shared.ensure(port, now_ms=1_000))

    assert port.calls == [("load_markets", False)]
    assert shared.loaded is True
    assert shared.markets == MARKETS
    assert shared.loaded_ms == 1_000


def test_ensure_hands_loaded_markets_to_other_ports_without_a_request() -> None:
    shared = SharedMarkets("okx")
    first, second, third = FakePort(bulk=False), FakePort(bulk=False), FakePort(bulk=False)

    async def scenario() -> None:
        await shared.ensure(first, 1_000)
        await shared.ensure(second, 2_000)
        await shared.ensure(third, 3_000)

    run(scenario())

    assert first.calls == [("load_markets", False)]
    assert second.calls == []
    assert third.calls == []
    assert second.adopted == [MARKETS]
    assert third.markets == MARKETS
    assert shared.loaded_ms == 1_000


def test_ensure_does_not_adopt_into_a_port_that_already_has_markets() -> None:
    shared = SharedMarkets()
    first, second = FakePort(bulk=False), FakePort(bulk=False)
    second.markets = {BTC: MARKETS[BTC]}

    async def scenario() -> None:
        await shared.ensure(first, 1_000)
        await shared.ensure(second, 2_000)

    run(scenario())

    assert second.adopted == []
    assert second.calls == []


def test_ensure_with_a_port_that_cannot_adopt_makes_no_request() -> None:
    class ReadOnlyPort:
        markets: dict[str, Any] = {}  # noqa: RUF012 - a stand-in with no adopt_markets

    shared = SharedMarkets()
    first = FakePort(bulk=False)

    async def scenario() -> None:
        await shared.ensure(first, 1_000)
        await shared.ensure(ReadOnlyPort(), 2_000)

    run(scenario())

    assert first.calls == [("load_markets", False)]


def test_ensure_concurrent_first_calls_load_markets_only_once() -> None:
    shared = SharedMarkets()
    ports = [FakePort(bulk=False) for _ in range(4)]

    async def scenario() -> None:
        await asyncio.gather(*(shared.ensure(p, 1_000) for p in ports))

    run(scenario())

    assert sum(len(p.calls) for p in ports) == 1
    assert sum(len(p.adopted) for p in ports) == 3


def test_ensure_whose_load_fails_propagates_the_error_and_stays_unloaded() -> None:
    shared = SharedMarkets()
    port = FakePort(bulk=True)
    port.failures["load_markets"] = ccxt.ExchangeNotAvailable("503")

    with pytest.raises(ccxt.ExchangeNotAvailable):
        run(shared.ensure(port, 1_000))

    assert shared.loaded is False
    assert shared.loaded_ms is None


def test_ensure_builds_the_order_rules_of_every_market() -> None:
    shared = SharedMarkets()

    run(shared.ensure(FakePort(bulk=False), 1_000))

    assert set(shared.market_rules) == set(MARKETS)
    assert shared.market_rules[BTC] == MarketRules(
        symbol=BTC,
        contract_size=1.0,
        amount_step=0.001,
        min_amount=0.001,
        price_tick=0.1,
        min_notional=100.0,
    )


# ---------------------------------------------------------------------- tiers: bulk venues


def test_bulk_venue_fetches_every_contract_tier_in_one_call_at_first_load() -> None:
    shared = SharedMarkets("binanceusdm")
    port = FakePort(bulk=True)

    run(shared.ensure(port, 1_000))

    assert port.calls == [("load_markets", False), ("fetch_leverage_tiers", [BTC, ETH, SOL])]
    assert set(shared.tiers) == {BTC, ETH, SOL}  # the spot market has no tiers
    assert shared.tiers[BTC] == tiers_from_ccxt(rows())


def test_bulk_venue_ensure_tiers_after_the_bulk_call_asks_nothing() -> None:
    shared = SharedMarkets("binanceusdm")
    port = FakePort(bulk=True)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        port.calls.clear()
        await shared.ensure_tiers(port, [BTC, "DOGE/USDT:USDT"])  # DOGE: not listed, no tiers

    run(scenario())

    assert port.calls == []


def test_first_load_whose_tier_call_fails_is_redone_whole_by_the_next_ensure() -> None:
    shared = SharedMarkets("binanceusdm")
    loader, port = FakePort(bulk=True), FakePort(bulk=True)
    loader.failures["fetch_leverage_tiers"] = ccxt.RequestTimeout()

    async def scenario() -> None:
        with pytest.raises(ccxt.RequestTimeout):
            await shared.ensure(loader, 1_000)
        assert shared.loaded is False  # markets without their tiers are not kept
        await shared.ensure(port, 2_000)
        await shared.ensure_tiers(port, [BTC])

    run(scenario())

    assert port.calls == [("load_markets", False), ("fetch_leverage_tiers", [BTC, ETH, SOL])]
    assert port.adopted == []
    assert shared.loaded_ms == 2_000


def test_bulk_flag_only_counts_when_it_is_exactly_true() -> None:
    shared = SharedMarkets("binanceusdm")
    port = FakePort(bulk=True)
    port.has["fetchLeverageTiers"] = "emulated"  # truthy, but ccxt loops per symbol behind it

    run(shared.ensure(port, 1_000))

    assert port.calls == [("load_markets", False)]
    assert shared.tiers == {}


# ---------------------------------------------------------------------- tiers: per-symbol venues


def test_per_symbol_venue_fetches_no_tiers_at_first_load() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    run(shared.ensure(port, 1_000))

    assert port.calls == [("load_markets", False)]
    assert shared.tiers == {}


def test_per_symbol_venue_fetches_only_the_missing_held_symbols() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        await shared.ensure_tiers(port, [ETH, BTC, BTC])
        await shared.ensure_tiers(port, [BTC, SOL])
        await shared.ensure_tiers(port, [SOL, ETH])

    run(scenario())

    assert port.calls[1:] == [
        ("fetch_leverage_tiers", [BTC, ETH]),
        ("fetch_leverage_tiers", [SOL]),
    ]
    assert set(shared.tiers) == {BTC, ETH, SOL}


def test_per_symbol_venue_without_held_symbols_asks_nothing() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    run(shared.ensure_tiers(port, []))

    assert port.calls == []


def test_symbol_answered_without_rows_is_asked_again_next_time() -> None:
    class PartialPort(FakePort):
        async def fetch_leverage_tiers(self, symbols: list[str]) -> dict[str, Any]:
            self.calls.append(("fetch_leverage_tiers", list(symbols)))
            return {s: rows() if s == BTC else [] for s in symbols}

    shared = SharedMarkets("okx")
    port = PartialPort(bulk=False)

    async def scenario() -> None:
        await shared.ensure_tiers(port, [BTC, ETH])
        await shared.ensure_tiers(port, [BTC, ETH])

    run(scenario())

    assert set(shared.tiers) == {BTC}
    assert port.calls == [("fetch_leverage_tiers", [BTC, ETH]), ("fetch_leverage_tiers", [ETH])]


def test_concurrent_ensure_tiers_for_the_same_symbol_fetch_it_once() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    async def scenario() -> None:
        await asyncio.gather(*(shared.ensure_tiers(port, [BTC]) for _ in range(3)))

    run(scenario())

    assert port.calls == [("fetch_leverage_tiers", [BTC])]


def test_okx_tiers_through_live_exchange_become_size_tiers_in_base_units() -> None:
    async def scenario() -> SharedMarkets:
        client = ccxt.okx()

        async def position_tiers(params: Any = None, context: Any = None) -> Any:
            return OKX_BTC_POSITION_TIERS

        client.publicGetPublicPositionTiers = position_tiers
        try:
            client.set_markets([okx_btc_swap_market(client)])  # load_markets needs no request
            port = LiveExchange(client)
            shared = SharedMarkets("okx")
            await shared.ensure(port, 1_000)
            await shared.ensure_tiers(port, [BTC])
            return shared
        finally:
            await client.close()

    shared = run(scenario())

    assert shared.tiers[BTC] == (
        Tier(0.0, 20.0, 0.004, 0.0, 100.0, TierUnit.SIZE),  # 2000 contracts x 0.01 BTC
        Tier(20.0, 40.0, 0.006, 0.0, 75.0, TierUnit.SIZE),
    )
    assert shared.market_rules[BTC].contract_size == 0.01


# ---------------------------------------------------------------------- refresh


def test_refresh_reloads_markets_and_refetches_the_known_tiers() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        await shared.ensure_tiers(port, [BTC, ETH])
        port.calls.clear()
        port.answer_markets = {**MARKETS, "XRP/USDT:USDT": {"swap": True}}
        port.tier_rate = 0.005
        await shared.refresh(port, 9_000)

    run(scenario())

    assert port.calls == [("load_markets", True), ("fetch_leverage_tiers", [BTC, ETH])]
    assert "XRP/USDT:USDT" in shared.markets
    assert "XRP/USDT:USDT" in shared.market_rules
    assert shared.tiers[BTC][0].maintenance_margin_rate == 0.005
    assert shared.loaded_ms == 9_000
    assert shared.refreshes == 1


def test_refresh_on_a_per_symbol_venue_without_known_tiers_fetches_none() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    run(shared.refresh(port, 1_000))

    assert port.calls == [("load_markets", True)]
    assert shared.refreshes == 1


def test_refresh_on_a_bulk_venue_makes_the_bulk_call_again() -> None:
    shared = SharedMarkets("binanceusdm")
    port = FakePort(bulk=True)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        port.calls.clear()
        port.tier_rate = 0.005
        await shared.refresh(port, 2_000)

    run(scenario())

    assert port.calls == [("load_markets", True), ("fetch_leverage_tiers", [BTC, ETH, SOL])]
    assert shared.tiers[ETH][0].maintenance_margin_rate == 0.005


@pytest.mark.parametrize("failing", ["load_markets", "fetch_leverage_tiers"])
@pytest.mark.parametrize("bulk", [True, False], ids=["bulk", "per-symbol"])
def test_refresh_that_fails_raises_and_keeps_the_previous_markets_and_tiers(
    failing: str, bulk: bool
) -> None:
    shared = SharedMarkets()
    port = FakePort(bulk=bulk)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        await shared.ensure_tiers(port, [BTC])
        port.answer_markets = {ETH: MARKETS[ETH]}  # what the failed refresh would have loaded
        port.tier_rate = 0.009
        port.failures[failing] = ccxt.RequestTimeout("refresh timed out")
        await shared.refresh(port, 9_000)

    before_rules = {BTC, ETH, SOL, SPOT}

    with pytest.raises(ccxt.RequestTimeout):
        run(scenario())

    assert shared.markets == MARKETS
    assert set(shared.market_rules) == before_rules
    assert shared.tiers[BTC] == tiers_from_ccxt(rows(0.004))
    assert shared.loaded_ms == 1_000
    assert shared.refreshes == 0


def test_refresh_that_failed_on_a_bulk_venue_leaves_tier_checks_needing_no_call() -> None:
    shared = SharedMarkets("binanceusdm")
    port = FakePort(bulk=True)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        port.failures["load_markets"] = ccxt.NetworkError()
        with pytest.raises(ccxt.NetworkError):
            await shared.refresh(port, 2_000)
        port.calls.clear()
        await shared.ensure_tiers(port, ["NEW/USDT:USDT"])

    run(scenario())

    assert port.calls == []


def test_refresh_after_a_failed_refresh_succeeds_and_counts_once() -> None:
    shared = SharedMarkets("okx")
    port = FakePort(bulk=False)

    async def scenario() -> None:
        await shared.ensure(port, 1_000)
        port.failures["load_markets"] = ccxt.NetworkError()
        with pytest.raises(ccxt.NetworkError):
            await shared.refresh(port, 2_000)
        del port.failures["load_markets"]
        await shared.refresh(port, 3_000)

    run(scenario())

    assert shared.refreshes == 1
    assert shared.loaded_ms == 3_000


# ---------------------------------------------------------------------- market_rules


def test_market_rules_of_a_real_okx_swap_count_contracts_of_001_btc() -> None:
    async def parse() -> dict[str, Any]:
        client = ccxt.okx()
        try:
            return okx_btc_swap_market(client)
        finally:
            await client.close()

    rules = market_rules(BTC, run(parse()))

    assert rules == MarketRules(
        symbol=BTC,
        contract_size=0.01,
        amount_step=0.01,
        min_amount=0.01,
        price_tick=0.1,
        min_notional=None,  # OKX reports no minimum cost
    )


def test_market_rules_of_an_empty_market_fall_back_to_safe_defaults() -> None:
    rules = market_rules(SOL, {})

    assert rules == MarketRules(
        symbol=SOL,
        contract_size=1.0,
        amount_step=1.0,
        min_amount=0.0,
        price_tick=0.01,
        min_notional=None,
    )


def test_market_rules_take_the_largest_market_order_from_market_lot_size() -> None:
    # ccxt puts Binance's MARKET_LOT_SIZE in limits.market and LOT_SIZE in limits.amount: a
    # market order above 120 BTC is refused (-4005) although a limit order may hold 1,000.
    both = {"limits": {"market": {"max": 120.0}, "amount": {"max": 1000.0}}}
    amount_only = {"limits": {"amount": {"max": 1000.0}}}

    assert market_rules(BTC, both).max_market_amount == 120.0
    assert market_rules(BTC, amount_only).max_market_amount == 1000.0
    assert market_rules(BTC, {}).max_market_amount is None


def test_market_rules_treat_null_fields_like_missing_ones() -> None:
    market = {
        "contractSize": None,
        "precision": {"amount": None, "price": None},
        "limits": {"amount": {"min": None}, "cost": {"min": 0}},
    }

    assert market_rules(ETH, market) == market_rules(ETH, {})


# ---------------------------------------------------------------------- tiers_from_ccxt, size rows


def test_tiers_from_ccxt_size_rows_become_size_tiers_without_maintenance_amounts() -> None:
    size_rows = [
        {"minNotional": 20.0, "maxNotional": 40.0, "maintenanceMarginRate": 0.006,
         "maxLeverage": 75.0, "unit": "size"},
        {"minNotional": 0.0, "maxNotional": 20.0, "maintenanceMarginRate": 0.004,
         "maxLeverage": 100.0, "unit": "size"},
        {"minNotional": 40.0, "maxNotional": None, "maintenanceMarginRate": 0.01,
         "maxLeverage": 50.0, "unit": "size"},
    ]  # fmt: skip

    tiers = tiers_from_ccxt(size_rows)

    assert tiers == (
        Tier(0.0, 20.0, 0.004, 0.0, 100.0, TierUnit.SIZE),
        Tier(20.0, 40.0, 0.006, 0.0, 75.0, TierUnit.SIZE),
        Tier(40.0, math.inf, 0.01, 0.0, 50.0, TierUnit.SIZE),
    )


def test_tiers_from_ccxt_same_rows_in_notional_get_cumulative_amounts_but_size_rows_do_not() -> (
    None
):
    notional = [
        {"minNotional": 0.0, "maxNotional": 20.0, "maintenanceMarginRate": 0.004},
        {"minNotional": 20.0, "maxNotional": 40.0, "maintenanceMarginRate": 0.006},
    ]
    size = [{**row, "unit": "size"} for row in notional]

    notional_tiers = tiers_from_ccxt(notional)
    size_tiers = tiers_from_ccxt(size)

    assert notional_tiers[1].unit is TierUnit.NOTIONAL
    assert notional_tiers[1].maintenance_amount == pytest.approx(20.0 * (0.006 - 0.004))
    assert size_tiers[1].unit is TierUnit.SIZE
    assert size_tiers[1].maintenance_amount == 0.0


def test_refresh_hands_the_new_markets_to_the_ports_that_adopted_them() -> None:
    async def scenario() -> tuple[FakePort, FakePort]:
        shared = SharedMarkets("binanceusdm")
        first, second = FakePort(bulk=True), FakePort(bulk=True)
        await shared.ensure(first, 1)
        await shared.ensure(second, 2)
        await shared.refresh(first, 3)
        return first, second

    first, second = run(scenario())

    assert len(second.adopted) == 2  # at first use, then after the refresh
    assert second.sources == [first, first]  # shared from the client that loaded them
    assert first.adopted == []


def test_live_clients_of_one_exchange_share_market_dicts_instead_of_copying() -> None:
    import ccxt.async_support as ccxt_async

    from riskguard.exchange.live import LiveExchange

    async def scenario() -> None:
        source = LiveExchange(ccxt_async.okx())
        other = LiveExchange(ccxt_async.okx())
        try:
            market = {
                "id": "BTC-USDT-SWAP",
                "symbol": "BTC/USDT:USDT",
                "base": "BTC",
                "quote": "USDT",
                "settle": "USDT",
                "type": "swap",
                "swap": True,
                "contract": True,
                "contractSize": 0.01,
                "spot": False,
                "margin": False,
                "future": False,
                "option": False,
                "linear": True,
                "inverse": False,
                "active": True,
                "precision": {"amount": 1, "price": 0.1},
                "limits": {},
            }
            source.client.set_markets({"BTC/USDT:USDT": market})

            other.adopt_markets(source.markets, source)

            assert other.client.markets is source.client.markets
        finally:
            await source.close()
            await other.close()

    run(scenario())


# ---------------------------------------------------------------------- stop-size caps


def test_stop_size_caps_follow_the_market_rules_each_time_they_are_replaced() -> None:
    capped = {**MARKETS[BTC], "contractSize": 0.01, "limits": {"market": {"max": 120.0}}}
    port = FakePort(bulk=False, markets={BTC: capped, ETH: MARKETS[ETH]})
    shared = SharedMarkets()
    assert shared.max_stop_sizes == {}

    run(shared.ensure(port, 1_000))

    assert shared.max_stop_sizes == {BTC: pytest.approx(1.2)}  # 120 contracts of 0.01 BTC
    assert shared.max_stop_sizes is shared.max_stop_sizes  # read once per load
    port.answer_markets = {BTC: {**capped, "limits": {"market": {"max": 50.0}}}}
    run(shared.refresh(port, 2_000))
    assert shared.max_stop_sizes == {BTC: pytest.approx(0.5)}


@pytest.mark.parametrize(("venue", "bulk"), [("okx", False), ("binanceusdm", True)])
def test_tiers_are_wanted_exactly_when_ensure_tiers_would_ask_for_them(
    venue: str, bulk: bool
) -> None:
    shared = SharedMarkets(venue)
    port = FakePort(bulk=bulk)
    asks = [[ETH, BTC], [BTC], [], [BTC, SOL], [SOL, ETH], ["DOGE/USDT:USDT"]]

    async def scenario() -> list[tuple[bool, bool]]:
        await shared.ensure(port, 1_000)
        seen = []
        for symbols in asks:
            wanted = shared.tiers_wanted(symbols)
            before = len(port.calls)
            await shared.ensure_tiers(port, symbols)
            seen.append((wanted, len(port.calls) > before))
        return seen

    seen = run(scenario())

    assert all(wanted == asked for wanted, asked in seen)
    assert any(asked for _, asked in seen) == (not bulk)
