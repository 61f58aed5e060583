"""The live ccxt adapter: one ccxt async exchange behind the port the guard uses.

The guard, the executor and the contract tests call ccxt's unified method names on whatever they
are given; :class:`LiveExchange` gives them those names over a real ``ccxt.async_support``
exchange, with what running for weeks needs and ccxt leaves to its user (CCXT_NOTES.md):

- **Reads are retried** with exponential backoff and full jitter on ``OperationFailed`` (network,
  timeout, rate limit, maintenance); a rate limit waits longer. ``InvalidNonce`` (the local clock
  drifted from the exchange's) first resyncs the time difference, then retries.
- **Writes are sent once.** A timed-out order may have reached the exchange; the executor looks it
  up by client id before it sends again. ccxt's own ``maxRetriesOnFailure`` is forced to 0 (it
  would resend orders) and its rate limiter is forced on.
- **Tiers in contracts** (OKX's position tiers count contracts) are turned into size tiers in
  base units, so the risk core never mixes units; venues without a bulk tier call are asked per
  symbol.
- **Leverage filled in** where the positions call leaves it out (binanceusdm's v3 positionRisk):
  from ``fetch_leverages``, read at most once a minute and again after the guard sets a leverage.
- Errors leave as ccxt's own classes; :func:`riskguard.exchange.errors.translate` turns them into
  retry / skip / stop at the guard's boundary.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import ccxt.async_support as ccxt
import structlog

from riskguard.exchange.errors import is_retryable, short_text

T = TypeVar("T")
Sleep = Callable[[float], Awaitable[None]]

_LOG = structlog.get_logger("riskguard.exchange")

LEVERAGE_MAX_AGE_S = 60.0
"""How long leverage settings read by ``fetch_leverages`` are used to fill position rows."""

TIER_BOUNDS_IN_CONTRACTS = frozenset({"okx", "mexc", "krakenfutures"})
"""ccxt ids whose leverage tiers bound the position in contracts, not in notional (CCXT_NOTES;
Kraken Futures: ccxt copies the ``marginLevels`` size bounds into its notional fields)."""


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """How reads are retried: ``attempts`` in all, delays ``base * 2**n`` capped, full jitter."""

    attempts: int = 3
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    rate_limit_delay_s: float = 2.0

    def delay(self, attempt: int, exc: BaseException, rng: random.Random) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based) after ``exc``."""
        cap = min(self.max_delay_s, self.base_delay_s * 2**attempt)
        if isinstance(exc, ccxt.RateLimitExceeded | ccxt.DDoSProtection):
            cap = max(cap, self.rate_limit_delay_s)
        return rng.uniform(cap / 2, cap)


