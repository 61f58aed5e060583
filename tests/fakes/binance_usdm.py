"""A fake Binance USDⓈ-M futures REST server over the paper venue, for a real ccxt client.

:class:`FakeBinanceUsdm` serves the ``/fapi`` endpoints that ``ccxt.async_support.binanceusdm``
4.5.90 calls for riskguard's methods, in Binance's own JSON (numbers as strings where Binance sends
strings), and translates each request straight into :class:`~riskguard.paper.engine.PaperVenue`
calls; it never goes through ``PaperExchange``, so a shape ccxt parses wrongly shows up as it
would against Binance. A real ccxt client signs every private request; the server checks the
HMAC-SHA256 signature, the API key and the timestamp window as Binance does.

Endpoints (ccxt method → request):

=================================  =========================================================
``load_markets``                   ``GET /fapi/v1/exchangeInfo`` (with ``fetchCurrencies`` off)
``fetch_ticker``                   ``GET /fapi/v1/ticker/24hr``
``fetch_ohlcv``                    ``GET /fapi/v1/klines`` (the bars that have ended; Binance also
                                   sends the one still forming)
``fetch_mark_price``,              ``GET /fapi/v1/premiumIndex``
``fetch_funding_rate``
``fetch_leverage_tiers``,          ``GET /fapi/v1/leverageBracket`` (signed; also loaded once by
``fetch_market_leverage_tiers``    ``fetch_positions`` for the maintenance rates)
``fetch_balance``                  ``GET /fapi/v3/account`` (``/fapi/v2/account`` with useV2)
``fetch_positions``                ``GET /fapi/v3/positionRisk`` (``/fapi/v2/positionRisk``)
``set_leverage``                   ``POST /fapi/v1/leverage``
``set_margin_mode``                ``POST /fapi/v1/marginType``
``add_margin`` / ``reduce_margin`` ``POST /fapi/v1/positionMargin`` (type 1 / 2)
``create_order``                   ``POST /fapi/v1/order``; with a stop-loss, take-profit or
                                   trigger price ``POST /fapi/v1/algoOrder`` (``algoId``)
``fetch_order``                    ``GET /fapi/v1/order``; ``{'trigger': True}`` →
                                   ``GET /fapi/v1/algoOrder``
``fetch_open_orders``              ``GET /fapi/v1/openOrders``; trigger → ``openAlgoOrders``
``cancel_order``                   ``DELETE /fapi/v1/order``; trigger → ``DELETE algoOrder``
``fetch_my_trades``                ``GET /fapi/v1/userTrades``
``fetch_time``                     ``GET /fapi/v1/time``
=================================  =========================================================

Errors are Binance's codes and messages, with Binance's HTTP status:

- requests: -1022 bad signature, -2014/-2015 API key (HTTP 401), -1021 timestamp outside
  recvWindow, -1100 a non-integer where Binance wants digits (``leverage=5.0``, ``orderId``),
  -1102 missing parameter, -1121 invalid symbol;
- orders: -1116/-1117 order type/side, -4120 a conditional type sent to ``/fapi/v1/order``
  instead of ``algoOrder``, -4003/-1111/-4005 quantity zero/off the step/above (MARKET_)LOT_SIZE,
  -4164 notional below 100, -4014 price off the tick, -2019 margin is insufficient, -2021 order
  would immediately trigger, -2022 reduce-only rejected, -4061 position side, -4116 duplicated
  client order id, -2011 unknown order (cancel), -2013 order does not exist (query);
- settings: -4028 leverage not valid, -2027 maximum position at this leverage, -4046 no need to
  change margin type, -4047/-4048 margin type with open orders/position, -4049/-4050/-4051
  position margin (not isolated, cross balance, isolated balance).

A venue refusal the server does not translate answers HTTP 500 naming it, so a gap fails loudly.
ccxt maps several of those codes (-2019, -2021, -2022, -4116, -4164, ...) only for URLs of
``fapi.binance.com``; see :func:`point_client_at`.

Positions: ``liquidationPrice`` is the risk core's liquidation price for the position under the
venue's profile (cross and isolated), ``"0"`` when it finds none, as Binance sends ``0``.
``isolatedMargin`` is the isolated wallet plus unrealised PnL, ``isolatedWallet`` the wallet alone;
``maintMargin`` and ``initialMargin`` come from the same assessment. ``fetch_balance``'s
``initialMargin`` per asset is everything not available (``marginBalance - availableBalance``),
so free + used = total as ccxt promises.

What the fake does not model:

- hedge mode (``positionSide`` LONG/SHORT is refused with -4061, as in one-way mode),
  ``closePosition``, trailing stops, stop-limit orders, ``priceMatch``, batch orders,
  ``timeInForce`` other than GTC;
- client order ids are unique for the account's lifetime (Binance only refuses a duplicate among
  open orders); the order a fired algo order places carries the algo's client id;
- 24-hour ticker statistics (open, high and low equal last; volumes are 0), order-book depth,
  rate-limit weights, listen keys and websockets, the ``/fapi/v1/leverage`` rule that isolated
  leverage cannot be lowered under an open position (the venue moves margin instead);
- ``newOrderRespType=ACK``: every order answer is the RESULT shape.

Test hooks: :attr:`FakeBinanceUsdm.requests` logs every request (signature removed);
:meth:`FakeBinanceUsdm.hold_next` makes the server apply a request and then hang before
answering (a client killed, or timed out, after the exchange took its order);
:meth:`FakeBinanceUsdm.fail_next` answers the next requests to a path with an error
(:func:`service_unavailable`, :func:`timestamp_outside_recv_window`, :func:`too_many_requests`)
without touching the venue. The server runs in the caller's event loop (:meth:`start`) or in a
thread of its own (:meth:`start_in_thread`), for tests that kill a client process mid-request.
"""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import math
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar
from urllib.parse import parse_qsl, urlsplit

import ccxt.async_support as ccxt
from aiohttp import web

from riskguard.clock import Clock
from riskguard.domain import MarginMode, Side
from riskguard.paper.engine import PaperAccount, PaperOrder, PaperPosition, PaperTrade, PaperVenue
from riskguard.paper.market import PaperMarket
from riskguard.paper.records import TriggerSource
from riskguard.risk.account import PositionRisk, assess_account
from tests.fakes.binance_faults import (
    AnswerHistory,
    AppliedFault,
    DuplicateSend,
    FaultPlan,
    PartialFill,
    StaleAnswer,
    Timeout,
)

T = TypeVar("T")
Json = Any
Params = dict[str, str]

DEFAULT_RECV_WINDOW_MS = 5_000
MAX_RECV_WINDOW_MS = 60_000
AHEAD_TOLERANCE_MS = 1_000
"""Binance refuses a timestamp more than a second ahead of its own clock."""
BINANCE_FAPI_HOST = "https://fapi.binance.com"

