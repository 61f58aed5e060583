"""Markets and leverage tiers of one exchange, loaded once and shared by its accounts.

Every account on an exchange trades the same markets under the same tiers, so they are loaded
through the first account's client, handed to the others without a request
(``adopt_markets``), and refreshed on the daemon's slower schedule. Tiers are fetched in one call
where the venue has a bulk endpoint (Binance, Bybit), else per symbol and only for symbols that
hold a position (OKX), so a venue with hundreds of markets costs a handful of calls.
A refresh that fails keeps the previous markets and tiers: stale tiers beat none.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping
from typing import Any

from riskguard.domain import MarketRules, Tier
from riskguard.exchange.ccxt_account import tiers_from_ccxt


class SharedMarkets:
    """One exchange's markets, tiers and order rules, shared by the accounts on it."""

    def __init__(self, exchange_id: str = "") -> None:
        self.exchange_id = exchange_id
        self.markets: dict[str, Any] = {}
        self.tiers: dict[str, tuple[Tier, ...]] = {}
        self.market_rules: dict[str, MarketRules] = {}
        self.loaded_ms: int | None = None
        self.refreshes = 0
        self._lock = asyncio.Lock()
        self._bulk_done = False
        self._source: Any = None
        self._adopters: list[Any] = []
        self._stop_sizes: tuple[Mapping[str, MarketRules], dict[str, float]] = ({}, {})

    @property
    def max_stop_sizes(self) -> Mapping[str, float]:
        """The largest stop each capped market takes in one order, in base units (read from
        :attr:`market_rules` again only when they are replaced: every cycle asks)."""
        rules, sizes = self._stop_sizes
        if rules is not self.market_rules:
            rules = self.market_rules
            sizes = {
                s: r.to_size(r.max_market_amount)
                for s, r in rules.items()
                if r.max_market_amount is not None
            }
            self._stop_sizes = (rules, sizes)
        return sizes

    @property
    def loaded(self) -> bool:
        """Whether markets have been loaded at least once."""
        return bool(self.markets)

    async def ensure(self, port: Any, now_ms: int) -> None:
        """Load markets through ``port`` if nobody has yet; else hand them to ``port``."""
        async with self._lock:
            if not self.markets:
                await self._load(port, now_ms)
            elif port is not self._source and not getattr(port, "markets", None):
                _adopt(port, self.markets, self._source)
                self._adopters.append(port)

    async def refresh(self, port: Any, now_ms: int) -> None:
        """Reload markets and every tier already known (the slow scheduled job)."""
        async with self._lock:
            await self._load(port, now_ms, reload=True, symbols=list(self.tiers))
            self.refreshes += 1
            # The other clients of the exchange get the new markets too (order formatting).
            for other in self._adopters:
                if other is not self._source:
                    _adopt(other, self.markets, self._source)

    def tiers_wanted(self, symbols: Iterable[str]) -> bool:
        """Whether :meth:`ensure_tiers` would fetch anything for ``symbols`` (checked without a
        coroutine: a cycle asks every poll, and the tiers are almost always known)."""
        return not self._bulk_done and any(s not in self.tiers for s in symbols)

    async def ensure_tiers(self, port: Any, symbols: Iterable[str]) -> None:
        """Make sure the tiers of ``symbols`` are known (per-symbol venues fetch the missing)."""
        missing = sorted({s for s in symbols if s not in self.tiers})
        if not missing or self._bulk_done:
            return
        async with self._lock:
            missing = [s for s in missing if s not in self.tiers]
            if missing:
                await self._load_tiers(port, missing)

    async def _load(
        self, port: Any, now_ms: int, *, reload: bool = False, symbols: Iterable[str] = ()
    ) -> None:
        loaded = await port.load_markets(reload) if reload else await port.load_markets()
        markets = dict(loaded)
        rules = {s: market_rules(s, m) for s, m in markets.items()}
        fresh, bulk = await _fetch_tiers(port, markets, list(symbols))
        # Nothing is replaced before every call succeeded: a failed refresh keeps it all.
        self.markets = markets
        self.market_rules = rules
        self.loaded_ms = now_ms
        self._source = port
        self._keep_tiers(fresh, bulk)

    async def _load_tiers(self, port: Any, symbols: list[str]) -> None:
        self._keep_tiers(*await _fetch_tiers(port, self.markets, symbols))

    def _keep_tiers(self, fresh: Mapping[str, tuple[Tier, ...]], bulk: bool) -> None:
        self.tiers = {**self.tiers, **fresh}
        self._bulk_done = self._bulk_done or bulk


async def _fetch_tiers(
    port: Any, markets: Mapping[str, Any], symbols: list[str]
) -> tuple[dict[str, tuple[Tier, ...]], bool]:
    """The tiers of ``symbols`` (of every contract, where the venue has a bulk call), and
    whether that bulk call was made."""
    has = getattr(port, "has", {}) or {}
    bulk = has.get("fetchLeverageTiers") is True
    if bulk:
        contracts = [s for s, m in markets.items() if m.get("swap") or m.get("contract")]
        raw = await port.fetch_leverage_tiers(contracts)
    else:
        raw = await port.fetch_leverage_tiers(symbols) if symbols else {}
    # Only complete rows are kept: a half-loaded market would be judged without its tiers.
    return {s: tiers_from_ccxt(rows) for s, rows in raw.items() if rows}, bulk


def _adopt(port: Any, markets: Mapping[str, Any], source: Any) -> None:
    adopt = getattr(port, "adopt_markets", None)
    if adopt is not None:
        adopt(markets, source)


def market_rules(symbol: str, market: Mapping[str, Any]) -> MarketRules:
    """The order rules of one ccxt market (amount step, minimums, tick, contract size, and the
    largest market order: ccxt's ``limits.market.max``, else ``limits.amount.max``)."""
    precision = market.get("precision") or {}
    limits = market.get("limits") or {}
    amount_limits = limits.get("amount") or {}
    cost_limits = limits.get("cost") or {}
    largest = (limits.get("market") or {}).get("max") or amount_limits.get("max")
    step = precision.get("amount") or 1.0  # ccxt 4 reports precision as a tick size
    return MarketRules(
        symbol=symbol,
        contract_size=float(market.get("contractSize") or 1.0),
        amount_step=float(step),
        min_amount=float(amount_limits.get("min") or 0.0),
        price_tick=float(precision.get("price") or 0.01),
        min_notional=float(cost_limits["min"]) if cost_limits.get("min") else None,
        max_market_amount=float(largest) if largest and float(largest) > 0 else None,
    )
