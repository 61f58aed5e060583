"""What an exchange contract test needs besides the ccxt-shaped client; the harnesses giving it.

The contract tests (``test_exchange_contract.py``) talk to ``harness.client`` only through the ccxt
methods riskguard uses. Everything else a test needs, it asks of the harness:

- ``symbol``: a linear USDT perpetual to trade;
- ``set_price(price)``: move the market (last and mark price) and let the venue react: stops
  trigger, positions revalue;
- ``open_position(...)``: open a position with ccxt calls only (shared by every harness);
- ``second_client()``: another client on the same account, for harnesses that can make one;
- ``capabilities``: what this harness's venue reports, so a test that needs more skips cleanly
  (``@pytest.mark.requires(Capability.SHARED_ACCOUNT)``);
- ``start()`` / ``aclose()``: set up and tear down, inside the test's event loop.

Adding an implementation is one class here and one entry in :data:`HARNESSES`, as
:class:`BinanceUsdmFakeHarness` (a real ccxt ``binanceusdm`` client on a local fake server) shows.
"""

from __future__ import annotations

import abc
import contextlib
import math
import time
from collections.abc import Callable, Mapping
from enum import StrEnum
from types import MappingProxyType
from typing import Any

import ccxt.async_support as ccxt

from riskguard.clock import VirtualClock
from riskguard.domain import Tier
from riskguard.exchange.live import LiveExchange
from riskguard.paper.engine import PaperVenue
from riskguard.paper.exchange import PaperExchange
from riskguard.paper.feeds import Bars
from riskguard.paper.market import PaperMarket
from riskguard.risk import get_profile, with_cumulative_amounts
from tests.fakes.binance_usdm import FakeBinanceUsdm, point_client_at


class Capability(StrEnum):
    """Something a venue may or may not do or report; a test needing it carries ``requires``."""

    SHARED_ACCOUNT = "shared_account"
    """A second client on the same account can be made (the paper venue; a bot beside the guard)."""
    POSITION_LEVERAGE = "position_leverage"
    """``fetch_positions`` fills ``leverage`` (binanceusdm's v3 positionRisk leaves it None; the
    live adapter fills it from ``fetch_leverages``)."""
    TICKER_MARK_PRICE = "ticker_mark_price"
    """``fetch_ticker`` carries ``markPrice`` (binance's 24h ticker has none: fetch_mark_price)."""


class ContractHarness(abc.ABC):
    """One exchange implementation under contract test, with the means to drive its market."""

    name: str
    client: Any
    """The ccxt-shaped client (a ccxt async exchange or a PaperExchange)."""
    symbol: str
    """A linear USDT-settled perpetual swap, unified ccxt symbol."""
    capabilities: frozenset[Capability]
    stop_loss_params: Mapping[str, Any] = MappingProxyType({})
    """Venue params added to every stop-loss so it triggers on the mark price
    (binanceusdm: ``{'workingType': 'MARK_PRICE'}``)."""

    async def start(self) -> None:  # noqa: B027 - optional hook, nothing to do by default
        """Bring the venue up; called inside the test's event loop before the test body."""

    @abc.abstractmethod
    async def set_price(self, price: float) -> None:
        """Move last and mark price to ``price`` and let the venue process the move.

        When this returns, ``fetch_mark_price`` reports ``price`` (within 0.1%), trigger orders the
        mark crossed on the way have fired, and positions are revalued at the new mark.
        """

    async def second_client(self) -> Any:
        """Another client on the same account (needs :attr:`Capability.SHARED_ACCOUNT`)."""
        raise NotImplementedError(f"{self.name}: no second client on one account")

    @abc.abstractmethod
    async def aclose(self) -> None:
        """Close every client and stop the venue; called even when the test failed."""

    async def open_position(
        self,
        side: str,
        contracts: float,
        leverage: float,
        margin_mode: str,
        *,
        client_order_id: str | None = None,
    ) -> dict[str, Any]:
        """Open a ``side`` ('long' | 'short') position with ccxt calls only; return its row.

        Sets the margin mode (already set is fine) and leverage, sends a market order, and reads
        the position back from ``fetch_positions``.
        """
        client, symbol = self.client, self.symbol
        with contextlib.suppress(ccxt.MarginModeAlreadySet):
            await client.set_margin_mode(margin_mode, symbol)
        await client.set_leverage(leverage, symbol)
        params = {} if client_order_id is None else {"clientOrderId": client_order_id}
        order_side = "buy" if side == "long" else "sell"
        await client.create_order(symbol, "market", order_side, contracts, None, params)
        rows = [
            p
            for p in await client.fetch_positions([symbol])
            if p["symbol"] == symbol and p["side"] == side
        ]
        if len(rows) != 1:
            raise AssertionError(f"{self.name}: expected one {side} {symbol} row, got {rows!r}")
        row: dict[str, Any] = rows[0]
        return row