_ORDER_TYPES = (
    "LIMIT",
    "MARKET",
    "STOP",
    "STOP_MARKET",
    "TAKE_PROFIT",
    "TAKE_PROFIT_MARKET",
    "TRAILING_STOP_MARKET",
)
_ALGO_TYPES = ("STOP_MARKET", "TAKE_PROFIT_MARKET")
_WORKING_TYPES: dict[str, TriggerSource] = {"MARK_PRICE": "mark", "CONTRACT_PRICE": "last"}
"""Binance's ``workingType`` (the price a conditional order watches; CONTRACT_PRICE by default)."""
_WORKING_TYPE_OF = {source: working for working, source in _WORKING_TYPES.items()}
_ZERO_POSITION_FIELDS = (
    "entryPrice",
    "breakEvenPrice",
    "unRealizedProfit",
    "liquidationPrice",
    "isolatedMargin",
    "notional",
    "isolatedWallet",
    "initialMargin",
    "maintMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "bidNotional",
    "askNotional",
)
_V3_ONLY_POSITION_FIELDS = (
    "initialMargin",
    "maintMargin",
    "positionInitialMargin",
    "openOrderInitialMargin",
    "bidNotional",
    "askNotional",
    "marginAsset",
)
_STATUS = {
    "open": "NEW",
    "closed": "FILLED",
    "canceled": "CANCELED",
    "expired": "EXPIRED",
    "rejected": "REJECTED",
}
"""Venue order status → Binance order status."""
_ALGO_STATUS = {**_STATUS, "closed": "FINISHED"}
"""Venue trigger order status → Binance algo order status (a fired one is FINISHED)."""
_API_PATHS = {
    "fapiPublic": "/fapi/v1",
    "fapiPublicV2": "/fapi/v2",
    "fapiPublicV3": "/fapi/v3",
    "fapiPrivate": "/fapi/v1",
    "fapiPrivateV2": "/fapi/v2",
    "fapiPrivateV3": "/fapi/v3",
    "fapiData": "/futures/data",
}


# ---------------------------------------------------------------------------------------- client


def point_client_at(client: Any, base_url: str) -> None:
    """Point a ccxt ``binanceusdm`` client at the fake at ``base_url`` (``http://127.0.0.1:N``).

    Every entry of ``client.urls['api']`` is overridden (the ``/fapi`` ones keep their path
    suffix; the spot, coin-margined, options and portfolio ones point at the fake too, which
    answers 404, so nothing can leave for the internet).

    ccxt 4.5.90 chooses part of Binance's error-code table by URL prefix
    (``binance.get_exceptions_by_url``: linear codes only for ``https://fapi.binance.com/``), so on
    a local URL -2019 would arrive as a plain ExchangeError instead of InsufficientFunds and
    -2021/-2022/-4116 as ExchangeError instead of InvalidOrder. This patches the client
    instance's ``get_exceptions_by_url`` to look a fake URL up as the same path on
    ``fapi.binance.com``, so every code maps exactly as it does against the real host.
    """
    base = base_url.rstrip("/")
    urls = dict(client.urls["api"])
    for key, url in urls.items():
        urls[key] = base + _API_PATHS.get(key, urlsplit(url).path)
    client.urls["api"] = urls
    original = client.get_exceptions_by_url

    def exceptions_by_url(url: str | None, exact_or_broad: str) -> Any:
        if url is not None and url.startswith(base + "/"):
            url = BINANCE_FAPI_HOST + url[len(base) :]
        return original(url, exact_or_broad)

    client.get_exceptions_by_url = exceptions_by_url


# ---------------------------------------------------------------------------------------- hooks


@dataclass(frozen=True, slots=True)
class LoggedRequest:
    """One request as the server saw it: method, path and parameters (without ``signature``)."""

    method: str
    path: str
    params: Mapping[str, str]
    api_key: str | None


@dataclass(frozen=True, slots=True)
class InjectedError:
    """An answer :meth:`FakeBinanceUsdm.fail_next` gives instead of serving the request."""

    status: int
    body: str
    headers: Mapping[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


def service_unavailable() -> InjectedError:
    """HTTP 503 with a plain-text body (ccxt: ExchangeNotAvailable)."""
    return InjectedError(503, "Service Unavailable", content_type="text/plain")


def timestamp_outside_recv_window() -> InjectedError:
    """Binance's -1021, HTTP 400 (ccxt: InvalidNonce): the client's clock drifted."""
    return InjectedError(400, _error_body(-1021, _MESSAGES[-1021]))


def too_many_requests(retry_after_s: int = 1) -> InjectedError:
    """HTTP 429 with ``Retry-After`` and Binance's -1003 body (ccxt: DDoSProtection)."""
    body = _error_body(-1003, "Too many requests; current limit is 2400 requests per minute.")
    return InjectedError(429, body, {"Retry-After": str(retry_after_s)})


@dataclass(slots=True)
class Hold:
    """A request the server applies and then does not answer until :meth:`release`.

    ``applied`` is set once the venue has taken the request (an order is on the book or filled);
    the answer waits for ``released``. Both are ``threading.Event`` so a test in another thread
    or process-driving loop can use them; :meth:`wait_applied` awaits without blocking a loop.
    """

    predicate: Callable[[str, str, Mapping[str, str]], bool]
    applied: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)
    request: LoggedRequest | None = None

    def release(self) -> None:
        self.released.set()

    async def wait_applied(self, timeout_s: float = 5.0) -> LoggedRequest:
        """Wait (polling, so it works across threads) until the held request was applied."""
        deadline = time.monotonic() + timeout_s
        while not self.applied.is_set():
            if time.monotonic() > deadline:
                raise TimeoutError("no request matched the hold in time")
            await asyncio.sleep(0.005)
        assert self.request is not None
        return self.request


class BinanceError(Exception):
    """An error answer in Binance's shape: ``{"code": -2011, "msg": "Unknown order sent."}``."""

    def __init__(self, code: int, msg: str | None = None, *, status: int = 400) -> None:
        super().__init__(f"{code}: {msg or _MESSAGES.get(code, '')}")
        self.code = code
        self.msg = msg or _MESSAGES[code]
        self.status = status


_MESSAGES = {
    -1003: "Too many requests.",
    -1021: "Timestamp for this request is outside of the recvWindow.",
    -1022: "Signature for this request is not valid.",
    -1100: "Illegal characters found in a parameter.",
    -1102: "A mandatory parameter was not sent, was empty/null, or malformed.",
    -1111: "Precision is over the maximum defined for this asset.",
    -1116: "Invalid orderType.",
    -1117: "Invalid side.",
    -1121: "Invalid symbol.",
    -2011: "Unknown order sent.",
    -2013: "Order does not exist.",
    -2014: "API-key format invalid.",
    -2015: "Invalid API-key, IP, or permissions for action.",
    -2019: "Margin is insufficient.",
    -2021: "Order would immediately trigger.",
    -2022: "ReduceOnly Order is rejected.",
    -2027: "Exceeded the maximum allowable position at current leverage.",
    -4003: "Quantity less than or equal to zero.",
    -4005: "Quantity greater than max quantity.",
    -4014: "Price not increased by tick size.",
    -4046: "No need to change margin type.",
    -4047: "Margin type cannot be changed if there exists open orders.",
    -4048: "Margin type cannot be changed if there exists position.",
    -4049: "Add margin only support for isolated position.",
    -4050: "Cross balance insufficient.",
    -4051: "Isolated balance insufficient.",
    -4061: "Order's position side does not match user's setting.",
    -4116: "ClientOrderId is duplicated.",
}


def _integer(params: Mapping[str, str], name: str) -> int:
    """An INT parameter; Binance refuses anything but digits (``5.0`` too) with -1100."""
    raw = params[name]
    if not raw.isdigit() or len(raw) > 20:
        raise BinanceError(
            -1100,
            f"Illegal characters found in parameter '{name}'; legal range is '^([0-9]{{1,20}})$'.",
        )
    return int(raw)


