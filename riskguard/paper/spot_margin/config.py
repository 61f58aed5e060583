"""The paper spot margin venue's configuration (pydantic, frozen and strict) and the one place a
venue is built from it (:func:`build_spot_margin`).

Example (YAML)::

    spot_margin:
      quote_asset: USDT
      markets:
        - symbol: BTC/USDT
          feed: {csv: ../shared/data/crashes/btcusdt-perp-2021-05-19.csv}
      rules:
        interest_per_hour_pct: {USDT: 0.0005, BTC: 0.0002}
      accounts:
        - id: borrowed-long
          holdings: {USDT: 1000}
          open:
            - {symbol: BTC/USDT, side: buy, quote_value: 3000, side_effect: MARGIN_BUY}

Percentages are in percent (``taker_fee_pct: 0.1`` is 10 bp, ``interest_per_hour_pct: 0.0005``
is 0.0005% an hour), levels are margin levels (a ratio: 1.1), times in the unit their name says.
Every problem is one line naming its field (``spot_margin.rules.margin_call_level: must be above
liquidation_level``).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from riskguard.clock import VirtualClock
from riskguard.errors import ConfigError
from riskguard.paper.config import CsvFeedIn, GbmFeedIn, JumpFeedIn, SlippageIn, feed_bars
from riskguard.paper.feeds import Bars
from riskguard.paper.market import SlippageModel
from riskguard.paper.price_path import Intrabar
from riskguard.paper.spot_margin.client import SpotMarginExchange
from riskguard.paper.spot_margin.rules import (
    BINANCE_BORROW_LIMIT_LEVEL,
    BINANCE_LIQUIDATION_FEE_RATE,
    BINANCE_LIQUIDATION_LEVEL,
    BINANCE_LIQUIDATION_STOP_LEVEL,
    BINANCE_MARGIN_CALL_LEVEL,
    MarginRules,
    SpotMarket,
)
from riskguard.paper.spot_margin.venue import SpotMarginVenue
from riskguard.validation import NonNegative, Positive, StrictModel, problem_lines

Level = Annotated[float, Field(gt=1, le=100, allow_inf_nan=False)]
Asset = Annotated[str, Field(pattern=r"^[A-Z0-9]{1,20}$")]
DEFAULT_START = "2024-01-01T00:00:00Z"


class SpotMarketIn(StrictModel):
    """One spot pair: costs, amount steps and its price feed."""

    symbol: str = Field(pattern=r"^[A-Z0-9]{1,20}/[A-Z0-9]{1,20}$", description="BASE/QUOTE")
    maker_fee_pct: Annotated[float, Field(ge=0, lt=10)] = Field(
        0.1, description="maker fee in percent of the traded value (Binance spot: 0.1)"
    )
    taker_fee_pct: Annotated[float, Field(ge=0, lt=10)] = Field(
        0.1, description="taker fee in percent of the traded value (Binance spot: 0.1)"
    )
    spread_bps: Annotated[float, Field(ge=0, lt=1000)] = Field(
        1.0, description="bid-ask spread in basis points of the price"
    )
    slippage: SlippageIn = Field(SlippageIn(), description="impact of size and speed on fills")
    amount_step: Positive = Field(0.00001, description="amount step, in the base asset")
    min_amount: Positive = Field(0.00001, description="smallest order, in the base asset")
    price_tick: Positive = Field(0.01, description="price step, in the quote asset")
    margin_price_half_life_s: Annotated[float, Field(ge=0, le=86_400)] = Field(
        5.0,
        description="the margin price (Binance's price index) follows the last price "
        "with this half-life, in seconds; 0: the last price itself",
    )
    feed: CsvFeedIn | GbmFeedIn | JumpFeedIn = Field(
        description="prices: a crash CSV (relative to the config file) or a synthetic path"
    )


class MarginRulesIn(StrictModel):
    """Binance Cross Margin Classic 3x by default (``docs/venue_rules.md``)."""

    liquidation_level: Level = Field(
        BINANCE_LIQUIDATION_LEVEL, description="liquidation at or below this margin level"
    )
    margin_call_level: Level = Field(
        BINANCE_MARGIN_CALL_LEVEL, description="a margin call at or below this margin level"
    )
    liquidation_stop_level: Level = Field(
        BINANCE_LIQUIDATION_STOP_LEVEL,
        description="a liquidation sells until the margin level is above this",
    )
    borrow_limit_level: Level = Field(
        BINANCE_BORROW_LIMIT_LEVEL,
        description="no borrow may leave the margin level below this (1.5 is 3x leverage)",
    )
    liquidation_fee_pct: Annotated[float, Field(ge=0, lt=50)] = Field(
        BINANCE_LIQUIDATION_FEE_RATE * 100,
        description="liquidation fee in percent of the liquidated assets",
    )
    interest_per_hour_pct: dict[Asset, Annotated[float, Field(ge=0, lt=10)]] = Field(
        default_factory=dict,
        description="hourly interest rate per borrowed asset, in percent (0 when left out)",
    )
    bad_debt_paid_by: Literal["user", "risk_fund"] = Field(
        "user",
        description="who bears a debt the collateral could not repay: the user (it stays on "
        "the account) or the venue's margin risk fund (written off)",
    )

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.margin_call_level <= self.liquidation_level:
            raise ValueError("margin_call_level: must be above liquidation_level")
        if self.liquidation_stop_level <= self.liquidation_level:
            raise ValueError("liquidation_stop_level: must be above liquidation_level")
        if self.borrow_limit_level <= self.liquidation_level:
            raise ValueError("borrow_limit_level: must be above liquidation_level")
        return self


class OpenOrderIn(StrictModel):
    """A market order placed at the first price, through the venue's own order path."""

    symbol: str = Field(description="a configured market")
    side: Literal["buy", "sell"]
    amount: Positive | None = Field(None, description="size in the base asset")
    quote_value: Positive | None = Field(None, description="size as value in the quote asset")
    side_effect: Literal["NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY"] = Field(
        "MARGIN_BUY", description="Binance's sideEffectType"
    )

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if (self.amount is None) == (self.quote_value is None):
            raise ValueError("give either amount or quote_value")
        return self