# ---------------------------------------------------------------------------------------- paper

PAPER_START_MS = 1_700_000_000_000
"""2023-11-14T22:13:20Z, a little after an 8-hour funding time."""
PAPER_START_PRICE = 100_000.0
PAPER_BALANCE = 10_000.0
"""USDT in the paper account under test."""
_SETTLE_S = 300
"""How long ``set_price`` holds the new price, so the smoothed mark converges to it."""


class _GrowingTicks:
    """A tick series (``bar_ms == 0``) that the harness extends as the test moves the price.

    Bars validates its sequences once, at construction; the venue reads them by index as its clock
    advances, so a tick appended to these lists (one list serves as open, high, low and close) is
    played when the clock reaches its time. ``PaperHarness.set_price`` checks the mark really
    moved, so a venue that stops reading the feed lazily fails loudly here, not in a test.
    """

    def __init__(self, symbol: str, start_ms: int, price: float) -> None:
        self.times: list[int] = [start_ms]
        self.prices: list[float] = [price]
        self.bars = Bars(
            symbol,
            self.times,  # type: ignore[arg-type]  # a list, so it can grow
            self.prices,  # type: ignore[arg-type]
            self.prices,  # type: ignore[arg-type]
            self.prices,  # type: ignore[arg-type]
            self.prices,  # type: ignore[arg-type]
            0,
        )

    def append(self, t_ms: int, price: float) -> None:
        if not (t_ms > self.times[-1] and math.isfinite(price) and price > 0):
            raise ValueError(f"tick ({t_ms}, {price}) cannot follow ({self.times[-1]}, ...)")
        self.times.append(t_ms)
        self.prices.append(price)


class _PaperVenueHarness(ContractHarness):
    """A paper venue (binance margin profile) with one funded account, on a virtual clock.

    The venue is shared by every harness that drives it, directly (:class:`PaperHarness`) or
    through a fake exchange server (:class:`BinanceUsdmFakeHarness`); ``set_price`` moves it.
    """

    def __init__(self, *, name: str, contract_size: float, start_ms: int) -> None:
        self.name = name
        self.symbol = "BTC/USDT:USDT"
        tiers = with_cumulative_amounts(
            [
                Tier(0, 50_000, 0.004, 0, 125),
                Tier(50_000, 600_000, 0.005, 0, 100),
                Tier(600_000, 3_000_000, 0.0065, 0, 75),
                Tier(3_000_000, 12_000_000, 0.01, 0, 50),
            ]
        )
        market = PaperMarket(
            self.symbol,
            tiers,
            contract_size=contract_size,
            amount_step=round(0.001 / contract_size, 12),
            min_amount=round(0.001 / contract_size, 12),
        )
        self._ticks = _GrowingTicks(self.symbol, start_ms, PAPER_START_PRICE)
        self.venue = PaperVenue(get_profile("binance"), [market], {self.symbol: self._ticks.bars})
        self.venue.add_account("guard", PAPER_BALANCE)
        self.clock = VirtualClock(self.venue.now_ms)
        self.clock.subscribe(self.venue.advance_to)

    async def set_price(self, price: float) -> None:
        now = self.clock.now_ms()
        self._ticks.append(now + 1_000, price)
        self._ticks.append(now + _SETTLE_S * 1_000, price)
        self.clock.advance_to(now + _SETTLE_S * 1_000)
        mark = self.venue.mark_price(self.symbol)
        if not math.isclose(mark, price, rel_tol=1e-3):
            raise RuntimeError(
                f"{self.name}: the mark is {mark} after set_price({price}); the venue no longer "
                "reads its feed as the clock advances, so this harness needs another way in"
            )


class PaperHarness(_PaperVenueHarness):
    """The paper venue behind a PaperExchange."""

    capabilities = frozenset(Capability)

    def __init__(self, *, name: str = "paper", contract_size: float = 1.0) -> None:
        super().__init__(name=name, contract_size=contract_size, start_ms=PAPER_START_MS)
        self.client = PaperExchange(self.venue, "guard", clock=self.clock)
        self._clients = [self.client]

    async def second_client(self) -> PaperExchange:
        client = PaperExchange(self.venue, "guard", clock=self.clock)
        self._clients.append(client)
        return client

    async def aclose(self) -> None:
        for client in self._clients:
            await client.close()