_KLINE_MS = {"1m": 60_000, "3m": 180_000, "5m": 300_000, "15m": 900_000, "1h": 3_600_000}
"""The kline intervals the fake serves (Binance has more)."""


def _error_response(injected: InjectedError) -> web.Response:
    return web.Response(
        status=injected.status,
        text=injected.body,
        headers=dict(injected.headers),
        content_type=injected.content_type,
    )


def _error_body(code: int, msg: str) -> str:
    return json.dumps({"code": code, "msg": msg})


# ---------------------------------------------------------------------------------------- numbers


def _dec(value: float, places: int = 8) -> str:
    """A number as Binance writes most of them: a string with fixed decimals."""
    return f"{value:.{places}f}"


def _places(step: float) -> int:
    """Decimals of a step such as 0.001 (3) or 0.01 (2)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


# ---------------------------------------------------------------------------------------- server


Handler = Callable[[Params, PaperAccount], Json]


class FakeBinanceUsdm:
    """Binance USDⓈ-M REST in front of one account of a paper venue (one-way mode).

    ``clock`` is the venue's clock: on every request the venue is advanced to ``clock.now_ms()``
    when that is ahead (a paced or wall clock; a virtual clock the test advances itself changes
    nothing). Signature timestamps are checked against the wall clock plus ``clock_skew_ms``, as
    the ccxt client signs with the wall clock. Data timestamps (orders, positions, funding) are
    venue time.
    """

    def __init__(
        self,
        venue: PaperVenue,
        account: str,
        clock: Clock,
        *,
        api_key: str,
        secret: str,
        clock_skew_ms: int = 0,
        max_qty: float = 1000.0,
        max_market_qty: float = 120.0,
    ) -> None:
        venue.account(account)
        for market in venue.markets.values():
            if market.contract_size != 1:
                raise ValueError(f"{market.symbol}: Binance USDⓈ-M contracts are 1 base unit")
        self.venue = venue
        self.account = account
        self.clock = clock
        self.api_key = api_key
        self.secret = secret
        self.clock_skew_ms = clock_skew_ms
        self.max_qty = max_qty
        self.max_market_qty = max_market_qty
        """LOT_SIZE and MARKET_LOT_SIZE ``maxQty`` of every symbol (BTCUSDT's by default)."""
        self.requests: list[LoggedRequest] = []
        self._holds: list[Hold] = []
        self._failures: list[list[Any]] = []  # [method | None, path, error, remaining]
        self.faults: FaultPlan | None = None
        """Asked about every request (see :mod:`tests.fakes.binance_faults`)."""
        self.faults_applied: list[AppliedFault] = []
        self.duplicate_sends: list[DuplicateSend] = []
        self.stale_paths: frozenset[str] = frozenset(
            {"/fapi/v1/premiumIndex", "/fapi/v3/positionRisk", "/fapi/v2/positionRisk",
             "/fapi/v3/account", "/fapi/v2/account"}
        )  # fmt: skip
        """Reads whose answers are remembered, so a :class:`StaleAnswer` can replay them."""
        self._answers = AnswerHistory()
        self._fill_fraction = 1.0
        self._by_id = {
            m.symbol.replace("/", "").partition(":")[0]: m for m in venue.markets.values()
        }
        self._order_no: dict[str, int] = {}
        self._order_of_no: dict[int, str] = {}
        self._algo_no: dict[str, int] = {}
        self._algo_of_no: dict[int, str] = {}
        self._trade_no: dict[str, int] = {}
        self._next = {"order": 700_000_000_000, "algo": 4_000_000_000, "trade": 900_000_000}
        self._runner: web.AppRunner | None = None
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.base_url = ""
        get, post, delete = "GET", "POST", "DELETE"
        self._routes: dict[tuple[str, str], tuple[bool, Handler]] = {
            (get, "/fapi/v1/time"): (False, self._time),
            (get, "/fapi/v1/exchangeInfo"): (False, self._exchange_info),
            (get, "/fapi/v1/ticker/24hr"): (False, self._ticker_24hr),
            (get, "/fapi/v1/premiumIndex"): (False, self._premium_index),
            (get, "/fapi/v1/klines"): (False, self._klines),
            (get, "/fapi/v1/leverageBracket"): (True, self._leverage_bracket),
            (get, "/fapi/v2/account"): (True, self._account),
            (get, "/fapi/v3/account"): (True, self._account),
            (get, "/fapi/v2/positionRisk"): (True, self._position_risk_v2),
            (get, "/fapi/v1/symbolConfig"): (True, self._symbol_config),
            (get, "/fapi/v3/positionRisk"): (True, self._position_risk),
            (post, "/fapi/v1/leverage"): (True, self._leverage),
            (post, "/fapi/v1/marginType"): (True, self._margin_type),
            (post, "/fapi/v1/positionMargin"): (True, self._position_margin),
            (post, "/fapi/v1/order"): (True, self._new_order),
            (get, "/fapi/v1/order"): (True, self._query_order),
            (delete, "/fapi/v1/order"): (True, self._cancel_order),
            (get, "/fapi/v1/openOrders"): (True, self._open_orders),
            (post, "/fapi/v1/algoOrder"): (True, self._new_algo_order),
            (get, "/fapi/v1/algoOrder"): (True, self._query_algo_order),
            (delete, "/fapi/v1/algoOrder"): (True, self._cancel_algo_order),
            (get, "/fapi/v1/openAlgoOrders"): (True, self._open_algo_orders),
            (get, "/fapi/v1/userTrades"): (True, self._user_trades),
        }

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> str:
        """Serve on 127.0.0.1 (a free port) in the running loop; returns the base URL."""
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._dispatch)
        self._runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.base_url = f"http://127.0.0.1:{port}"
        return self.base_url

    async def stop(self) -> None:
        """Release every held request and stop serving."""
        for hold in self._holds:
            hold.release()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    def start_in_thread(self) -> str:
        """Serve from a thread with its own event loop (for clients in other processes)."""
        loop = asyncio.new_event_loop()
        started: list[str] = []
        ready = threading.Event()

        def run() -> None:
            asyncio.set_event_loop(loop)
            started.append(loop.run_until_complete(self.start()))
            ready.set()
            loop.run_forever()

        self._loop = loop
        self._thread = threading.Thread(target=run, name="fake-binanceusdm", daemon=True)
        self._thread.start()
        if not ready.wait(10):
            raise RuntimeError("the fake Binance server did not start")
        return started[0]

    def stop_thread(self) -> None:
        """Stop a server started with :meth:`start_in_thread` and close its loop."""
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        asyncio.run_coroutine_threadsafe(self.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        loop.close()
        self._loop = self._thread = None

    def call(self, fn: Callable[[], T]) -> T:
        """Run ``fn`` where the server touches the venue (its thread, if it has one)."""
        loop = self._loop
        if loop is None:
            return fn()

        async def run() -> T:
            return fn()

        return asyncio.run_coroutine_threadsafe(run(), loop).result(10)

    # ------------------------------------------------------------------ hooks

    def hold_next(self, predicate: Callable[[str, str, Mapping[str, str]], bool] | str) -> Hold:
        """Hold the next request matching ``predicate(method, path, params)`` (or a path).

        The server applies it to the venue, sets ``hold.applied`` and then waits for
        ``hold.release()`` (or :meth:`stop`) before answering.
        """
        if isinstance(predicate, str):
            wanted = predicate
            hold = Hold(lambda _m, path, _p: path == wanted)
        else:
            hold = Hold(predicate)
        self._holds.append(hold)
        return hold

    def fail_next(
        self, path: str, error: InjectedError, *, times: int = 1, method: str | None = None
    ) -> None:
        """Answer the next ``times`` requests to ``path`` (and ``method``) with ``error``.

        The venue never sees them; the request log does.
        """
        self._failures.append([method, path, error, times])

    # ------------------------------------------------------------------ dispatch

    async def _dispatch(self, request: web.Request) -> web.StreamResponse:
        method, path = request.method, request.path
        raw_query = request.rel_url.raw_query_string
        body = await request.text()
        params = dict(parse_qsl(raw_query, keep_blank_values=True))
        params.update(parse_qsl(body, keep_blank_values=True))
        signature = params.pop("signature", None)
        logged = LoggedRequest(method, path, dict(params), request.headers.get("X-MBX-APIKEY"))
        self.requests.append(logged)
        injected = self._take_failure(method, path)
        fault = self.faults.decide(logged) if self.faults is not None else None
        if injected is None and isinstance(fault, InjectedError):
            injected = fault
            self._applied("http_" + str(fault.status), logged)
        if injected is not None:
            return _error_response(injected)
        if isinstance(fault, Timeout) and not fault.applied:
            self._applied("timeout_before_apply", logged)
            await asyncio.sleep(fault.hang_s)
            return web.Response(status=504, text="fake binanceusdm: gateway timeout")
        route = self._routes.get((method, path))
        if route is None:
            return web.Response(status=404, text=f"fake binanceusdm: no {method} {path}")
        remembered = path in self.stale_paths and method == "GET"
        answer_key = AnswerHistory.key(method, path, params) if remembered else None
        if isinstance(fault, StaleAnswer) and answer_key is not None:
            old = self._answers.older_than(answer_key, fault.age_s)
            if old is not None:
                self._applied("stale_answer", logged, f"{fault.age_s:g} s")
                return web.Response(status=old[0], text=old[1], content_type="application/json")
        signed, handler = route
        status, payload = 200, None
        self._fill_fraction = fault.fraction if isinstance(fault, PartialFill) else 1.0
        try:
            if signed:
                self._authenticate(logged, raw_query, body, signature)
            self._sync()
            payload = handler(params, self.venue.account(self.account))
        except BinanceError as exc:
            status, payload = exc.status, {"code": exc.code, "msg": exc.msg}
        except _NotModelledError as exc:
            return web.Response(status=501, text=f"fake binanceusdm: {exc}")
        except ccxt.BaseError as exc:
            # A venue refusal this server does not translate yet: fail loudly, never guess a code.
            text = f"fake binanceusdm: unmapped venue error {type(exc).__name__}: {exc}"
            return web.Response(status=500, text=text)
        finally:
            self._fill_fraction = 1.0
        text = json.dumps(payload)
        if answer_key is not None and status == 200:
            self._answers.remember(answer_key, status, text)
        await self._maybe_hold(logged)
        if isinstance(fault, Timeout):
            self._applied("timeout_after_apply", logged)
            await asyncio.sleep(fault.hang_s)
        return web.Response(status=status, text=text, content_type="application/json")

    def _applied(self, kind: str, logged: LoggedRequest, detail: str = "") -> None:
        wall_ms = time.time_ns() // 1_000_000
        self.faults_applied.append(AppliedFault(kind, logged.method, logged.path, wall_ms, detail))

    def _take_failure(self, method: str, path: str) -> InjectedError | None:
        for entry in self._failures:
            if entry[1] == path and entry[0] in (None, method) and entry[3] > 0:
                entry[3] -= 1
                error: InjectedError = entry[2]
                return error
        return None

    async def _maybe_hold(self, logged: LoggedRequest) -> None:
        for hold in self._holds:
            if hold.request is None and hold.predicate(logged.method, logged.path, logged.params):
                hold.request = logged
                hold.applied.set()
                while not hold.released.is_set():
                    await asyncio.sleep(0.005)
                return

    def _authenticate(self, req: LoggedRequest, query: str, body: str, sig: str | None) -> None:
        if not req.api_key:
            raise BinanceError(-2014, status=401)
        if not hmac.compare_digest(req.api_key, self.api_key):
            raise BinanceError(-2015, status=401)
        if "timestamp" not in req.params:
            raise BinanceError(-1102, "Mandatory parameter 'timestamp' was not sent.")
        total = "".join(
            "&".join(p for p in part.split("&") if p and not p.startswith("signature="))
            for part in (query, body)
        )
        expected = hmac.new(self.secret.encode(), total.encode(), hashlib.sha256).hexdigest()
        if sig is None or not hmac.compare_digest(sig, expected):
            raise BinanceError(-1022)
        window = int(req.params.get("recvWindow", DEFAULT_RECV_WINDOW_MS))
        if not 0 < window <= MAX_RECV_WINDOW_MS:
            raise BinanceError(-1102, "Param 'recvWindow' must be less than 60000.")
        stamp = int(req.params["timestamp"])
        server_ms = self.server_time_ms()
        if stamp > server_ms + AHEAD_TOLERANCE_MS or server_ms - stamp > window:
            raise BinanceError(-1021)

    def server_time_ms(self) -> int:
        """The exchange's wall clock, against which signed timestamps are checked."""
        return time.time_ns() // 1_000_000 + self.clock_skew_ms

    def _sync(self) -> None:
        now = min(self.clock.now_ms(), self.venue.end_ms)
        if now > self.venue.now_ms:
            self.venue.advance_to(now)

    # ------------------------------------------------------------------ lookups

    def _market(self, params: Params) -> PaperMarket:
        """The market named by the mandatory ``symbol`` parameter."""
        market = self._optional_market(params)
        if market is None:
            raise BinanceError(-1102, "Mandatory parameter 'symbol' was not sent.")
        return market

    def _optional_market(self, params: Params) -> PaperMarket | None:
        """The market named by ``symbol``, or None when the request is for every symbol."""
        market_id = params.get("symbol")
        if market_id is None:
            return None
        try:
            return self._by_id[market_id]
        except KeyError:
            raise BinanceError(-1121) from None

    def _id_of(self, symbol: str) -> str:
        return symbol.replace("/", "").partition(":")[0]

    def _number(self, kind: str, engine_id: str) -> int:
        table, reverse = {
            "order": (self._order_no, self._order_of_no),
            "algo": (self._algo_no, self._algo_of_no),
            "trade": (self._trade_no, {}),
        }[kind]
        if engine_id not in table:
            self._next[kind] += 1
            table[engine_id] = self._next[kind]
            reverse[self._next[kind]] = engine_id
        return table[engine_id]

    @staticmethod
    def _required(params: Params, name: str) -> str:
        value = params.get(name)
        if value in (None, ""):
            raise BinanceError(-1102, f"Mandatory parameter '{name}' was not sent.")
        return str(value)

    def _risk(self, acc: PaperAccount) -> dict[tuple[str, Side], PositionRisk]:
        snapshot = self.venue.snapshot(acc.id)
        if not snapshot.positions:
            return {}
        risk = assess_account(snapshot, self.venue.profile)
        return dict(zip(acc.positions, risk.positions, strict=True))

    # ------------------------------------------------------------------ market data

    def _time(self, params: Params, acc: PaperAccount) -> Json:
        return {"serverTime": self.server_time_ms()}

    def _exchange_info(self, params: Params, acc: PaperAccount) -> Json:
        now = self.server_time_ms()
        return {
            "timezone": "UTC",
            "serverTime": now,
            "futuresType": "U_MARGINED",
            "rateLimits": [
                {
                    "rateLimitType": "REQUEST_WEIGHT",
                    "interval": "MINUTE",
                    "intervalNum": 1,
                    "limit": 2400,
                },
                {"rateLimitType": "ORDERS", "interval": "MINUTE", "intervalNum": 1, "limit": 1200},
            ],
            "exchangeFilters": [],
            "assets": [
                {"asset": s, "marginAvailable": True, "autoAssetExchange": "-10000"}
                for s in sorted({m.settle for m in self.venue.markets.values()})
            ],
            "symbols": [self._symbol_info(m) for m in self.venue.markets.values()],
        }

    def _symbol_info(self, m: PaperMarket) -> Json:
        price_dp, qty_dp = _places(m.price_tick), _places(m.amount_step)
        return {
            "symbol": self._id_of(m.symbol),
            "pair": self._id_of(m.symbol),
            "contractType": "PERPETUAL",
            "deliveryDate": 4133404800000,
            "onboardDate": 1569398400000,
            "status": "TRADING",
            "maintMarginPercent": "2.5000",
            "requiredMarginPercent": "5.0000",
            "baseAsset": m.base,
            "quoteAsset": m.quote,
            "marginAsset": m.settle,
            "pricePrecision": price_dp,
            "quantityPrecision": qty_dp,
            "baseAssetPrecision": 8,
            "quotePrecision": 8,
            "underlyingType": "COIN",
            "underlyingSubType": [],
            "settlePlan": 0,
            "triggerProtect": "0.0500",
            "liquidationFee": "0.012500",
            "marketTakeBound": "0.05",
            "maxMoveOrderLimit": 10000,
            "filters": [
                {
                    "filterType": "PRICE_FILTER",
                    "minPrice": _dec(m.price_tick, price_dp),
                    "maxPrice": "4529764",
                    "tickSize": _dec(m.price_tick, price_dp),
                },
                {
                    "filterType": "LOT_SIZE",
                    "minQty": _dec(m.min_amount, qty_dp),
                    "maxQty": _dec(self.max_qty, qty_dp),
                    "stepSize": _dec(m.amount_step, qty_dp),
                },
                {
                    "filterType": "MARKET_LOT_SIZE",
                    "minQty": _dec(m.min_amount, qty_dp),
                    "maxQty": _dec(self.max_market_qty, qty_dp),
                    "stepSize": _dec(m.amount_step, qty_dp),
                },
                {"filterType": "MAX_NUM_ORDERS", "limit": 200},
                {"filterType": "MAX_NUM_ALGO_ORDERS", "limit": 10},
                {"filterType": "MIN_NOTIONAL", "notional": "100"},
                {
                    "filterType": "PERCENT_PRICE",
                    "multiplierUp": "1.0500",
                    "multiplierDown": "0.9500",
                    "multiplierDecimal": "4",
                },
            ],
            "orderTypes": list(_ORDER_TYPES),
            "timeInForce": ["GTC", "IOC", "FOK", "GTX", "GTD"],
            "permissionSets": ["GRID", "COPY"],
        }

    def _ticker_24hr(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        markets = [market] if market is not None else list(self.venue.markets.values())
        now = self.venue.now_ms
        rows = []
        for m in markets:
            last = _dec(self.venue.last_price(m.symbol), _places(m.price_tick))
            rows.append(
                {
                    "symbol": self._id_of(m.symbol),
                    "priceChange": "0.00",
                    "priceChangePercent": "0.000",
                    "weightedAvgPrice": last,
                    "lastPrice": last,
                    "lastQty": "0.000",
                    "openPrice": last,
                    "highPrice": last,
                    "lowPrice": last,
                    "volume": "0.000",
                    "quoteVolume": "0.00",
                    "openTime": now - 86_400_000,
                    "closeTime": now,
                    "firstId": 0,
                    "lastId": 0,
                    "count": 0,
                }
            )
        return rows[0] if market is not None else rows

    def _premium_index(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        markets = [market] if market is not None else list(self.venue.markets.values())
        rows = []
        for m in markets:
            mark = _dec(self.venue.mark_price(m.symbol))
            rows.append(
                {
                    "symbol": self._id_of(m.symbol),
                    "markPrice": mark,
                    "indexPrice": mark,
                    "estimatedSettlePrice": mark,
                    "lastFundingRate": _dec(m.funding_rate),
                    "interestRate": "0.00010000",
                    "nextFundingTime": self.venue.next_funding_ms(m.symbol),
                    "time": self.venue.now_ms,
                }
            )
        return rows[0] if market is not None else rows

    def _klines(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        interval = self._required(params, "interval")
        frame = _KLINE_MS.get(interval)
        if frame is None:
            raise BinanceError(-1120, "Invalid interval.")
        since = int(params["startTime"]) if "startTime" in params else None
        limit = min(int(params.get("limit", 500)), 1500)
        rows = self.venue.ohlcv(market.symbol, frame, since, limit)
        return [
            [
                int(t),
                _dec(o),
                _dec(h),
                _dec(lo),
                _dec(c),
                "0",
                int(t) + frame - 1,
                "0",
                0,
                "0",
                "0",
                "0",
            ]
            for t, o, h, lo, c, _v in rows
        ]

    def _leverage_bracket(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        markets = [market] if market is not None else list(self.venue.markets.values())
        rows = [
            {
                "symbol": self._id_of(m.symbol),
                "notionalCoef": 1.0,
                "brackets": [
                    {
                        "bracket": i,
                        "initialLeverage": int(t.max_leverage or m.max_leverage),
                        # Binance's last bracket has a finite cap; JSON has no Infinity.
                        "notionalCap": t.max_bound if math.isfinite(t.max_bound) else 9.0e15,
                        "notionalFloor": t.min_bound,
                        "maintMarginRatio": t.maintenance_margin_rate,
                        "cum": t.maintenance_amount,
                    }
                    for i, t in enumerate(m.tiers, start=1)
                ],
            }
            for m in markets
        ]
        return rows[0] if market is not None else rows

    # ------------------------------------------------------------------ account

    def _account(self, params: Params, acc: PaperAccount) -> Json:
        venue = self.venue
        risk = self._risk(acc)
        isolated = sum(p.isolated_margin for p in acc.positions.values())
        upnl = sum(self._upnl(p) for p in acc.positions.values())
        cross_upnl = sum(
            self._upnl(p) for p in acc.positions.values() if p.margin_mode is MarginMode.CROSS
        )
        maint = sum(r.maintenance_margin for r in risk.values())
        wallet = acc.wallet + isolated
        margin_balance = wallet + upnl
        available = max(0.0, venue.available_balance(acc))
        held = margin_balance - available
        position_im = sum(
            p.size * venue.mark_price(p.symbol) / p.leverage for p in acc.positions.values()
        )
        now = venue.now_ms
        settle = next(iter(venue.markets.values())).settle
        totals = {
            "totalInitialMargin": _dec(held),
            "totalMaintMargin": _dec(maint),
            "totalWalletBalance": _dec(wallet),
            "totalUnrealizedProfit": _dec(upnl),
            "totalMarginBalance": _dec(margin_balance),
            "totalPositionInitialMargin": _dec(position_im),
            "totalOpenOrderInitialMargin": _dec(max(0.0, held - position_im)),
            "totalCrossWalletBalance": _dec(acc.wallet),
            "totalCrossUnPnl": _dec(cross_upnl),
            "availableBalance": _dec(available),
            "maxWithdrawAmount": _dec(available),
        }
        asset = {
            "asset": settle,
            "walletBalance": _dec(wallet),
            "unrealizedProfit": _dec(upnl),
            "marginBalance": _dec(margin_balance),
            "maintMargin": _dec(maint),
            "initialMargin": _dec(held),
            "positionInitialMargin": _dec(position_im),
            "openOrderInitialMargin": _dec(max(0.0, held - position_im)),
            "crossWalletBalance": _dec(acc.wallet),
            "crossUnPnl": _dec(cross_upnl),
            "availableBalance": _dec(available),
            "maxWithdrawAmount": _dec(available),
            "updateTime": now,
        }
        positions = [
            {
                "symbol": self._id_of(p.symbol),
                "positionSide": "BOTH",
                "positionAmt": self._signed_qty(p),
                "unrealizedProfit": _dec(self._upnl(p)),
                "isolatedMargin": self._isolated_margin(p),
                "notional": _dec(p.side.sign * p.size * venue.mark_price(p.symbol)),
                "isolatedWallet": _dec(p.isolated_margin),
                "initialMargin": _dec(p.size * venue.mark_price(p.symbol) / p.leverage),
                "maintMargin": _dec(risk[key].maintenance_margin),
                "updateTime": now,
            }
            for key, p in acc.positions.items()
        ]
        return {**totals, "assets": [asset], "positions": positions}

    def _upnl(self, p: PaperPosition) -> float:
        return p.side.sign * p.size * (self.venue.mark_price(p.symbol) - p.entry_price)

    def _signed_qty(self, p: PaperPosition) -> str:
        return _dec(p.side.sign * p.size, _places(self.venue.markets[p.symbol].amount_step))

    def _isolated_margin(self, p: PaperPosition) -> str:
        if p.margin_mode is not MarginMode.ISOLATED:
            return "0"
        return _dec(p.isolated_margin + self._upnl(p))

    def _position_risk(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        venue = self.venue
        risk = self._risk(acc)
        now = venue.now_ms
        rows = []
        for key, p in acc.positions.items():
            if market is not None and p.symbol != market.symbol:
                continue
            mark = venue.mark_price(p.symbol)
            figures = risk[key]
            liquidation = figures.liquidation_price
            im = p.size * mark / p.leverage
            rows.append(
                {
                    "symbol": self._id_of(p.symbol),
                    "positionSide": "BOTH",
                    "positionAmt": self._signed_qty(p),
                    "entryPrice": _dec(p.entry_price),
                    "breakEvenPrice": _dec(p.entry_price),
                    "markPrice": _dec(mark),
                    "unRealizedProfit": _dec(self._upnl(p)),
                    "liquidationPrice": "0" if liquidation is None else _dec(liquidation),
                    "isolatedMargin": self._isolated_margin(p),
                    "notional": _dec(p.side.sign * p.size * mark),
                    "marginAsset": venue.markets[p.symbol].settle,
                    "isolatedWallet": _dec(p.isolated_margin),
                    "initialMargin": _dec(im),
                    "maintMargin": _dec(figures.maintenance_margin),
                    "positionInitialMargin": _dec(im),
                    "openOrderInitialMargin": "0",
                    "adl": 1,
                    "bidNotional": "0",
                    "askNotional": "0",
                    "updateTime": now,
                }
            )
        held = {r["symbol"] for r in rows}
        for order in acc.orders.values():
            order_id = self._id_of(order.symbol)
            wanted = market is None or order.symbol == market.symbol
            if order.status == "open" and wanted and order_id not in held:
                # v3 lists symbols with open orders too, as an empty row (ccxt drops it).
                held.add(order_id)
                rows.append(self._empty_position_row(order.symbol, now))
        return rows

    def _empty_position_row(self, symbol: str, now: int) -> Json:
        zero = dict.fromkeys(_ZERO_POSITION_FIELDS, "0")
        return {
            **zero,
            "symbol": self._id_of(symbol),
            "positionSide": "BOTH",
            "positionAmt": "0.000",
            "markPrice": _dec(self.venue.mark_price(symbol)),
            "marginAsset": self.venue.markets[symbol].settle,
            "adl": 0,
            "updateTime": now,
        }

    def _position_risk_v2(self, params: Params, acc: PaperAccount) -> Json:
        """v2 rows carry leverage and marginType (ccxt uses them with ``useV2``)."""
        rows = self._position_risk(params, acc)
        for row in rows:
            market = self._by_id[row["symbol"]]
            key = next((k for k, p in acc.positions.items() if p.symbol == market.symbol), None)
            mode = self.venue.margin_mode_of(acc, market.symbol)
            leverage = (
                acc.positions[key].leverage
                if key is not None
                else self.venue.leverage_of(acc, market.symbol)
            )
            row["leverage"] = str(int(leverage))
            row["marginType"] = "isolated" if mode is MarginMode.ISOLATED else "cross"
            row["isAutoAddMargin"] = "false"
            row["maxNotionalValue"] = self._max_notional(market, leverage)
            for v3_only in _V3_ONLY_POSITION_FIELDS:
                row.pop(v3_only, None)
        return rows

    def _symbol_config(self, params: Params, acc: PaperAccount) -> Json:
        """Each symbol's leverage and margin type (what ccxt's ``fetch_leverages`` reads)."""
        wanted = params.get("symbol")
        rows = []
        for market in self.venue.markets.values():
            market_id = self._id_of(market.symbol)
            if wanted is not None and wanted != market_id:
                continue
            key = next((k for k, p in acc.positions.items() if p.symbol == market.symbol), None)
            leverage = (
                acc.positions[key].leverage
                if key is not None
                else self.venue.leverage_of(acc, market.symbol)
            )
            mode = self.venue.margin_mode_of(acc, market.symbol)
            rows.append(
                {
                    "symbol": market_id,
                    "marginType": "ISOLATED" if mode is MarginMode.ISOLATED else "CROSSED",
                    "isAutoAddMargin": "false",
                    "leverage": int(leverage),
                    "maxNotionalValue": self._max_notional(market, leverage),
                }
            )
        return rows

    def _max_notional(self, market: PaperMarket, leverage: float) -> str:
        caps = [
            t.max_bound for t in market.tiers if (t.max_leverage or market.max_leverage) >= leverage
        ]
        return f"{max(caps, default=0):.0f}"

    def _leverage(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        self._required(params, "leverage")
        leverage = _integer(params, "leverage")
        if not 1 <= leverage <= market.max_leverage:
            raise BinanceError(-4028, f"Leverage {leverage} is not valid")
        try:
            self.venue.set_leverage(acc.id, market.symbol, float(leverage))
        except ccxt.InsufficientFunds:
            raise BinanceError(-2019) from None
        except ccxt.BadRequest:
            raise BinanceError(-2027) from None
        return {
            "leverage": leverage,
            "maxNotionalValue": self._max_notional(market, leverage),
            "symbol": self._id_of(market.symbol),
        }

    def _margin_type(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        raw = self._required(params, "marginType").upper()
        modes = {"ISOLATED": MarginMode.ISOLATED, "CROSSED": MarginMode.CROSS}
        if raw not in modes:
            raise BinanceError(-1102, "Param 'marginType' must be ISOLATED or CROSSED.")
        try:
            self.venue.set_margin_mode(acc.id, market.symbol, modes[raw])
        except ccxt.MarginModeAlreadySet:
            raise BinanceError(-4046) from None
        except ccxt.OperationRejected:
            holding = any(sym == market.symbol for sym, _ in acc.positions)
            raise BinanceError(-4048 if holding else -4047) from None
        return {"code": 200, "msg": "success"}

    def _position_margin(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        kind = self._required(params, "type")
        amount = float(self._required(params, "amount"))
        side = params.get("positionSide", "BOTH")
        if side != "BOTH":
            raise BinanceError(-4061)
        if kind not in ("1", "2") or not amount > 0:
            raise BinanceError(-1102, "Param 'type' must be 1 or 2 and 'amount' positive.")
        legs = [p for (sym, _), p in acc.positions.items() if sym == market.symbol]
        if not legs or legs[0].margin_mode is not MarginMode.ISOLATED:
            raise BinanceError(-4049)
        try:
            if kind == "1":
                self.venue.add_margin(acc.id, market.symbol, amount, None)
            else:
                self.venue.reduce_margin(acc.id, market.symbol, amount, None)
        except ccxt.InsufficientFunds:
            raise BinanceError(-4050) from None
        except ccxt.BadRequest:
            raise BinanceError(-4051) from None
        return {
            "amount": amount,
            "code": 200,
            "msg": "Successfully modify position margin.",
            "type": int(kind),
        }

    # ------------------------------------------------------------------ orders

    def _check_order_params(
        self, params: Params, acc: PaperAccount, market: PaperMarket, *, algo: bool
    ) -> tuple[str, float, bool, str | None]:
        """Binance's own checks before an order reaches the book: side, quantity, reduce-only.

        Returns (side, quantity, reduce_only, client id).
        """
        side = self._required(params, "side").upper()
        if side not in ("BUY", "SELL"):
            raise BinanceError(-1117)
        if params.get("positionSide", "BOTH") != "BOTH":
            raise BinanceError(-4061)
        if params.get("closePosition", "false") == "true":
            raise _NotModelledError("closePosition orders")
        raw_qty = self._required(params, "quantity")
        quantity = float(raw_qty)
        if not quantity > 0:
            raise BinanceError(-4003)
        steps = quantity / market.amount_step
        if abs(steps - round(steps)) > 1e-6:
            raise BinanceError(-1111)
        if quantity < market.min_amount - 1e-12:
            raise BinanceError(-4003 if quantity <= 0 else -1111)
        largest = self.max_qty if params.get("type") == "LIMIT" else self.max_market_qty
        if quantity > largest + 1e-12:  # (MARKET_)LOT_SIZE
            raise BinanceError(-4005)
        reduce_only = params.get("reduceOnly", "false").lower() == "true"
        if reduce_only:
            closing = Side.LONG if side == "SELL" else Side.SHORT
            if (market.symbol, closing) not in acc.positions:
                raise BinanceError(-2022)
        client_id = params.get("clientAlgoId" if algo else "newClientOrderId")
        if client_id is not None and any(
            o.client_order_id == client_id and o.status == "open" for o in acc.orders.values()
        ):
            raise BinanceError(-4116)
        return side.lower(), quantity, reduce_only, client_id

    def _place(self, acc: PaperAccount, market: PaperMarket, **kwargs: Any) -> PaperOrder:
        try:
            return self.venue.create_order(acc.id, market.symbol, **kwargs)
        except ccxt.DuplicateOrderId:
            cid = kwargs.get("client_order_id")
            first = next(o for o in acc.orders.values() if o.client_order_id == cid)
            wall_ms = time.time_ns() // 1_000_000
            dup = DuplicateSend(str(cid), first.status, first.filled, wall_ms)
            self.duplicate_sends.append(dup)
            raise BinanceError(-4116) from None
        except ccxt.InsufficientFunds:
            raise BinanceError(-2019) from None

    def _new_order(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        kind = self._required(params, "type").upper()
        if kind in _ALGO_TYPES or kind in ("STOP", "TAKE_PROFIT", "TRAILING_STOP_MARKET"):
            # Since the algo-order migration Binance takes conditional orders on algoOrder only.
            raise BinanceError(-4120, "Order type not supported for this endpoint.")
        if kind not in ("MARKET", "LIMIT"):
            raise BinanceError(-1116)
        side, quantity, reduce_only, client_id = self._check_order_params(
            params, acc, market, algo=False
        )
        price = None
        if kind == "LIMIT":
            if self._required(params, "timeInForce") != "GTC":
                raise _NotModelledError("limit orders other than GTC")
            price = float(self._required(params, "price"))
            ticks = price / market.price_tick
            if not price > 0 or abs(ticks - round(ticks)) > 1e-6:
                raise BinanceError(-4014)
        if not reduce_only:
            notional = quantity * (price or self.venue.mark_price(market.symbol))
            if notional < 100:
                raise BinanceError(
                    -4164,
                    "Order's notional must be no smaller than 100 (unless you choose reduce only).",
                )
        fraction = self._fill_fraction if kind == "MARKET" else 1.0
        order = self._place(
            acc,
            market,
            order_type=kind.lower(),
            side=side,
            amount=quantity,
            price=price,
            client_order_id=client_id,
            reduce_only=reduce_only,
            fill_fraction=fraction,
        )
        if fraction < 1.0:
            self.faults_applied.append(
                AppliedFault(
                    "partial_fill", "POST", "/fapi/v1/order", time.time_ns() // 1_000_000,
                    f"{order.filled:g} of {quantity:g}",
                )
            )  # fmt: skip
        return self._order_json(order)

    def _new_algo_order(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        if self._required(params, "algoType") != "CONDITIONAL":
            raise BinanceError(-1102, "Param 'algoType' must be CONDITIONAL.")
        kind = self._required(params, "type").upper()
        if kind not in _ALGO_TYPES:
            raise _NotModelledError(f"algo order type {kind}")
        working = params.get("workingType", "CONTRACT_PRICE")
        if working not in _WORKING_TYPES:
            raise BinanceError(-1130, "Data sent for parameter 'workingType' is not valid.")
        source = _WORKING_TYPES[working]
        side, quantity, reduce_only, client_id = self._check_order_params(
            params, acc, market, algo=True
        )
        trigger = float(self._required(params, "triggerPrice"))
        watched = (
            self.venue.mark_price(market.symbol)
            if source == "mark"
            else self.venue.last_price(market.symbol)
        )
        # STOP_MARKET sells when the price falls to the trigger and buys when it rises to it;
        # TAKE_PROFIT_MARKET the other way round. Binance refuses one already crossed (-2021).
        below = (side == "sell") == (kind == "STOP_MARKET")
        if (watched <= trigger) if below else (watched >= trigger):
            raise BinanceError(-2021)
        order = self._place(
            acc,
            market,
            order_type="market",
            side=side,
            amount=quantity,
            price=None,
            client_order_id=client_id,
            reduce_only=reduce_only,
            trigger_price=trigger,
            stop_loss=kind == "STOP_MARKET",
            trigger_source=source,
        )
        return self._algo_json(order, kind)

    def _find(self, acc: PaperAccount, params: Params, *, algo: bool, missing: int) -> PaperOrder:
        """The order a query or cancel names by id or client id; Binance's ``missing`` if none."""
        market = self._market(params)
        id_key, client_key = (
            ("algoId", "clientAlgoId") if algo else ("orderId", "origClientOrderId")
        )
        raw_id, client_id = params.get(id_key), params.get(client_key)
        if raw_id is None and client_id is None:
            raise BinanceError(-1102, f"Either '{id_key}' or '{client_key}' must be sent.")
        found: PaperOrder | None = None
        if raw_id is not None:
            reverse = self._algo_of_no if algo else self._order_of_no
            engine_id = reverse.get(_integer(params, id_key))
            found = acc.orders.get(engine_id) if engine_id is not None else None
        else:
            found = next(
                (
                    o
                    for o in acc.orders.values()
                    if o.client_order_id == client_id and o.is_trigger == algo
                ),
                None,
            )
        if found is None or found.symbol != market.symbol:
            raise BinanceError(missing)
        return found

    def _query_order(self, params: Params, acc: PaperAccount) -> Json:
        order = self._find(acc, params, algo=False, missing=-2013)
        json_ = self._order_json(order)
        json_["time"] = order.timestamp
        return json_

    def _cancel_order(self, params: Params, acc: PaperAccount) -> Json:
        order = self._find(acc, params, algo=False, missing=-2011)
        if order.status != "open" or order.is_trigger:
            raise BinanceError(-2011)
        self.venue.cancel_order(acc.id, order.id)
        return self._order_json(order)

    def _open_orders(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        symbol = market.symbol if market is not None else None
        return [
            {**self._order_json(o), "time": o.timestamp}
            for o in self.venue.open_orders(acc.id, symbol, trigger=False)
        ]

    def _query_algo_order(self, params: Params, acc: PaperAccount) -> Json:
        order = self._find(acc, params, algo=True, missing=-2013)
        return self._algo_json(order)

    def _cancel_algo_order(self, params: Params, acc: PaperAccount) -> Json:
        order = self._find(acc, params, algo=True, missing=-2011)
        if order.status != "open":
            raise BinanceError(-2011)
        self.venue.cancel_order(acc.id, order.id)
        # Binance answers an algo cancel with the ids and a code only, no order status.
        return {
            "algoId": self._number("algo", order.id),
            "clientAlgoId": order.client_order_id,
            "code": "200",
            "msg": "success",
        }

    def _open_algo_orders(self, params: Params, acc: PaperAccount) -> Json:
        market = self._optional_market(params)
        symbol = market.symbol if market is not None else None
        return [self._algo_json(o) for o in self.venue.open_orders(acc.id, symbol, trigger=True)]

    def _user_trades(self, params: Params, acc: PaperAccount) -> Json:
        market = self._market(params)
        start = int(params.get("startTime", 0))
        end = int(params.get("endTime", 2**62))
        limit = min(int(params.get("limit", 500)), 1000)
        wanted_order = params.get("orderId")
        trades = [
            t for t in acc.trades if t.symbol == market.symbol and start <= t.timestamp <= end
        ]
        rows = [self._trade_json(t) for t in trades]
        if wanted_order is not None:
            rows = [r for r in rows if str(r["orderId"]) == wanted_order]
        return rows[-limit:]

    # ------------------------------------------------------------------ shapes

    def _order_json(self, o: PaperOrder) -> Json:
        """A /fapi/v1/order answer (RESULT). A fired algo order shows as the order it placed."""
        market = self.venue.markets[o.symbol]
        qty_dp, price_dp = _places(market.amount_step), _places(market.price_tick)
        average = o.average
        fired = o.is_trigger
        orig_type = ("STOP_MARKET" if o.stop_loss else "TAKE_PROFIT_MARKET") if fired else None
        client_id = o.client_order_id
        if client_id is None:
            client_id = f"autoclose-{self._number('order', o.id)}"  # venue liquidations
        return {
            "orderId": self._number("order", o.id),
            "symbol": self._id_of(o.symbol),
            "status": _STATUS.get(o.status, "NEW"),
            "clientOrderId": client_id,
            "price": _dec(o.price or 0.0, price_dp),
            "avgPrice": _dec(average or 0.0),
            "origQty": _dec(o.amount, qty_dp),
            "executedQty": _dec(o.filled, qty_dp),
            "cumQty": _dec(o.filled, qty_dp),
            "cumQuote": _dec(o.cost),
            "timeInForce": "GTC",
            "type": o.type.upper(),
            "reduceOnly": o.reduce_only,
            "closePosition": False,
            "side": o.side.upper(),
            "positionSide": "BOTH",
            "stopPrice": _dec(o.trigger_price or 0.0, price_dp),
            "workingType": _WORKING_TYPE_OF[o.trigger_source] if fired else "CONTRACT_PRICE",
            "priceProtect": False,
            "origType": orig_type or o.type.upper(),
            "priceMatch": "NONE",
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "goodTillDate": 0,
            "updateTime": o.last_update or o.timestamp,
        }

    def _algo_json(self, o: PaperOrder, kind: str | None = None) -> Json:
        market = self.venue.markets[o.symbol]
        qty_dp, price_dp = _places(market.amount_step), _places(market.price_tick)
        kind = kind or ("STOP_MARKET" if o.stop_loss else "TAKE_PROFIT_MARKET")
        fired = o.filled > 0
        row = {
            "algoId": self._number("algo", o.id),
            "clientAlgoId": o.client_order_id,
            "algoType": "CONDITIONAL",
            "orderType": kind,
            "symbol": self._id_of(o.symbol),
            "side": o.side.upper(),
            "positionSide": "BOTH",
            "timeInForce": "GTC",
            "quantity": _dec(o.amount, qty_dp),
            "algoStatus": _ALGO_STATUS.get(o.status, "NEW"),
            "triggerPrice": _dec(o.trigger_price or 0.0, price_dp),
            "price": _dec(0.0, price_dp),
            "icebergQuantity": None,
            "selfTradePreventionMode": "EXPIRE_MAKER",
            "workingType": _WORKING_TYPE_OF[o.trigger_source],
            "priceMatch": "NONE",
            "closePosition": False,
            "priceProtect": False,
            "reduceOnly": o.reduce_only,
            "createTime": o.timestamp,
            "updateTime": o.last_update or o.timestamp,
            "triggerTime": o.last_update if fired else 0,
            "goodTillDate": 0,
        }
        if fired:
            row["actualOrderId"] = str(self._number("order", o.id))
            row["actualPrice"] = _dec(o.average or 0.0)
        return row

    def _trade_json(self, t: PaperTrade) -> Json:
        market = self.venue.markets[t.symbol]
        buyer = t.side == "buy"
        realized = t.realized_pnl
        return {
            "buyer": buyer,
            "commission": _dec(t.fee),
            "commissionAsset": market.settle,
            "id": self._number("trade", t.id),
            "maker": t.maker,
            "orderId": self._number("order", t.order_id) if t.order_id else 0,
            "price": _dec(t.price),
            "qty": _dec(t.amount, _places(market.amount_step)),
            "quoteQty": _dec(t.amount * t.price * market.contract_size),
            "realizedPnl": _dec(realized),
            "side": t.side.upper(),
            "positionSide": "BOTH",
            "symbol": self._id_of(t.symbol),
            "time": t.timestamp,
        }


class _NotModelledError(Exception):
    """A Binance feature the fake does not simulate: answered with HTTP 501, never guessed."""
