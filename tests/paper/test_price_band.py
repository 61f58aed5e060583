"""Binance's market order price cap and floor on the paper venue (issue 14, step 2).

On Binance USDⓈ-M a market order fills only within a ratio of the mark price: a buy at most
``mark * (1 + cap)``, a sell at least ``mark * (1 - floor)``; the rest expires ("What Are Market
Order and Limit Order Price Cap and Floor Ratio", docs/venue_rules.md). The paper venue gives a
binance market a 5% band unless its config says otherwise, and no band on the other venues. A
triggered stop-market obeys it, the liquidation engine does not: a stop that a gap carries
beyond the band expires, and the position is left for the liquidation engine.

Venues are built from a config section (:func:`riskguard.testing.paper_section`) on a tick
series one second apart, so the mark (5 s half-life) lags the last price in a gap; the partial
fill needs a bar with a range to walk (on a tick series a taker fills at the tick's price), so
that venue is built directly.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

import pytest

from riskguard.domain import Side, Tier
from riskguard.errors import ConfigError
from riskguard.paper.config import PaperSetup
from riskguard.paper.engine import PaperVenue
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.paper.venue_rules import rules_for
from riskguard.risk import get_profile
from riskguard.testing.paper import START_MS, paper_section, paper_setup
from riskguard.testing.positions import BTC

ACCOUNT = "main"
GAP = [100_000.0] * 5 + [80_000.0] * 30
"""The last price gaps 20% at 5 s and stays; the mark follows it down over several seconds."""
GAP_MS = START_MS + 5_000


def setup_with_stop(
    venue: str, prices: Sequence[float], stop_at: float, market: Mapping[str, Any] | None = None
) -> tuple[PaperSetup, str]:
    """A 10x isolated long of 0.2 BTC at 100,000 (liquidation near 90,452) with a stop-market
    at ``stop_at`` on the last price; returns the setup and the stop's id."""
    setup = paper_setup(paper_section(venue=venue, market=market), prices=prices, step_s=1.0)
    stop = setup.venue.create_order(
        ACCOUNT,
        BTC,
        "market",
        "sell",
        0.2,
        None,
        reduce_only=True,
        trigger_price=stop_at,
        stop_loss=True,
        trigger_source="last",
    )
    return setup, stop.id


def test_binance_markets_get_a_five_percent_band_and_other_venues_none() -> None:
    # Arrange / Act
    bands = {
        venue: paper_setup(paper_section(venue=venue)).venue.markets[BTC].price_band
        for venue in ("binance", "binanceusdm", "bybit", "okx", "hyperliquid", "gate", "generic")
    }

    # Assert
    assert bands == {
        "binance": 0.05,
        "binanceusdm": 0.05,
        "bybit": None,
        "okx": None,
        "hyperliquid": None,
        "gate": None,
        "generic": None,
    }
    assert rules_for("binance").default_price_band_pct == 5.0


def test_binance_stop_in_a_gap_beyond_the_band_expires_and_the_engine_liquidates_the_position() -> (
    None
):
    # Arrange: a stop at 95,000; at 5 s the last price is 80,000 and the mark about 97,411, so
    # the floor is about 92,540 and nothing can sell within it
    setup, stop_id = setup_with_stop("binance", GAP, 95_000.0)
    venue = setup.venue
    acc = venue.accounts[ACCOUNT]

    # Act
    venue.advance_to(GAP_MS)
    stop = acc.orders[stop_id]
    status_at_gap, mark_at_gap = stop.status, venue.mark_price(BTC)
    venue.advance_to(venue.end_ms)

    # Assert: the stop fired and expired unfilled ...
    assert mark_at_gap * 0.95 > 80_000.0
    assert (status_at_gap, stop.filled) == ("expired", 0.0)
    assert stop.trades == []
    # ... the position stayed open for the liquidation engine, which is not held to the band:
    # it closed at the traded 80,000, more than 5% under the mark, and the fund paid past
    # bankruptcy.
    (record,) = venue.liquidations
    assert record.time_ms > GAP_MS
    assert record.fill_price == 80_000.0
    assert record.fill_price < record.mark_price * 0.95
    assert record.shortfall > 0
    assert acc.positions == {}


