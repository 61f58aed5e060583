"""The ``paper`` configuration section and the one place that builds a paper venue from it.

Example (YAML)::

    paper:
      venue: binance
      intrabar: nearest            # nearest | high_first | low_first | adverse
      markets:
        - symbol: BTC/USDT:USDT
          maintenance_margin_rate: 0.004
          feed: {csv: ../shared/data/crashes/btcusdt-perp-2020-03-12.csv}
      accounts:
        - id: main
          balance: 10000
          positions:
            - {symbol: BTC/USDT:USDT, side: long, leverage: 20, margin_mode: isolated}
      faults:
        seed: 7
        methods:
          create_order: {latency_ms: {kind: uniform, low_ms: 50, high_ms: 400}, timeout_pct: 2}

Percentages are in percent (``taker_fee_pct: 0.05`` is 5 bp), times in the unit their name says.
Every number is finite and bounded (:mod:`riskguard.validation`); a market's tiers are sorted by
their lower bound without duplicates (in any order in the file) and use one kind of bound.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Literal, Self

import structlog
from pydantic import Field, ValidationError, model_validator

from riskguard.clock import PacedClock, VirtualClock
from riskguard.domain import MarginMode, Side, Tier
from riskguard.errors import ConfigError, InputError
from riskguard.paper.engine import Intrabar, PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.faults import FaultConfig, Latency, LatencyKind, MethodFaults, StaleMark
from riskguard.paper.feeds import Bars, gbm_bars, jump_diffusion_bars, read_price_csv
from riskguard.paper.market import PaperMarket, SlippageModel
from riskguard.paper.venue_rules import rules_for
from riskguard.risk.margin import with_cumulative_amounts
from riskguard.risk.venues import PROFILES, get_profile
from riskguard.validation import (
    Amount,
    Leverage,
    Positive,
    StrictModel,
    TierIn,
    at_least,
    load_yaml,
    problem_lines,
    read_text,
)

_LOG = structlog.get_logger("riskguard.paper")

Pct = Annotated[float, Field(ge=0, lt=100, allow_inf_nan=False)]
DAY_S = 86_400
YEAR_S = 366 * DAY_S
MAX_BARS = 2_000_000

DEFAULT_START = "2024-01-01T00:00:00Z"


class CsvFeedIn(StrictModel):
    """Prices from a Binance kline CSV (header or not) or a plain ``timestamp_ms,price`` CSV."""

    csv: str = Field(description="path, relative to the config file")


class GbmIn(StrictModel):
    start_price: Positive
    daily_volatility_pct: Annotated[float, Field(gt=0, le=1_000)] = 3.0
    bars: Annotated[int, Field(gt=0, le=MAX_BARS)] = 1440
    bar_s: Annotated[int, Field(gt=0, le=DAY_S)] = 60
    drift_per_day_pct: Annotated[float, Field(gt=-100, le=1_000)] = 0.0
    seed: Annotated[int, Field(ge=0, le=2**32 - 1)] = 0
    start: datetime | None = None


class JumpDiffusionIn(GbmIn):
    jumps_per_day: Annotated[float, Field(ge=0, le=1_440)] = 0.0
    jump_mean_pct: Annotated[float, Field(gt=-100, le=1_000)] = 0.0
    jump_std_pct: Annotated[float, Field(ge=0, le=1_000)] = 5.0
    crash_at_bar: Annotated[int, Field(ge=0, le=MAX_BARS)] | None = None
    crash_pct: Annotated[float, Field(gt=-100, le=1000)] = Field(
        -30.0, description="the scheduled move: negative for a crash, positive for a squeeze"
    )
    crash_bars: Annotated[int, Field(gt=0, le=MAX_BARS)] = 15


class GbmFeedIn(StrictModel):
    gbm: GbmIn


class JumpFeedIn(StrictModel):
    jump_diffusion: JumpDiffusionIn


class SlippageIn(StrictModel):
    base_bps: Annotated[float, Field(ge=0, le=10_000)] = 2.0
    per_million_bps: Annotated[float, Field(ge=0, le=10_000)] = 5.0
    speed_factor: Annotated[float, Field(ge=0, le=100)] = 0.5


class MarketIn(StrictModel):
    """One paper market: contract terms, margin tiers, costs and its price feed."""

    symbol: str = Field(pattern=r"^[^/:]+/[^/:]+:[^/:]+$", description="BASE/QUOTE:SETTLE")
    contract_size: Positive = 1.0
    tiers: tuple[TierIn, ...] | None = None
    maintenance_margin_rate: Annotated[float, Field(ge=0, le=0.5)] | None = None
    maintenance_amount: Amount = 0.0
    derive_maintenance_amounts: bool = Field(
        True, description="fill missing amounts so the margin is continuous across tiers"
    )
    maker_fee_pct: Pct = 0.02
    taker_fee_pct: Pct = 0.05
    spread_bps: Annotated[float, Field(ge=0, lt=1000)] = 1.0
    slippage: SlippageIn = SlippageIn()
    funding_rate_pct: float = Field(0.01, ge=-5, le=5)
    funding_interval_h: Annotated[float, Field(gt=0, le=168), at_least(0.01)] = 8.0
    amount_step: Positive = 0.001
    min_amount: Positive = 0.001
    price_tick: Positive = 0.01
    max_leverage: Leverage = 125.0
    mark_half_life_s: Annotated[float, Field(ge=0, le=DAY_S)] = 5.0
    market_price_band_pct: Annotated[float, Field(gt=0, lt=100, allow_inf_nan=False)] | None = (
        Field(
            None,
            description="a market order fills only within this % of the mark, the rest expires "
            "(Binance's price cap/floor); left out: the venue's default (binance 5); null: none",
        )
    )
    feed: CsvFeedIn | GbmFeedIn | JumpFeedIn

    @model_validator(mode="after")
    def _one_margin_source(self) -> Self:
        if (self.tiers is None) == (self.maintenance_margin_rate is None):
            raise ValueError("give either tiers or maintenance_margin_rate")
        if self.tiers is not None:
            check_tiers(self.tiers)
        return self

    def price_band(self, venue_default_pct: float | None) -> float | None:
        """The market-order price band as a fraction: this market's, else the venue's default."""
        given = "market_price_band_pct" in self.model_fields_set
        pct = self.market_price_band_pct if given else venue_default_pct
        return None if pct is None else pct / 100

    def tiers_domain(self) -> tuple[Tier, ...]:
        if self.tiers is None:
            rate = self.maintenance_margin_rate or 0.0
            return (Tier(0.0, float("inf"), rate, self.maintenance_amount),)
        tiers = tuple(sorted((t.to_tier() for t in self.tiers), key=lambda t: t.min_bound))
        given = any(t.maintenance_amount for t in tiers)
        return (
            tiers
            if given or not self.derive_maintenance_amounts
            else (with_cumulative_amounts(tiers))
        )


class PositionIn(StrictModel):
    """A position opened at the first price when the venue starts."""

    symbol: str
    side: Literal["long", "short"]
    leverage: Annotated[float, Field(ge=1, le=1_000)]
    margin_mode: Literal["isolated", "cross"] = "isolated"
    notional: Positive | None = Field(None, description="position value at the first price")
    size: Positive | None = Field(None, description="size in base units")

    @model_validator(mode="after")
    def _one_size(self) -> Self:
        if (self.notional is None) == (self.size is None):
            raise ValueError("give either notional or size")
        return self


class AccountIn(StrictModel):
    id: str = Field(min_length=1, pattern=r"^[A-Za-z0-9_.-]+$")
    balance: Annotated[float, Field(ge=0, le=1e15)]
    hedge_mode: bool = False
    positions: tuple[PositionIn, ...] = ()


class LatencyIn(StrictModel):
    kind: LatencyKind = LatencyKind.FIXED
    ms: Annotated[float, Field(ge=0, le=600_000)] = 0.0
    low_ms: Annotated[float, Field(ge=0, le=600_000)] = 0.0
    high_ms: Annotated[float, Field(ge=0, le=600_000)] = 0.0
    sigma: Annotated[float, Field(ge=0, le=10)] = 0.5

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.kind is LatencyKind.UNIFORM and self.high_ms < self.low_ms:
            raise ValueError("high_ms must be >= low_ms")
        return self


Probability = Annotated[float, Field(ge=0, le=100)]


class MethodFaultsIn(StrictModel):
    latency_ms: LatencyIn = LatencyIn()
    timeout_pct: Probability = 0.0
    unavailable_pct: Probability = 0.0
    rate_limit_pct: Probability = 0.0
    reject_pct: Probability = 0.0
    partial_fill_pct: Probability = 0.0
    partial_fill_min: Annotated[float, Field(gt=0, lt=1)] = 0.1
    partial_fill_max: Annotated[float, Field(gt=0, lt=1)] = 0.9
    accepted_timeout_pct: Probability = 0.0

    @model_validator(mode="after")
    def _fractions(self) -> Self:
        if self.partial_fill_min > self.partial_fill_max:
            raise ValueError("partial_fill_min must be <= partial_fill_max")
        return self


class StaleMarkIn(StrictModel):
    symbol: str
    after_s: Annotated[float, Field(ge=0, le=YEAR_S)] = Field(description="seconds after the start")
    duration_s: Annotated[float, Field(gt=0, le=YEAR_S), at_least(0.001)]


class FaultsIn(StrictModel):
    seed: int = 0
    methods: dict[str, MethodFaultsIn] = Field(default_factory=dict)
    stale_marks: tuple[StaleMarkIn, ...] = ()


class ClockIn(StrictModel):
    mode: Literal["virtual", "paced"] = "virtual"
    speed: Annotated[float, Field(gt=0, le=1_000_000), at_least(0.001)] = Field(
        60.0, description="paced: simulated seconds per wall second (0.001 to 1,000,000)"
    )


class PaperConfig(StrictModel):
    """The ``paper`` section."""

    venue: str = Field("binance", description="margin profile: " + ", ".join(sorted(PROFILES)))
    intrabar: Intrabar = Intrabar.NEAREST
    insurance_fund: Annotated[float, Field(ge=0, le=1e15)] = 10_000_000.0
    liquidation_fee_pct: Annotated[float, Field(ge=0, lt=10)] = 0.5
    start: datetime | None = Field(None, description="skip the feeds before this time")
    end: datetime | None = Field(None, description="stop the feeds at this time")
    clock: ClockIn = ClockIn()
    markets: tuple[MarketIn, ...] = Field(min_length=1)
    accounts: tuple[AccountIn, ...] = Field(min_length=1)
    faults: FaultsIn = FaultsIn()

    @model_validator(mode="after")
    def _references(self) -> Self:
        if self.venue.lower() not in PROFILES and self.venue.lower() not in (
            "binanceusdm",
            "gateio",
        ):
            raise ValueError(f"venue: unknown venue {self.venue!r}")
        symbols = [m.symbol for m in self.markets]
        if len(set(symbols)) != len(symbols):
            raise ValueError("markets: each symbol may appear once")
        ids = [a.id for a in self.accounts]
        if len(set(ids)) != len(ids):
            raise ValueError("accounts: each id may appear once")
        for i, account in enumerate(self.accounts):
            for j, p in enumerate(account.positions):
                if p.symbol not in symbols:
                    raise ValueError(f"accounts[{i}].positions[{j}].symbol: no market {p.symbol!r}")
        for i, window in enumerate(self.faults.stale_marks):
            if window.symbol not in symbols:
                raise ValueError(f"faults.stale_marks[{i}].symbol: no market {window.symbol!r}")
        return self


def check_tiers(tiers: tuple[TierIn, ...]) -> None:
    """A market's tiers: at least one, one kind of bound, distinct lower bounds (any order)."""
    if not tiers:
        raise ValueError("tiers: give at least one tier")
    if len({t.min_size is None for t in tiers}) > 1:
        raise ValueError("tiers: all tiers must use the same kind of bound (notional or size)")
    lows = sorted(t.to_tier().min_bound for t in tiers)
    for low, high in itertools.pairwise(lows):
        if high <= low:
            raise ValueError(f"tiers: two tiers start at {low:g}; each lower bound may appear once")