class MarginAccountIn(StrictModel):
    """A cross margin account as it starts."""

    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    holdings: dict[Asset, NonNegative] = Field(
        description="what the account holds at the start, per asset (borrowed funds included)"
    )
    borrowed: dict[Asset, NonNegative] = Field(
        default_factory=dict, description="principal owed at the start, per asset"
    )
    open: tuple[OpenOrderIn, ...] = Field((), description="market orders placed at the start")


class SpotMarginConfig(StrictModel):
    """The paper spot margin venue: markets, rules and accounts."""

    quote_asset: Asset = Field("USDT", description="every market's quote; values are in it")
    intrabar: Intrabar = Field(Intrabar.NEAREST, description="the order a kline is walked in")
    start: datetime | None = Field(None, description="skip the feeds before this time")
    end: datetime | None = Field(None, description="stop the feeds at this time")
    markets: tuple[SpotMarketIn, ...] = Field(min_length=1)
    rules: MarginRulesIn = MarginRulesIn()
    accounts: tuple[MarginAccountIn, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Self:
        symbols = [m.symbol for m in self.markets]
        if len(set(symbols)) != len(symbols):
            raise ValueError("markets: each symbol may appear once")
        for i, symbol in enumerate(symbols):
            if symbol.partition("/")[2] != self.quote_asset:
                raise ValueError(f"markets[{i}].symbol: must be quoted in {self.quote_asset}")
        valued = {self.quote_asset} | {s.partition("/")[0] for s in symbols}
        for asset in self.rules.interest_per_hour_pct:
            if asset not in valued:
                raise ValueError(f"rules.interest_per_hour_pct.{asset}: no market values it")
        ids = [a.id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("accounts: each id may appear once")
        for i, acc in enumerate(self.accounts):
            for part in ("holdings", "borrowed"):
                for asset in getattr(acc, part):
                    if asset not in valued:
                        raise ValueError(f"accounts[{i}].{part}.{asset}: no market values it")
            for j, o in enumerate(acc.open):
                if o.symbol not in symbols:
                    raise ValueError(f"accounts[{i}].open[{j}].symbol: no market {o.symbol!r}")
        return self


def parse_spot_margin_config(data: Any, source: str = "config") -> SpotMarginConfig:
    """Validate a decoded ``spot_margin`` section; every problem is named by its path."""
    try:
        return SpotMarginConfig.model_validate(data)
    except ValidationError as exc:
        raise ConfigError(f"{source}: " + "; ".join(problem_lines(exc, "spot_margin"))) from None


class SpotMarginSetup:
    """A built spot margin venue, its virtual clock, and a client factory."""

    def __init__(self, venue: SpotMarginVenue, clock: VirtualClock) -> None:
        self.venue = venue
        self.clock = clock

    def client(self, account: str) -> SpotMarginExchange:
        """A ccxt-shaped client of ``account``; several may share one account."""
        return SpotMarginExchange(self.venue, account, clock=self.clock)


def _ms(t: datetime, where: str) -> int:
    if t.tzinfo is None:
        raise ConfigError(f"spot_margin.{where}: times need a timezone (e.g. Z)")
    return int(t.timestamp() * 1000)


def build_spot_margin(
    config: SpotMarginConfig,
    base_dir: Path | str = ".",
    *,
    bars: Mapping[str, Bars] | None = None,
) -> SpotMarginSetup:
    """Build the venue, open the accounts (and their start orders) and make the clock.

    ``bars`` gives price series already read, by symbol, in place of the markets' feeds.
    """
    base = Path(base_dir)
    default_start = _ms(datetime.fromisoformat(DEFAULT_START), "start")
    start = _ms(config.start, "start") if config.start else None
    end = _ms(config.end, "end") if config.end else None
    markets, feeds = [], {}
    given = bars or {}
    for i, m in enumerate(config.markets):
        try:
            series = given.get(m.symbol) or feed_bars(m.feed, m.symbol, base, default_start)
            if start is not None or end is not None:
                series = series.window(start, end)
            markets.append(
                SpotMarket(
                    symbol=m.symbol,
                    maker_fee=m.maker_fee_pct / 100,
                    taker_fee=m.taker_fee_pct / 100,
                    spread=m.spread_bps / 10_000,
                    slippage=SlippageModel(
                        m.slippage.base_bps / 10_000,
                        m.slippage.per_million_bps / 10_000,
                        m.slippage.speed_factor,
                    ),
                    amount_step=m.amount_step,
                    min_amount=m.min_amount,
                    price_tick=m.price_tick,
                    mark_half_life_s=m.margin_price_half_life_s,
                )
            )
        except ValueError as exc:
            raise ConfigError(f"spot_margin.markets[{i}]: {exc}") from None
        feeds[m.symbol] = series
    r = config.rules
    rules = MarginRules(
        quote=config.quote_asset,
        interest_per_hour={a: pct / 100 for a, pct in r.interest_per_hour_pct.items()},
        liquidation_level=r.liquidation_level,
        margin_call_level=r.margin_call_level,
        liquidation_stop_level=r.liquidation_stop_level,
        borrow_limit_level=r.borrow_limit_level,
        liquidation_fee_rate=r.liquidation_fee_pct / 100,
        bad_debt_paid_by=r.bad_debt_paid_by,
    )
    venue = SpotMarginVenue(markets, feeds, rules, intrabar=config.intrabar)
    for i, acc in enumerate(config.accounts):
        venue.add_account(acc.id, acc.holdings, acc.borrowed)
        for j, o in enumerate(acc.open):
            try:
                price = venue.last_price(o.symbol)
                amount = o.amount if o.amount is not None else (o.quote_value or 0.0) / price
                venue.create_order(
                    acc.id, o.symbol, "market", o.side, amount, side_effect=o.side_effect
                )
            except Exception as exc:
                raise ConfigError(
                    f"spot_margin.accounts[{i}].open[{j}]: cannot place: {exc}"
                ) from None
        level = venue.margin_level(acc.id)
        if level <= rules.liquidation_level:
            raise ConfigError(
                f"spot_margin.accounts[{i}]: starts at margin level {level:.4g}, at or below "
                f"liquidation_level {rules.liquidation_level:g}"
            )
    clock = VirtualClock(venue.now_ms)
    clock.subscribe(venue.advance_to)
    return SpotMarginSetup(venue, clock)