@pytest.mark.parametrize("venue_name", ["bybit", "okx", "hyperliquid", "gate", "generic"])
def test_other_venues_fill_the_same_stop_in_the_gap_and_pay_past_bankruptcy_themselves(
    venue_name: str,
) -> None:
    # Arrange
    setup, stop_id = setup_with_stop(venue_name, GAP, 95_000.0)
    venue = setup.venue
    acc = venue.accounts[ACCOUNT]

    # Act
    venue.advance_to(venue.end_ms)

    # Assert: no band: the stop sold everything at 80,000; nothing was left to liquidate
    stop = acc.orders[stop_id]
    assert (stop.status, stop.filled, stop.average) == ("closed", 0.2, 80_000.0)
    assert venue.liquidations == []


def test_binance_stop_in_a_gap_within_the_band_fills() -> None:
    # Arrange: the last price gaps 4% to 96,000; the mark (about 99,482) puts the floor near
    # 94,508
    prices = [100_000.0] * 5 + [96_000.0] * 10
    setup, stop_id = setup_with_stop("binance", prices, 97_000.0)
    venue = setup.venue

    # Act
    venue.advance_to(GAP_MS)

    # Assert
    stop = venue.accounts[ACCOUNT].orders[stop_id]
    assert (stop.status, stop.filled, stop.average) == ("closed", 0.2, 96_000.0)
    assert venue.accounts[ACCOUNT].positions == {}


def test_binance_market_with_the_band_turned_off_fills_the_stop_in_the_gap() -> None:
    # Arrange: market_price_band_pct: null
    setup, stop_id = setup_with_stop("binance", GAP, 95_000.0, {"market_price_band_pct": None})

    # Act
    setup.venue.advance_to(GAP_MS)

    # Assert
    stop = setup.venue.accounts[ACCOUNT].orders[stop_id]
    assert (stop.status, stop.filled) == ("closed", 0.2)


def test_a_band_set_on_another_venues_market_applies_there() -> None:
    # Arrange: a bybit market with a 10% band: the floor at the gap is about 87,670
    setup, stop_id = setup_with_stop("bybit", GAP, 95_000.0, {"market_price_band_pct": 10})

    # Act
    setup.venue.advance_to(GAP_MS)

    # Assert
    stop = setup.venue.accounts[ACCOUNT].orders[stop_id]
    assert (stop.status, stop.filled) == ("expired", 0.0)


def test_market_order_whose_impact_reaches_past_the_band_fills_in_part_and_the_rest_expires() -> (
    None
):
    # Arrange: a one-minute bar trading 100,000 to 110,000, no spread, impact 10% per million of
    # notional and a 5% band: 10 BTC at 100,000 would pay 10% (110,000, within the bar), so
    # only about 5 BTC can fill within the cap
    market = PaperMarket(
        BTC,
        (Tier(0.0, math.inf, 0.005),),
        spread=0.0,
        slippage=SlippageModel(base=0.0, per_million=0.1, speed_factor=0.0),
        price_band=0.05,
    )
    bar = Bars(BTC, (START_MS,), (100_000.0,), (110_000.0,), (100_000.0,), (100_000.0,), 60_000)
    venue = PaperVenue(get_profile("binance"), [market], {BTC: bar})
    venue.add_account(ACCOUNT, 200_000.0)
    assert venue.last_price(BTC) == venue.mark_price(BTC) == 100_000.0

    # Act
    order = venue.create_order(ACCOUNT, BTC, "market", "buy", 10.0, None)

    # Assert: the part within the cap filled at one price at most 5% over the mark; the rest
    # expired and opened nothing
    (trade,) = venue.accounts[ACCOUNT].trades
    assert order.status == "expired"
    assert 4.99 <= order.filled <= 5.0
    assert 104_900.0 < trade.price <= 105_000.0
    assert venue.accounts[ACCOUNT].positions[(BTC, Side.LONG)].size == order.filled


@pytest.mark.parametrize("value", [0, -5, 100, "wide"])
def test_market_price_band_pct_outside_0_to_100_is_a_config_error_naming_its_path(
    value: object,
) -> None:
    # Arrange
    section = paper_section(market={"market_price_band_pct": value})

    # Act / Assert
    with pytest.raises(ConfigError, match=r"paper\.markets\[0\]\.market_price_band_pct: "):
        paper_setup(section)
