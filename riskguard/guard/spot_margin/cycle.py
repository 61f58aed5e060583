"""One guard cycle of a spot margin account: read, judge, journal, repay, alert.

The edge around :mod:`~riskguard.guard.spot_margin.judge`. Per cycle:

1. Orders whose fate is unknown are looked up by client id first; while one stays unknown,
   nothing more is sent for the account (an order is never re-sent unless known not to exist).
2. The balance (``fetch_balance({"type": "margin"})``) and the price of every coin the account
   holds or owes (``fetch_ticker`` of ``COIN/QUOTE``) are read. A failed read, a price older
   than ``max_price_age_s``, an answer the reader cannot read, or our margin level disagreeing
   with the venue's own by more than ``level_tolerance`` makes the cycle stale: it alerts and
   does not act.
3. The verdict is journalled when its level changes, and alerted from WARN up.
4. At ACT or CRITICAL the remedy is sent as a market order with
   ``sideEffectType: AUTO_REPAY`` (the proceeds of a sell repay the quote loan; a buy repays
   the borrowed coin), never ``MARGIN_BUY``: the guard never borrows. Its intent is journalled
   before it is sent, its fate through :class:`~riskguard.guard.enforce.order_fate.OrderSender`.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import ccxt.async_support as ccxt

from riskguard.clock import Clock
from riskguard.errors import InputError, UnsupportedError
from riskguard.exchange.errors import short_text
from riskguard.exchange.margin_account import MarginAccountReading, read_margin_account
from riskguard.guard.enforce.journal import Journal
from riskguard.guard.enforce.order_fate import (
    LOOKUP_PAUSES_S,
    OrderPort,
    OrderSender,
    Placement,
    look_up,
)
from riskguard.guard.enforce.order_ids import client_order_id
from riskguard.guard.enforce.quirks import quirks_for
from riskguard.guard.enforce.stop_watch import teller
from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.judge import MarginSettings, MarginVerdict, Remedy, judge
from riskguard.guard.spot_margin.observed_tail import ObservedTail, widened
from riskguard.risk import MarginLoanAccount

AlertFn = Callable[[Level, str, Mapping[str, Any]], None]

REPAY_PARAMS: Mapping[str, str] = {"marginMode": "cross", "sideEffectType": "AUTO_REPAY"}
"""Every order the spot margin guard sends: a cross-margin order whose proceeds repay a loan."""


class MarginPort(OrderPort, Protocol):
    """The calls a spot margin account needs (ccxt's names and shapes): an order's two, and
    markets, balance and tickers."""

    async def load_markets(self, reload: bool = False) -> Mapping[str, Any]: ...

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]: ...

    async def fetch_ticker(
        self, symbol: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]: ...


@dataclass(slots=True)
class MarginAccount:
    """One spot margin account the guard watches, with what it remembers between cycles."""

    account: str
    exchange: MarginPort
    venue: str
    """The venue whose margin rule applies (``binance``, ``okx``, ``bybit``)."""
    exchange_id: str = "binance"
    quote: str = "USDT"
    alert_only: bool = False
    markets: Mapping[str, Any] = field(default_factory=dict)
    pending: dict[str, str] = field(default_factory=dict)
    """Client id -> symbol of orders whose fate is unknown."""
    last_level: Level | None = None
    last_reading: MarginAccountReading | None = None
    tails: dict[str, ObservedTail] = field(default_factory=dict)
    """Per coin, the fastest move the guard has seen (:mod:`.observed_tail`)."""


@dataclass(frozen=True, slots=True)
class MarginCycleReport:
    """What one cycle saw and did."""

    account: str
    time_ms: int
    actionable: bool
    verdict: MarginVerdict | None
    placement: Placement | None = None
    error: str | None = None


class MarginGuard:
    """Runs spot margin cycles with one set of thresholds, one journal and one alert function."""

    def __init__(
        self,
        settings: MarginSettings,
        *,
        journal: Journal,
        clock: Clock,
        alert: AlertFn,
        record: Callable[..., None] | None = None,
        client_id_prefix: str = "rg1",
        max_price_age_s: float = 30.0,
        level_tolerance: float = 0.02,
        pauses_s: tuple[float, ...] = LOOKUP_PAUSES_S,
        tail_horizon_s: float = 120.0,
        tail_scale: float = 1.5,
    ) -> None:
        self.settings = settings
        self.journal = journal
        self.clock = clock
        self.alert = alert
        self.record = record
        self.prefix = client_id_prefix
        self.max_price_age_s = max_price_age_s
        self.level_tolerance = level_tolerance
        self.pauses_s = pauses_s
        self.tail_horizon_s = tail_horizon_s
        self.tail_scale = tail_scale

    def recover(self, acct: MarginAccount) -> int:
        """Orders the journal shows intended but never settled (sent, found or failed) become
        pending: the next cycle looks them up by client id before anything else is sent.
        Returns how many."""
        settled = {
            str(e.payload.get("client_id"))
            for kind in ("order_sent", "order_found", "order_failed")
            for e in self.journal.entries(kind, acct.account)
        }
        for entry in self.journal.entries("order_intent", acct.account):
            cid = str(entry.payload.get("client_id"))
            if cid not in settled:
                acct.pending[cid] = str(entry.payload.get("symbol"))
        return len(acct.pending)

    async def cycle(self, acct: MarginAccount) -> MarginCycleReport:
        """One read-judge-act pass over ``acct``."""
        now = self.clock.now_ms()
        await self._settle_pending(acct)
        try:
            if not acct.markets:
                acct.markets = await acct.exchange.load_markets()
            balance = await acct.exchange.fetch_balance({"type": "margin"})
            prices = await self._prices(acct, balance, now)
            reading = read_margin_account(acct.venue, balance, prices, quote=acct.quote)
        except ccxt.BaseError as exc:
            return self._stale(acct, now, short_text(exc))
        except (InputError, UnsupportedError, _StaleError) as exc:
            return self._stale(acct, now, str(exc))
        tail = self._observe(acct, now, prices)
        verdict = judge(reading.account, reading.rule, widened(self.settings, tail))
        disagreement = _disagreement(verdict.margin_level, reading.venue_level)
        if disagreement is not None and disagreement > self.level_tolerance:
            return self._stale(
                acct,
                now,
                f"our margin level {verdict.margin_level:.6g} and the venue's "
                f"{reading.venue_level:.6g} ({reading.venue_level_field}) differ by "
                f"{disagreement:.2%}",
            )
        acct.last_reading = reading
        self._note(acct, now, verdict, reading)
        placement = None
        if verdict.level >= Level.ACT and verdict.remedy is not None:
            placement = await self._repay(acct, now, verdict, verdict.remedy, reading.account)
        return MarginCycleReport(acct.account, now, True, verdict, placement)

    # ------------------------------------------------------------------ reading

    async def _prices(
        self, acct: MarginAccount, balance: Mapping[str, Any], now: int
    ) -> dict[str, float]:
        coins = sorted(
            {
                str(code)
                for part in ("total", "debt")
                for code, amount in (balance.get(part) or {}).items()
                if code != acct.quote and _positive(amount)
            }
        )
        prices: dict[str, float] = {acct.quote: 1.0}
        for coin in coins:
            symbol = f"{coin}/{acct.quote}"
            ticker = await acct.exchange.fetch_ticker(symbol)
            price = _positive(ticker.get("last")) or _positive(ticker.get("close"))
            stamp = ticker.get("timestamp")
            if price is None:
                raise _StaleError(f"{symbol}: the ticker has no price")
            if not isinstance(stamp, int | float) or now - stamp > self.max_price_age_s * 1000:
                age = (
                    "no time"
                    if not isinstance(stamp, int | float)
                    else f"{(now - stamp) / 1e3:.0f} s"
                )
                raise _StaleError(f"{symbol}: the price is stale ({age} old)")
            prices[coin] = price
        return prices

    def _observe(self, acct: MarginAccount, now: int, prices: Mapping[str, float]) -> float:
        """Add this cycle's prices to each coin's window; the largest tail of them all."""
        largest = 0.0
        for coin, price in prices.items():
            if coin == acct.quote:
                continue
            tail = acct.tails.setdefault(
                coin, ObservedTail(horizon_s=self.tail_horizon_s, scale=self.tail_scale)
            )
            largest = max(largest, tail.observe(now, price))
        return largest

    def _stale(self, acct: MarginAccount, now: int, reason: str) -> MarginCycleReport:
        message = f"{acct.account}: no usable margin data ({reason}); the guard is not acting"
        self.journal.append("stale", acct.account, now, {"reason": reason})
        self.alert(Level.WARN, message, {"account": acct.account, "reason": reason})
        acct.last_level = None
        return MarginCycleReport(acct.account, now, False, None, error=reason)

    def _note(
        self, acct: MarginAccount, now: int, verdict: MarginVerdict, reading: MarginAccountReading
    ) -> None:
        """Journal the verdict when its level changes; alert from WARN up (and the all-clear)."""
        if verdict.level == acct.last_level:
            return
        before, acct.last_level = acct.last_level, verdict.level
        payload = {
            "level": verdict.level.name,
            "message": verdict.message,
            "figures": verdict.figures(),
            "venue_level": reading.venue_level,
            "rule": reading.rule.name,
            "notes": list(reading.notes),
        }
        self.journal.append("margin_finding", acct.account, now, payload)
        if verdict.level >= Level.WARN or (before is not None and before >= Level.WARN):
            message = f"{acct.account}: {verdict.message}"
            self.alert(verdict.level, message, {"account": acct.account, **payload})

    # ------------------------------------------------------------------ acting

    async def _settle_pending(self, acct: MarginAccount) -> None:
        quirks = quirks_for(acct.exchange_id)
        for cid, symbol in list(acct.pending.items()):
            found = await look_up(acct.exchange, quirks, symbol, cid, trigger=False)
            if found.state == "failed":
                continue
            del acct.pending[cid]
            kind = "order_found" if found.state == "found" else "order_failed"
            payload = {"client_id": cid, "symbol": symbol, "lookup": found.state}
            self.journal.append(kind, acct.account, self.clock.now_ms(), payload)

    async def _repay(
        self,
        acct: MarginAccount,
        now: int,
        verdict: MarginVerdict,
        remedy: Remedy,
        verdict_account: MarginLoanAccount,
    ) -> Placement | None:
        symbol = f"{remedy.asset}/{acct.quote}"
        row = verdict_account.get(remedy.asset)
        limit = 0.0 if row is None else row.held if remedy.side == "sell" else row.owed
        amount = _rounded(remedy.amount, acct.markets.get(symbol) or {}, limit)
        figures = {**verdict.figures(), "amount": amount, "quote_value": remedy.quote_value}
        intent = {
            "account": acct.account,
            "symbol": symbol,
            "side": remedy.side,
            "amount": amount,
            "reason": verdict.message,
            "distance_after_pct": remedy.distance_after_pct,
            "figures": figures,
            "params": dict(REPAY_PARAMS),
        }
        if acct.pending:
            self.alert(
                Level.CRITICAL,
                f"{acct.account}: would {remedy.side} {amount:g} {remedy.asset} to repay, but an "
                "earlier order's fate is unknown; nothing is sent until it is settled",
                intent,
            )
            return None
        if amount <= 0:
            self.alert(
                Level.CRITICAL,
                f"{acct.account}: {verdict.message}; no tradeable repayment (below the market's "
                "minimum order): act by hand",
                intent,
            )
            return None
        cid = client_order_id(self.prefix, acct.account, symbol, remedy.side, "repay", now)
        if acct.alert_only:
            self.journal.append("dry_run", acct.account, now, {"client_id": cid, **intent})
            self.alert(verdict.level, f"{acct.account}: would {remedy.side} {amount:g} "
                       f"{remedy.asset} to repay its loan (alert only)", intent)  # fmt: skip
            return None
        self.journal.append("order_intent", acct.account, now, {"client_id": cid, **intent})
        quirks = quirks_for(acct.exchange_id)
        tell = teller(self.record, self.journal, self.alert, self.clock, acct.account)

        def announce(kind: str, payload: Mapping[str, Any]) -> None:
            verb = "sold" if remedy.side == "sell" else "bought back"
            message = (
                f"{acct.account}: {verb} {amount:g} {remedy.asset} to repay its loan "
                f"({verdict.message})"
            )
            tell(kind, {**payload, **intent}, verdict.level, message, {**intent, **payload})

        sender = OrderSender(acct.exchange, quirks, self.clock, self._log(acct), self.pauses_s)
        params = {**REPAY_PARAMS, quirks.client_id_param: cid}
        await self.journal.durable()  # the intent is on disk before the order goes out
        placement = await sender.place(symbol, remedy.side, amount, cid, params, announce=announce)
        if placement.state == "unknown":
            acct.pending[cid] = symbol
            self.alert(
                Level.CRITICAL,
                f"{acct.account}: the repaying {remedy.side} of {amount:g} {remedy.asset} got no "
                "answer and cannot be found yet; it is not sent again until its fate is known",
                {"client_id": cid, **intent},
            )
        elif placement.state == "rejected":
            self.alert(
                Level.CRITICAL,
                f"{acct.account}: the venue refused the repaying {remedy.side} of {amount:g} "
                f"{remedy.asset} ({placement.error}); act by hand",
                {"client_id": cid, **intent},
            )
        return placement

    def _log(self, acct: MarginAccount) -> Callable[..., None]:
        def log(kind: str, **payload: Any) -> None:
            self.journal.append(kind, acct.account, self.clock.now_ms(), payload)

        return log


class _StaleError(Exception):
    """Data the guard will not act on."""


def _positive(value: Any) -> float | None:
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) and number > 0 else None


def _disagreement(ours: float, venue: float | None) -> float | None:
    if venue is None or not math.isfinite(ours) or venue <= 0:
        return None
    return abs(ours - venue) / venue


def _rounded(amount: float, market: Mapping[str, Any], limit: float) -> float:
    """The amount on the market's step: up to the step (the remedy is a minimum) unless that
    passes ``limit`` (what is held, for a sell; what is owed, for a buy), then down; 0 when
    below the market's minimum order."""
    step = _positive((market.get("precision") or {}).get("amount"))
    minimum = _positive(((market.get("limits") or {}).get("amount") or {}).get("min")) or 0.0
    rounded = min(amount, limit)
    if step is not None:
        rounded = math.ceil(amount / step - 1e-9) * step
        if rounded > limit * (1 + 1e-12):
            rounded = math.floor(limit / step + 1e-9) * step
        rounded = round(rounded, 12)
    return rounded if rounded >= minimum and rounded > 0 else 0.0
