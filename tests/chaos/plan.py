"""The seeded fault plan: which request fails, and how, on every endpoint of the fake.

Each request draws from the plan's own random stream (one per server, seeded from the episode's
seed and the account), so a seed replays the same faults for the same sequence of requests.
The mix depends on what the request is:

==================  ==========================================================================
order writes        503, 429 with ``Retry-After``, lost before the venue (timeout), applied and
(new, cancel,       the answer lost (timeout), and for a new market order a partial fill
margin, leverage)
order lookups       503, 429, timeout: the failed lookups that must never read as "not there"
marks, positions,   503, 429, timeout, and stale answers (what the read returned 3 to 20 s ago)
balance
other reads         503, 429, timeout
==================  ==========================================================================
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from tests.fakes.binance_faults import PartialFill, StaleAnswer, Timeout
from tests.fakes.binance_usdm import (
    InjectedError,
    LoggedRequest,
    service_unavailable,
    too_many_requests,
)

_WRITES = frozenset(
    {
        ("POST", "/fapi/v1/order"),
        ("POST", "/fapi/v1/algoOrder"),
        ("DELETE", "/fapi/v1/order"),
        ("DELETE", "/fapi/v1/algoOrder"),
        ("POST", "/fapi/v1/positionMargin"),
        ("POST", "/fapi/v1/leverage"),
        ("POST", "/fapi/v1/marginType"),
    }
)
_LOOKUPS = frozenset({("GET", "/fapi/v1/order"), ("GET", "/fapi/v1/algoOrder")})
_MARKS = frozenset(
    {
        ("GET", "/fapi/v1/premiumIndex"),
        ("GET", "/fapi/v3/positionRisk"),
        ("GET", "/fapi/v2/positionRisk"),
        ("GET", "/fapi/v3/account"),
        ("GET", "/fapi/v2/account"),
    }
)


def internal_error() -> InjectedError:
    """HTTP 500 with Binance's -1000 body (ccxt: ExchangeNotAvailable / ExchangeError)."""
    return InjectedError(500, '{"code": -1000, "msg": "An unknown error occured."}')


@dataclass(frozen=True, slots=True)
class Rates:
    """Probability that a request of each class is hit by some fault."""

    writes: float = 0.35
    lookups: float = 0.35
    marks: float = 0.2
    reads: float = 0.15
    hang_s: float = 2.5
    """How long a timed-out request hangs (longer than the daemon's ccxt timeout)."""


class ChaosPlan:
    """A :class:`~tests.fakes.binance_faults.FaultPlan` drawing from a seeded stream."""

    def __init__(self, seed: int, rates: Rates = Rates()) -> None:
        self.rng = random.Random(seed)
        self.rates = rates
        self.enabled = True

    def decide(
        self, request: LoggedRequest
    ) -> InjectedError | Timeout | PartialFill | StaleAnswer | None:
        rng = self.rng
        u, pick, extra = rng.random(), rng.random(), rng.random()  # always three draws
        if not self.enabled:
            return None
        key = (request.method, request.path)
        hang = self.rates.hang_s
        if key in _WRITES:
            if u >= self.rates.writes:
                return None
            if pick < 0.2:
                return service_unavailable()
            if pick < 0.3:
                return too_many_requests(1)
            if pick < 0.5:
                return Timeout(applied=False, hang_s=hang)
            market = request.params.get("type", "").upper() == "MARKET"
            if pick < 0.65 and key == ("POST", "/fapi/v1/order") and market:
                return PartialFill(0.2 + 0.6 * extra)
            return Timeout(applied=True, hang_s=hang)
        if key in _LOOKUPS:
            if u >= self.rates.lookups:
                return None
            if pick < 0.4:
                return service_unavailable() if extra < 0.5 else internal_error()
            if pick < 0.6:
                return too_many_requests(1)
            return Timeout(applied=False, hang_s=hang)
        if key in _MARKS:
            if u >= self.rates.marks:
                return None
            if pick < 0.45:
                return StaleAnswer(3.0 + 17.0 * extra)
            if pick < 0.7:
                return service_unavailable()
            if pick < 0.8:
                return too_many_requests(1)
            return Timeout(applied=False, hang_s=hang)
        if u >= self.rates.reads:
            return None
        if pick < 0.5:
            return service_unavailable()
        if pick < 0.7:
            return too_many_requests(1)
        return Timeout(applied=False, hang_s=hang)
