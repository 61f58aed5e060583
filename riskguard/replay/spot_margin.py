"""Replaying a crash on the paper spot margin venue, each account with or without the guard.

The venue (:mod:`riskguard.paper.spot_margin`) plays the price feed on a virtual clock; every
``poll_s`` of simulated time the guard runs one
:class:`~riskguard.guard.spot_margin.cycle.MarginGuard` cycle for each guarded account, through
the same ccxt-shaped client a live account uses. The outcome per account is what the user is
left with, watched on every tick: the venue's liquidations, the lowest margin level, and the
lowest equity (assets less liabilities at the venue's margin prices). A negative equity at any
tick is a failure whatever else happened.
"""

from __future__ import annotations

import asyncio
import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.cycle import MarginAccount, MarginGuard
from riskguard.guard.spot_margin.judge import MarginSettings
from riskguard.paper.spot_margin.config import SpotMarginConfig, build_spot_margin
from riskguard.paper.spot_margin.venue import SpotMarginVenue

DEFAULT_POLL_S = 10.0


@dataclass(slots=True)
class _Watch:
    """The lowest margin level and equity an account reached, tick by tick."""

    min_level: float = math.inf
    min_equity: float = math.inf


@dataclass(frozen=True, slots=True)
class MarginReplayOutcome:
    """How one account came through the replay."""

    account: str
    guarded: bool
    liquidations: int
    first_liquidation_ms: int | None
    min_level: float
    min_equity: float
    assets: float
    liabilities: float
    orders: int
    stale_cycles: int
    alerts: tuple[str, ...] = field(default=())

    @property
    def equity(self) -> float:
        """Assets less liabilities at the end, in the quote asset."""
        return self.assets - self.liabilities

    @property
    def went_negative(self) -> bool:
        """True when the account owed more than it held at any tick: the guard's failure."""
        return self.min_equity < 0


def _equity(venue: SpotMarginVenue, account: str) -> tuple[float, float]:
    acc = venue.accounts[account]
    assets = sum(b.held * venue.price_of(a) for a, b in acc.assets.items())
    liabilities = sum(b.debt * venue.price_of(a) for a, b in acc.assets.items())
    return assets, liabilities


def replay_spot_margin(
    config: SpotMarginConfig,
    *,
    guarded: Collection[str],
    settings: MarginSettings | None = None,
    poll_s: float = DEFAULT_POLL_S,
    base_dir: Path | str = ".",
) -> list[MarginReplayOutcome]:
    """Play ``config``'s feeds to their end; the accounts in ``guarded`` are guarded."""
    if poll_s <= 0:
        raise ValueError("poll_s must be positive")
    setup = build_spot_margin(config, base_dir)
    venue, clock = setup.venue, setup.clock
    ids = [a.id for a in config.accounts]
    unknown = sorted(set(guarded) - set(ids))
    if unknown:
        raise ValueError(f"guarded: no such spot margin account {', '.join(unknown)}")
    watches = {a: _Watch() for a in ids}

    def watch(_symbol: str, _time_ms: int) -> None:
        for account, w in watches.items():
            assets, liabilities = _equity(venue, account)
            w.min_equity = min(w.min_equity, assets - liabilities)
            w.min_level = min(w.min_level, venue.margin_level(account))

    venue.add_tick_listener(watch)
    watch("", venue.now_ms)
    journal = MemoryJournal()
    alerts: dict[str, list[str]] = {a: [] for a in ids}

    def alert(level: Level, message: str, payload: Mapping[str, Any]) -> None:
        alerts.setdefault(str(payload.get("account")), []).append(f"{level.name}: {message}")

    guard = MarginGuard(settings or MarginSettings(), journal=journal, clock=clock, alert=alert)
    accounts = [
        MarginAccount(a, setup.client(a), venue="binance", quote=config.quote_asset)
        for a in ids
        if a in guarded
    ]
    step_ms = int(poll_s * 1000)
    stale = dict.fromkeys(ids, 0)

    async def drive() -> None:
        while venue.now_ms < venue.end_ms:
            clock.advance_to(min(venue.now_ms + step_ms, venue.end_ms))
            for acct in accounts:
                report = await guard.cycle(acct)
                stale[acct.account] += 0 if report.actionable else 1

    asyncio.run(drive())
    outcomes = []
    for account in ids:
        liquidations = [x for x in venue.liquidations if x.account == account]
        assets, liabilities = _equity(venue, account)
        orders = len(journal.entries("order_intent", account))
        outcomes.append(
            MarginReplayOutcome(
                account=account,
                guarded=account in guarded,
                liquidations=len(liquidations),
                first_liquidation_ms=liquidations[0].time_ms if liquidations else None,
                min_level=watches[account].min_level,
                min_equity=watches[account].min_equity,
                assets=assets,
                liabilities=liabilities,
                orders=orders,
                stale_cycles=stale[account],
                alerts=tuple(alerts.get(account, ())),
            )
        )
    return outcomes
