"""A paper venue preset: one market, accounts holding one position each, built the documented way.

:func:`paper_section` writes the ``paper:`` section of a config file as a decoded YAML document;
:func:`paper_setup` builds it with :func:`riskguard.paper.config.build_paper`, exactly as
``riskguard run`` builds a config file's section, and hands back the
:class:`~riskguard.paper.config.PaperSetup` whose ``client(account)`` is a ccxt-shaped client.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

from riskguard.domain import MarginMode, Side
from riskguard.paper.config import DEFAULT_START, PaperSetup, build_paper, parse_paper_config
from riskguard.paper.feeds import Bars
from riskguard.testing.positions import BTC, DEFAULT_MAINTENANCE_MARGIN_RATE

START_MS = int(datetime.fromisoformat(DEFAULT_START).timestamp() * 1000)
"""Where the preset's prices start: 2024-01-01 00:00 UTC, the paper venue's default start."""


def paper_section(
    *,
    accounts: Sequence[str] = ("main",),
    balance: float = 10_000.0,
    symbol: str = BTC,
    side: Side = Side.LONG,
    leverage: float = 10.0,
    margin_mode: MarginMode = MarginMode.ISOLATED,
    notional: float | None = 20_000.0,
    start_price: float = 100_000.0,
    venue: str = "binance",
    clock: Mapping[str, Any] | None = None,
    market: Mapping[str, Any] | None = None,
) -> dict[str, Any]:
    """The ``paper:`` section of a config file, as ``yaml.safe_load`` would give it.

    One market, ``symbol``, with a flat 0.5% maintenance rate and the paper venue's default
    terms (fees, spread, slippage, funding, steps), priced by a seeded GBM from ``start_price``
    (3% a day, 240 one-minute bars from 2024-01-01 UTC) on a virtual clock. Each of
    ``accounts`` is funded with ``balance`` and holds one ``side`` position of ``notional``
    (position value at the first price) at ``leverage`` in ``margin_mode``; ``notional=None``
    leaves the accounts flat.

    ``market`` adds or replaces market terms by their config names (``tiers`` takes the place of
    the flat rate, ``feed`` of the GBM, ``taker_fee_pct``, ...); ``clock`` replaces the clock
    (``{"mode": "paced", "speed": 600}``). A fresh document each call: change it freely.
    """
    terms: dict[str, Any] = {
        "symbol": symbol,
        "maintenance_margin_rate": DEFAULT_MAINTENANCE_MARGIN_RATE,
        "feed": {
            "gbm": {
                "start_price": start_price,
                "start": DEFAULT_START,
                "daily_volatility_pct": 3,
                "bars": 240,
                "seed": 0,
            }
        },
    }
    if market is not None and "tiers" in market:
        del terms["maintenance_margin_rate"]
    terms.update(market or {})
    held = {
        "symbol": symbol,
        "side": Side(side).value,
        "leverage": leverage,
        "margin_mode": MarginMode(margin_mode).value,
        "notional": notional,
    }
    return {
        "venue": venue,
        "clock": dict(clock) if clock is not None else {"mode": "virtual"},
        "markets": [terms],
        "accounts": [
            {
                "id": account,
                "balance": balance,
                "positions": [] if notional is None else [dict(held)],
            }
            for account in accounts
        ],
    }


def price_ticks(symbol: str, prices: Sequence[float], *, step_s: float = 60.0) -> Bars:
    """A tick series for the paper venue: ``prices[i]`` from ``i * step_s`` seconds after
    2024-01-01 00:00 UTC until the next one. The venue trades at exactly these prices."""
    step_ms = round(step_s * 1000)
    times = tuple(START_MS + i * step_ms for i in range(len(prices)))
    values = tuple(float(p) for p in prices)
    return Bars(symbol, times, values, values, values, values, 0)


def paper_setup(
    section: Mapping[str, Any] | None = None,
    *,
    prices: Sequence[float] | None = None,
    step_s: float = 60.0,
    base_dir: Path | str = ".",
) -> PaperSetup:
    """A paper venue built from ``section`` (:func:`paper_section` when none is given).

    Validated and built by :mod:`riskguard.paper.config` as a config file's section is: a
    problem raises :class:`~riskguard.errors.ConfigError` naming its path. ``prices`` replaces
    the first market's feed by :func:`price_ticks` (the positions open at ``prices[0]``);
    ``base_dir`` is where a ``csv`` feed's relative path starts. ``setup.client("main")`` is
    a ccxt-shaped async client of account ``main``; ``setup.clock.advance_to(ms)`` moves a
    virtual clock, and the venue with it.
    """
    config = parse_paper_config(paper_section() if section is None else section, "paper_setup")
    bars = None
    if prices is not None:
        first = config.markets[0].symbol
        bars = {first: price_ticks(first, prices, step_s=step_s)}
    return build_paper(config, base_dir, bars=bars)