class LiveExchange:
    """A ccxt async exchange with retried reads, single-shot writes and unit-safe tiers."""

    def __init__(
        self,
        client: Any,
        *,
        retry: RetryPolicy | None = None,
        sleep: Sleep = asyncio.sleep,
        rng: random.Random | None = None,
        on_retry: Callable[[str, BaseException], None] | None = None,
        monotonic: Callable[[], float] = time.monotonic,
    ) -> None:
        client.enableRateLimit = True
        client.options["maxRetriesOnFailure"] = 0
        self.client = client
        self.retry = retry or RetryPolicy()
        self._sleep = sleep
        self._rng = rng or random.Random()  # noqa: S311 - jitter, not security
        self._on_retry = on_retry
        self._monotonic = monotonic
        self._leverages: dict[str, tuple[float | None, float | None]] = {}
        self._leverages_read_at: float | None = None
        self.resyncs = 0

    # ------------------------------------------------------------------ identity

    @property
    def id(self) -> str:
        """The ccxt exchange id."""
        return str(self.client.id)

    @property
    def has(self) -> Mapping[str, Any]:
        """ccxt's capability flags."""
        return dict(self.client.has)

    @property
    def markets(self) -> Mapping[str, Any]:
        """The loaded markets (empty before :meth:`load_markets`)."""
        return self.client.markets or {}

    def milliseconds(self) -> int:
        """The exchange client's clock, corrected for the measured time difference."""
        return int(self.client.milliseconds())

    def __repr__(self) -> str:
        # ccxt clients hold the keys; never let a repr reach a log line.
        return f"LiveExchange({self.id})"

    # ------------------------------------------------------------------ plumbing

    async def _read(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        attempt = 0
        while True:
            try:
                return await call()
            except ccxt.BaseError as exc:
                if not is_retryable(exc) or attempt + 1 >= self.retry.attempts:
                    raise
                if isinstance(exc, ccxt.InvalidNonce):
                    await self.resync_time()
                delay = self.retry.delay(attempt, exc, self._rng)
                _LOG.warning(
                    "exchange_retry",
                    exchange=self.id,
                    method=method,
                    error=type(exc).__name__,
                    detail=short_text(exc),
                    attempt=attempt + 1,
                    delay_s=round(delay, 3),
                )
                if self._on_retry is not None:
                    self._on_retry(method, exc)
                await self._sleep(delay)
                attempt += 1

    async def resync_time(self) -> None:
        """Measure the difference between the exchange's clock and ours again."""
        if not self.client.has.get("fetchTime"):
            return
        self.resyncs += 1
        try:
            difference = await self.client.load_time_difference()
        except ccxt.BaseError as exc:
            _LOG.warning("time_resync_failed", exchange=self.id, error=short_text(exc))
            return
        _LOG.info("time_resynced", exchange=self.id, difference_ms=difference)

    # ------------------------------------------------------------------ reads

    async def load_markets(
        self, reload: bool = False, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``load_markets`` (retried)."""
        result: dict[str, Any] = await self._read(
            "load_markets", lambda: self.client.load_markets(reload, params or {})
        )
        return result

    def adopt_markets(self, markets: Mapping[str, Any], source: Any = None) -> None:
        """Use markets another client of the same exchange already loaded (no request).

        From a :class:`LiveExchange` of the same exchange the market dicts are shared, not
        copied (ccxt's ``set_markets_from_exchange``): 50 accounts on Binance would otherwise
        hold 50 copies of its markets (about 2 MB each).
        """
        if isinstance(source, LiveExchange) and source.id == self.id and source.client.markets:
            self.client.set_markets_from_exchange(source.client)
        else:
            self.client.set_markets(dict(markets))

    async def fetch_balance(self, params: dict[str, Any] | None = None) -> dict[str, Any]:
        """ccxt's ``fetch_balance`` (retried)."""
        result: dict[str, Any] = await self._read(
            "fetch_balance", lambda: self.client.fetch_balance(params or {})
        )
        return result

    async def fetch_positions(
        self, symbols: list[str] | None = None, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """ccxt's ``fetch_positions`` (retried), with leverage filled in where the venue leaves
        it out (see :meth:`_fill_leverage`)."""
        result: list[dict[str, Any]] = await self._read(
            "fetch_positions", lambda: self.client.fetch_positions(symbols, params or {})
        )
        lacking = isinstance(result, list) and any(_lacks_leverage(row) for row in result)
        if lacking and self.client.has.get("fetchLeverages"):
            await self._fill_leverage(result)
        return result

    async def _fill_leverage(self, rows: Sequence[Any]) -> None:
        """Set ``leverage`` on open rows without one, from the account's leverage settings.

        The settings are read with ``fetch_leverages`` at most every :data:`LEVERAGE_MAX_AGE_S`
        and again after :meth:`set_leverage`; a bot beside the guard that changes a leverage is
        seen within that time. When the read fails the rows keep ``leverage`` None (the
        leverage-setting cap is then not checked this cycle) and a warning is logged.
        """
        now = self._monotonic()
        read_at = self._leverages_read_at
        if read_at is None or now - read_at >= LEVERAGE_MAX_AGE_S:
            try:
                table = await self._read(
                    "fetch_leverages", lambda: self.client.fetch_leverages(None, {})
                )
            except ccxt.BaseError as exc:
                _LOG.warning("leverage_unread", exchange=self.id, error=short_text(exc))
                return
            self._leverages = {
                str(symbol): (
                    _positive(entry.get("longLeverage")),
                    _positive(entry.get("shortLeverage")),
                )
                for symbol, entry in (table or {}).items()
                if isinstance(entry, Mapping)
            }
            self._leverages_read_at = now
        for row in rows:
            if not _lacks_leverage(row):
                continue
            long_leverage, short_leverage = self._leverages.get(
                str(row.get("symbol")), (None, None)
            )
            leverage = long_leverage if row.get("side") == "long" else short_leverage
            if leverage is not None:
                row["leverage"] = leverage

    async def fetch_open_orders(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """ccxt's ``fetch_open_orders`` (retried)."""
        result: list[dict[str, Any]] = await self._read(
            "fetch_open_orders",
            lambda: self.client.fetch_open_orders(symbol, since, limit, params or {}),
        )
        return result

    async def fetch_order(
        self, id: str | None, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``fetch_order`` (retried: it is a read; ``OrderNotFound`` is not retried)."""
        result: dict[str, Any] = await self._read(
            "fetch_order", lambda: self.client.fetch_order(id, symbol, params or {})
        )
        return result

    async def fetch_mark_price(
        self, symbol: str, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """The mark price: ``fetch_mark_price`` where the venue has it, else the ticker's."""
        if self.client.has.get("fetchMarkPrice"):
            result: dict[str, Any] = await self._read(
                "fetch_mark_price", lambda: self.client.fetch_mark_price(symbol, params or {})
            )
            return result
        ticker: dict[str, Any] = await self._read(
            "fetch_ticker", lambda: self.client.fetch_ticker(symbol, params or {})
        )
        return ticker

    async def fetch_ticker(self, symbol: str, params: dict[str, Any] | None = None) -> Any:
        """ccxt's ``fetch_ticker`` (retried)."""
        return await self._read(
            "fetch_ticker", lambda: self.client.fetch_ticker(symbol, params or {})
        )

    async def fetch_leverage_tiers(
        self, symbols: Sequence[str] | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, list[dict[str, Any]]]:
        """Tiers per symbol, bounds in notional or (``unit: size``) in base units.

        One bulk call where ccxt has ``fetchLeverageTiers``, else one call per symbol.
        """
        wanted = list(symbols or [])
        raw: dict[str, list[dict[str, Any]]]
        if self.client.has.get("fetchLeverageTiers"):
            raw = await self._read(
                "fetch_leverage_tiers",
                lambda: self.client.fetch_leverage_tiers(wanted or None, params or {}),
            )
        elif self.client.has.get("fetchMarketLeverageTiers"):
            raw = {}
            for symbol in wanted:
                raw[symbol] = await self._read(
                    "fetch_market_leverage_tiers",
                    lambda s=symbol: self.client.fetch_market_leverage_tiers(s, params or {}),  # type: ignore[misc]
                )
        else:
            return {}
        if self.id not in TIER_BOUNDS_IN_CONTRACTS:
            return raw
        markets = self.markets
        return {s: contract_tiers_as_size(rows, markets.get(s) or {}) for s, rows in raw.items()}

    async def fetch_market_leverage_tiers(
        self, symbol: str, params: dict[str, Any] | None = None
    ) -> list[dict[str, Any]]:
        """One symbol's tiers, converted like :meth:`fetch_leverage_tiers`."""
        tiers = await self.fetch_leverage_tiers([symbol], params)
        return tiers.get(symbol, [])

    async def fetch_my_trades(
        self,
        symbol: str | None = None,
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[dict[str, Any]]:
        """ccxt's ``fetch_my_trades`` (retried)."""
        result: list[dict[str, Any]] = await self._read(
            "fetch_my_trades",
            lambda: self.client.fetch_my_trades(symbol, since, limit, params or {}),
        )
        return result

    async def fetch_ohlcv(
        self,
        symbol: str,
        timeframe: str = "1m",
        since: int | None = None,
        limit: int | None = None,
        params: dict[str, Any] | None = None,
    ) -> list[list[Any]]:
        """ccxt's ``fetch_ohlcv`` (retried): ``[time, open, high, low, close, volume]`` rows."""
        result: list[list[Any]] = await self._read(
            "fetch_ohlcv",
            lambda: self.client.fetch_ohlcv(symbol, timeframe, since, limit, params or {}),
        )
        return result

    async def fetch_funding_rate(self, symbol: str, params: dict[str, Any] | None = None) -> Any:
        """ccxt's ``fetch_funding_rate`` (retried)."""
        return await self._read(
            "fetch_funding_rate", lambda: self.client.fetch_funding_rate(symbol, params or {})
        )

    # ------------------------------------------------------------------ writes (sent once)

    async def _write(self, method: str, call: Callable[[], Awaitable[T]]) -> T:
        try:
            return await call()
        except ccxt.InvalidNonce:
            _LOG.warning("time_skew", exchange=self.id, method=method)
            await self.resync_time()  # the caller decides whether to send again
            raise

    async def create_order(
        self,
        symbol: str,
        type: str,
        side: str,
        amount: float,
        price: float | None = None,
        params: dict[str, Any] | None = None,
    ) -> dict[str, Any]:
        """ccxt's ``create_order``, sent once."""
        result: dict[str, Any] = await self._write(
            "create_order",
            lambda: self.client.create_order(symbol, type, side, amount, price, params or {}),
        )
        return result

    async def cancel_order(
        self, id: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``cancel_order``, sent once."""
        result: dict[str, Any] = await self._write(
            "cancel_order", lambda: self.client.cancel_order(id, symbol, params or {})
        )
        return result

    async def add_margin(
        self, symbol: str, amount: float, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``add_margin``, sent once (never retried: read the position back instead)."""
        result: dict[str, Any] = await self._write(
            "add_margin", lambda: self.client.add_margin(symbol, amount, params or {})
        )
        return result

    async def reduce_margin(
        self, symbol: str, amount: float, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``reduce_margin``, sent once."""
        result: dict[str, Any] = await self._write(
            "reduce_margin", lambda: self.client.reduce_margin(symbol, amount, params or {})
        )
        return result

    async def set_leverage(
        self, leverage: float, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``set_leverage``, sent once; the leverage settings are read again next time."""
        self._leverages_read_at = None  # also on failure: the venue may have applied it
        result: dict[str, Any] = await self._write(
            "set_leverage", lambda: self.client.set_leverage(leverage, symbol, params or {})
        )
        self._leverages_read_at = None
        return result

    async def set_margin_mode(
        self, margin_mode: str, symbol: str | None = None, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """ccxt's ``set_margin_mode``, sent once."""
        result: dict[str, Any] = await self._write(
            "set_margin_mode",
            lambda: self.client.set_margin_mode(margin_mode, symbol, params or {}),
        )
        return result

    async def create_market_order(
        self, symbol: str, side: str, amount: float, params: dict[str, Any] | None = None
    ) -> dict[str, Any]:
        """A market order through :meth:`create_order`."""
        return await self.create_order(symbol, "market", side, amount, None, params)

    async def close(self) -> None:
        """Close the ccxt client's HTTP session."""
        await self.client.close()


def _lacks_leverage(row: Any) -> bool:
    """An open position row (a side and contracts) whose leverage is missing."""
    return (
        isinstance(row, Mapping)
        and row.get("side") in ("long", "short")
        and _positive(row.get("contracts")) is not None
        and _positive(row.get("leverage")) is None
    )


def _positive(value: Any) -> float | None:
    """``value`` as a finite number above zero, else None."""
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if number > 0 and number != float("inf") else None


def contract_tiers_as_size(
    rows: Sequence[Mapping[str, Any]], market: Mapping[str, Any]
) -> list[dict[str, Any]]:
    """Tiers bounded in contracts as tiers bounded in base units (``unit: size``)."""
    size = float(market.get("contractSize") or 1.0)
    converted = []
    for row in rows:
        new = dict(row)
        for key in ("minNotional", "maxNotional"):
            if new.get(key) is not None:
                new[key] = float(new[key]) * size
        new["unit"] = "size"
        converted.append(new)
    return converted