# ---------------------------------------------------------------------------------------- binance

FAKE_API_KEY = "rgContractTestKey0000000000000000000000000000000000000000000000"
FAKE_SECRET = "rgContractTestSecret000000000000000000000000000000000000000000"
_FUNDING_INTERVAL_MS = 8 * 3_600_000


def _start_after_last_funding_ms() -> int:
    """A minute after the last 8-hour funding time before now (wall clock).

    A real ccxt client judges the venue's times by the wall clock (the contract wants
    ``fetch_funding_rate``'s next funding time ahead of ``client.milliseconds()``), so the venue
    starts within one funding interval before now: its next funding time is then the wall clock's
    next one, and the few 5-minute ``set_price`` steps of a test stay clear of any settlement.
    """
    now = time.time_ns() // 1_000_000
    return now // _FUNDING_INTERVAL_MS * _FUNDING_INTERVAL_MS + 60_000


class BinanceUsdmFakeHarness(_PaperVenueHarness):
    """A real ``ccxt.async_support.binanceusdm`` client against ``tests/fakes/binance_usdm.py``.

    ccxt signs, sends and parses every request as it does against Binance; the fake server
    translates them to the paper venue. Client settings riskguard depends on:
    ``fetchCurrencies`` off (no spot wallet endpoints), ``setMarginMode.throwMarginModeAlreadySet``
    on (by default ccxt 4.5.90 swallows Binance's -4046 "No need to change margin type." and
    returns it as a result; the contract wants MarginModeAlreadySet), rate limiting on with a
    1 ms unit so tests stay fast, and ccxt's own retries off. The client's
    ``get_exceptions_by_url`` is patched so Binance's linear error codes map on the local URL as
    on ``fapi.binance.com`` (:func:`tests.fakes.binance_usdm.point_client_at`).
    """

    capabilities = frozenset({Capability.SHARED_ACCOUNT, Capability.POSITION_LEVERAGE})
    stop_loss_params = MappingProxyType({"workingType": "MARK_PRICE"})

    def __init__(self, *, name: str = "binanceusdm-fake") -> None:
        super().__init__(name=name, contract_size=1.0, start_ms=_start_after_last_funding_ms())
        self.server = FakeBinanceUsdm(
            self.venue, "guard", self.clock, api_key=FAKE_API_KEY, secret=FAKE_SECRET
        )
        self.ccxt_client: Any = None
        self._clients: list[Any] = []

    def _new_ccxt_client(self) -> Any:
        client = ccxt.binanceusdm(
            {
                "apiKey": FAKE_API_KEY,
                "secret": FAKE_SECRET,
                "enableRateLimit": True,
                "rateLimit": 1,
                "timeout": 10_000,
                "timeout_on_exit": 0,  # its 250 ms pause lets TLS close; plain HTTP needs none
                "options": {
                    "fetchCurrencies": False,
                    "maxRetriesOnFailure": 0,
                    "setMarginMode": {"throwMarginModeAlreadySet": True},
                },
            }
        )
        point_client_at(client, self.server.base_url)
        self._clients.append(client)
        return client

    async def start(self) -> None:
        await self.server.start()
        self.ccxt_client = self._new_ccxt_client()
        self.client = LiveExchange(self.ccxt_client)

    async def second_client(self) -> Any:
        return self._new_ccxt_client()

    async def aclose(self) -> None:
        try:
            for client in self._clients:
                await client.close()
        finally:
            await self.server.stop()


HARNESSES: dict[str, Callable[[], ContractHarness]] = {
    "paper": PaperHarness,
    "paper-contract-0.01": lambda: PaperHarness(name="paper-contract-0.01", contract_size=0.01),
    "binanceusdm-fake": BinanceUsdmFakeHarness,
}
"""Every implementation the contract suite runs over, by test id. Factories do no I/O.

``paper-contract-0.01`` trades 0.01 BTC contracts (as OKX does), so a test mixing up contracts and
base units fails there even when it passes with Binance's contract size of 1. ``binanceusdm-fake``
is a real ccxt ``binanceusdm`` client on a fake Binance server over the same paper venue."""

PAPER_HARNESSES = ("paper", "paper-contract-0.01")
"""The harness ids a ``known_bug`` of the paper venue applies to."""