def parse_paper_config(data: Any, source: str = "config") -> PaperConfig:
    """Validate a decoded ``paper`` section; every problem is named by its path."""
    try:
        return PaperConfig.model_validate(data)
    except ValidationError as exc:
        lines = problem_lines(exc, "paper")
        raise ConfigError(f"{source}: " + "; ".join(lines)) from None


class PaperSetup:
    """A built paper venue: the venue, its clock, the fault plan, and client factory."""

    def __init__(
        self, venue: PaperVenue, clock: VirtualClock | PacedClock, faults: FaultConfig
    ) -> None:
        self.venue = venue
        self.clock = clock
        self.faults = faults

    def restore(self, path: Path | str) -> None:
        """Load a saved state into the venue and restart the clock where it stopped."""
        from riskguard.paper.state import load_state

        load_state(self.venue, path)
        if isinstance(self.clock, VirtualClock):
            virtual = VirtualClock(self.venue.now_ms)
            virtual.subscribe(self.venue.advance_to)
            self.clock = virtual
        else:
            self.clock = PacedClock(self.venue.now_ms, self.clock.speed)

    def client(
        self, account: str, *, with_faults: bool = True, label: str = "client"
    ) -> PaperExchange:
        """A ccxt-shaped client of ``account``; several may share one account.

        ``label`` names the client (``bot``, ``guard``): each label draws its own faults.
        """
        return PaperExchange(
            self.venue,
            account,
            clock=self.clock,
            faults=self.faults if with_faults else None,
            label=label,
        )


