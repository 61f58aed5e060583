"""The spot margin guard's cycle against the paper margin venue's ccxt-shaped client: what it
reads, when it refuses to act, and how it repays (issue 16, part 4).

Every order it sends is a cross-margin market order with ``sideEffectType: AUTO_REPAY`` (never
``MARGIN_BUY``), journalled before it is sent; an order whose fate is unknown is not sent again
until a lookup settles it; a stale price or a margin level that disagrees with the venue's own
makes the cycle stale: an alert, no order.
"""

from __future__ import annotations

import asyncio
from typing import Any

import ccxt.async_support as ccxt

from riskguard.clock import VirtualClock
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import Level
from riskguard.guard.spot_margin.cycle import MarginAccount, MarginCycleReport, MarginGuard
from riskguard.guard.spot_margin.judge import MarginSettings
from riskguard.paper.spot_margin.client import SpotMarginExchange
from riskguard.paper.spot_margin.venue import SpotMarginVenue
from tests.paper.spot_margin.kit import T0, venue

SETTINGS = MarginSettings(
    warn_distance_pct=25, act_distance_pct=15, target_distance_pct=30, gap_pct=10
)
Alerts = list[tuple[Level, str]]


def _account(borrowed_usdt: float) -> tuple[SpotMarginVenue, VirtualClock]:
    """A BTC long at a flat 100: 30 BTC held with ``borrowed_usdt`` owed."""
    v = venue([100.0] * 10)
    v.add_account("acct", {"BTC": 30.0}, {"USDT": borrowed_usdt})
    clock = VirtualClock(v.now_ms)
    clock.subscribe(v.advance_to)
    return v, clock