def _bars(market: MarketIn, base_dir: Path, start_ms: int) -> Bars:
    return feed_bars(market.feed, market.symbol, base_dir, start_ms)


def feed_bars(
    feed: CsvFeedIn | GbmFeedIn | JumpFeedIn, symbol: str, base_dir: Path, start_ms: int
) -> Bars:
    """The price series a feed section describes: a CSV read (relative to ``base_dir``) or a
    synthetic path (starting at ``start_ms`` unless it says when). Shared by the spot margin
    venue's config (:mod:`riskguard.paper.spot_margin.config`)."""
    if isinstance(feed, CsvFeedIn):
        path = Path(feed.csv)
        if not path.is_absolute():
            path = base_dir / path
        bars = read_price_csv(path, symbol)
        for note in bars.gap_notes:
            # accepted, never silently: the venue holds the last price across the missing bars
            _LOG.warning("price file has a gap", symbol=symbol, gap=note)
        return bars
    if isinstance(feed, GbmFeedIn):
        g: GbmIn = feed.gbm
        return gbm_bars(
            symbol,
            start_price=g.start_price,
            daily_volatility=g.daily_volatility_pct / 100,
            start_ms=_ms(g.start) if g.start else start_ms,
            bar_ms=g.bar_s * 1000,
            bars=g.bars,
            seed=g.seed,
            drift_per_day=g.drift_per_day_pct / 100,
        )
    j = feed.jump_diffusion
    return jump_diffusion_bars(
        symbol,
        start_price=j.start_price,
        daily_volatility=j.daily_volatility_pct / 100,
        start_ms=_ms(j.start) if j.start else start_ms,
        bar_ms=j.bar_s * 1000,
        bars=j.bars,
        seed=j.seed,
        jumps_per_day=j.jumps_per_day,
        jump_mean=j.jump_mean_pct / 100,
        jump_std=j.jump_std_pct / 100,
        crash_at_bar=j.crash_at_bar,
        crash_size=j.crash_pct / 100,
        crash_bars=j.crash_bars,
    )