class _Recorder:
    """Wraps the client: records orders and can make sends and lookups fail."""

    def __init__(self, inner: SpotMarginExchange) -> None:
        self.inner = inner
        self.orders: list[tuple[str, str, float, dict[str, Any]]] = []
        self.silent_sends = 0
        self.lost_sends = 0
        self.failing_lookups = 0
        self.level_override: str | None = None
        self.ticker_lag_ms = 0

    async def load_markets(self, reload: bool = False) -> Any:
        return await self.inner.load_markets(reload)

    async def fetch_ticker(self, symbol: str, params: dict[str, Any] | None = None) -> Any:
        ticker = await self.inner.fetch_ticker(symbol, params)
        return {**ticker, "timestamp": ticker["timestamp"] - self.ticker_lag_ms}

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        balance = await self.inner.fetch_balance(params)
        if self.level_override is not None:
            balance["info"]["marginLevel"] = self.level_override
        return balance

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        self.orders.append((symbol, side, amount, dict(params or {})))
        if self.lost_sends:
            self.lost_sends -= 1
            raise ccxt.RequestTimeout("binance timed out")  # lost on the way: not applied
        order = await self.inner.create_order(symbol, type, side, amount, price, params)
        if self.silent_sends:
            self.silent_sends -= 1
            raise ccxt.RequestTimeout("binance timed out")  # applied, but no answer
        return order

    async def fetch_order(
        self,
        id: str | None,
        symbol: str | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        if self.failing_lookups:
            self.failing_lookups -= 1
            raise ccxt.NetworkError("binance GET /sapi/v1/margin/order: connection reset")
        return await self.inner.fetch_order(id, symbol, params)


def _setup(
    borrowed_usdt: float, *, alert_only: bool = False, **guard_args: Any
) -> tuple[SpotMarginVenue, VirtualClock, _Recorder, MarginAccount, MarginGuard, Alerts]:
    v, clock = _account(borrowed_usdt)
    client = _Recorder(SpotMarginExchange(v, "acct", clock=clock))
    acct = MarginAccount("acct", client, venue="binance", alert_only=alert_only)
    alerts: Alerts = []
    guard = MarginGuard(
        SETTINGS,
        journal=MemoryJournal(),
        clock=clock,
        alert=lambda level, message, payload: alerts.append((level, message)),
        pauses_s=(0.0, 0.0, 0.0),
        **guard_args,
    )
    return v, clock, client, acct, guard, alerts


def _run(
    guard: MarginGuard, acct: MarginAccount, clock: VirtualClock, minutes: int
) -> list[MarginCycleReport]:
    async def cycles() -> list[MarginCycleReport]:
        reports = []
        for i in range(minutes):
            clock.advance_to(T0 + (i + 1) * 60_000)
            reports.append(await guard.cycle(acct))
        return reports

    return asyncio.run(cycles())


def _journal(guard: MarginGuard) -> MemoryJournal:
    assert isinstance(guard.journal, MemoryJournal)
    return guard.journal


def test_a_close_long_is_repaid_by_an_auto_repay_sell_journalled_before_it_is_sent() -> None:
    # 30 BTC at 100 against 2,600 owed: level 1.154, a 4.7% fall liquidates it
    v, clock, client, acct, guard, alerts = _setup(2_600.0)

    reports = _run(guard, acct, clock, 2)

    first, second = reports
    assert first.verdict is not None
    assert first.verdict.level >= Level.ACT
    ((symbol, side, _amount, params),) = client.orders
    assert (symbol, side) == ("BTC/USDT", "sell")
    assert params["sideEffectType"] == "AUTO_REPAY"
    assert params["marginMode"] == "cross"
    kinds = [e.kind for e in _journal(guard).entries()]
    assert kinds.index("order_intent") < kinds.index("order_sent")
    assert second.verdict is not None
    assert second.verdict.distance_pct is not None
    assert second.verdict.distance_pct >= 29.0  # the sell restored the target distance
    assert v.margin_level("acct") > 1.3
    assert any("sold" in m and "to repay its loan" in m for _, m in alerts)


def test_an_order_without_an_answer_that_cannot_be_found_is_not_sent_again() -> None:
    _v, clock, client, acct, guard, alerts = _setup(2_600.0)
    client.lost_sends = 1  # the account stays at risk, so the guard would want to sell again
    client.failing_lookups = 4  # the three lookups after the send, and the next cycle's

    _run(guard, acct, clock, 2)

    assert len(client.orders) == 1
    assert _journal(guard).entries("order_unknown")
    assert acct.pending
    assert any("cannot be found yet" in m for _, m in alerts)
    assert any("fate is unknown; nothing is sent" in m for _, m in alerts)


def test_an_unknown_order_found_later_is_settled_and_not_sent_twice() -> None:
    _v, clock, client, acct, guard, _alerts = _setup(2_600.0)
    client.silent_sends = 1
    client.failing_lookups = 3  # the lookups after the send fail; the next cycle's works

    _run(guard, acct, clock, 3)

    assert len(client.orders) == 1  # the one sent was found: the account is safe, no second
    assert _journal(guard).entries("order_found")
    assert not acct.pending


def test_a_stale_price_is_alerted_and_not_acted_on() -> None:
    _v, clock, client, acct, guard, alerts = _setup(2_600.0, max_price_age_s=30.0)
    client.ticker_lag_ms = 45_000  # the venue's ticker is 45 s old

    clock.advance_to(T0 + 60_000)
    report = asyncio.run(guard.cycle(acct))

    assert not report.actionable
    assert client.orders == []
    assert "stale" in (report.error or "")
    assert any("the guard is not acting" in m for _, m in alerts)


def test_a_margin_level_the_venue_does_not_confirm_is_not_acted_on() -> None:
    _v, clock, client, acct, guard, _alerts = _setup(2_600.0)
    client.level_override = "2.5"  # the venue says 2.5; our reading of its balances says 1.15

    (report,) = _run(guard, acct, clock, 1)

    assert not report.actionable
    assert client.orders == []
    assert "differ by" in (report.error or "")


def test_an_alert_only_account_journals_what_it_would_do_and_sends_nothing() -> None:
    _v, clock, client, acct, guard, _alerts = _setup(2_600.0, alert_only=True)

    _run(guard, acct, clock, 1)

    assert client.orders == []
    (dry,) = _journal(guard).entries("dry_run")
    assert dry.payload["params"]["sideEffectType"] == "AUTO_REPAY"


def test_a_calm_account_is_left_alone_and_journalled_once() -> None:
    _v, clock, client, acct, guard, alerts = _setup(1_000.0)  # level 3: a 63% fall liquidates

    reports = _run(guard, acct, clock, 3)

    assert [r.verdict.level for r in reports if r.verdict] == [Level.OK] * 3
    assert client.orders == []
    assert len(_journal(guard).entries("margin_finding")) == 1
    assert alerts == []


def test_after_a_restart_an_intended_order_never_settled_is_looked_up_before_any_send() -> None:
    v, clock, client, acct, guard, _alerts = _setup(2_600.0)
    client.lost_sends = 1
    client.failing_lookups = 3
    _run(guard, acct, clock, 1)  # the send is lost, the lookups fail: unknown
    restarted = MarginAccount("acct", client, venue="binance")  # a new process: no memory

    recovered = guard.recover(restarted)
    (report,) = _run(guard, restarted, clock, 1)

    assert recovered == 1
    assert not restarted.pending  # the lookup worked: the venue does not have it
    assert _journal(guard).entries("order_failed")
    assert len(client.orders) == 2  # known not to exist, so the guard may repay again
    assert report.placement is not None
    assert v.margin_level("acct") > 1.3