def _ms(t: datetime) -> int:
    if t.tzinfo is None:
        raise InputError(f"{t.isoformat()}: times need a timezone (e.g. Z)")
    return int(t.timestamp() * 1000)


def build_paper(
    config: PaperConfig, base_dir: Path | str = ".", *, bars: Mapping[str, Bars] | None = None
) -> PaperSetup:
    """Build the venue, open the configured accounts and positions, and make the clock.

    ``bars`` gives price series already read, by symbol, in place of the markets' feeds (a
    replay builds the same venue three times and reads its files once).
    """
    base = Path(base_dir)
    default_start = _ms(datetime.fromisoformat(DEFAULT_START))
    feeds: dict[str, Bars] = {}
    history: dict[str, Bars] = {}
    markets = []
    given = bars or {}
    rules = rules_for(get_profile(config.venue).name)
    for i, m in enumerate(config.markets):
        try:
            series = given.get(m.symbol)
            bars_of = series if series is not None else _bars(m, base, default_start)
            if config.start and bars_of.start_ms < _ms(config.start):
                # What traded before the window is history: served by fetch_ohlcv, not played.
                history[m.symbol] = bars_of.window(None, _ms(config.start))
            if config.start or config.end:
                bars_of = bars_of.window(
                    _ms(config.start) if config.start else None,
                    _ms(config.end) if config.end else None,
                )
            tiers = m.tiers_domain()
            market = PaperMarket(
                symbol=m.symbol,
                tiers=tiers,
                contract_size=m.contract_size,
                maker_fee=m.maker_fee_pct / 100,
                taker_fee=m.taker_fee_pct / 100,
                spread=m.spread_bps / 10_000,
                slippage=SlippageModel(
                    m.slippage.base_bps / 10_000,
                    m.slippage.per_million_bps / 10_000,
                    m.slippage.speed_factor,
                ),
                funding_rate=m.funding_rate_pct / 100,
                funding_interval_ms=int(m.funding_interval_h * 3_600_000),
                amount_step=m.amount_step,
                min_amount=m.min_amount,
                price_tick=m.price_tick,
                max_leverage=m.max_leverage,
                mark_half_life_s=m.mark_half_life_s,
                price_band=m.price_band(rules.default_price_band_pct),
            )
        except ValueError as exc:
            raise ConfigError(f"paper.markets[{i}]: {exc}") from None
        feeds[m.symbol] = bars_of
        markets.append(market)
    venue = PaperVenue(
        get_profile(config.venue),
        markets,
        feeds,
        intrabar=config.intrabar,
        insurance_fund=config.insurance_fund,
        liquidation_fee_rate=config.liquidation_fee_pct / 100,
    )
    for symbol, before in history.items():
        venue.set_history(symbol, before)
    for i, account in enumerate(config.accounts):
        venue.add_account(account.id, account.balance, hedge_mode=account.hedge_mode)
        for j, p in enumerate(account.positions):
            try:
                open_position(venue, account.id, p)
            except Exception as exc:
                raise ConfigError(
                    f"paper.accounts[{i}].positions[{j}]: cannot open: {exc}"
                ) from None
    start = venue.now_ms
    faults = FaultConfig(
        seed=config.faults.seed,
        methods={
            name: MethodFaults(
                latency=Latency(
                    f.latency_ms.kind,
                    f.latency_ms.ms,
                    f.latency_ms.low_ms,
                    f.latency_ms.high_ms,
                    f.latency_ms.sigma,
                ),
                timeout=f.timeout_pct / 100,
                unavailable=f.unavailable_pct / 100,
                rate_limit=f.rate_limit_pct / 100,
                reject=f.reject_pct / 100,
                partial_fill=f.partial_fill_pct / 100,
                partial_fill_min=f.partial_fill_min,
                partial_fill_max=f.partial_fill_max,
                accepted_timeout=f.accepted_timeout_pct / 100,
            )
            for name, f in config.faults.methods.items()
        },
        stale_marks=tuple(
            StaleMark(w.symbol, start + int(w.after_s * 1000), int(w.duration_s * 1000))
            for w in config.faults.stale_marks
        ),
    )
    clock: VirtualClock | PacedClock
    if config.clock.mode == "virtual":
        virtual = VirtualClock(start)
        virtual.subscribe(venue.advance_to)
        clock = virtual
    else:
        clock = PacedClock(start, config.clock.speed)
    return PaperSetup(venue, clock, faults)


def open_position(venue: PaperVenue, account: str, p: PositionIn) -> None:
    """Open a configured position at the current price through the venue's own order path."""
    market = venue.market(p.symbol)
    mode = MarginMode(p.margin_mode)
    acc = venue.account(account)
    if venue.margin_mode_of(acc, p.symbol) is not mode:
        venue.set_margin_mode(account, p.symbol, mode)
    venue.set_leverage(account, p.symbol, p.leverage)
    price = venue.last_price(p.symbol)
    base = p.size if p.size is not None else (p.notional or 0.0) / price
    contracts = base / market.contract_size
    side = Side(p.side)
    venue.create_order(
        account,
        p.symbol,
        "market",
        "buy" if side is Side.LONG else "sell",
        contracts,
        None,
        position_side=side if acc.hedge_mode else None,
    )


def load_paper_config(path: Path | str) -> PaperConfig:
    """Read the ``paper`` section of a YAML config file; errors name the file and the path."""
    source = str(path)
    document = load_yaml(read_text(path, source, ConfigError), source)
    if not isinstance(document, dict) or "paper" not in document:
        raise ConfigError(f"{source}: paper: section missing")
    return parse_paper_config(document["paper"], source)
