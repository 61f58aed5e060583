"""Faults the fake Binance server can be told to inject, request by request (a fault plan).

:class:`~tests.fakes.binance_usdm.FakeBinanceUsdm` asks its ``faults`` plan (anything with a
``decide(request)`` method) what to do with every request before serving it. The answer is
``None`` (serve it) or one of:

- :class:`~tests.fakes.binance_usdm.InjectedError`: answer with that error; the venue never sees
  the request (5xx, 429 with ``Retry-After``, a -1021 clock error, ...);
- :class:`Timeout`: hang for ``hang_s`` seconds, longer than the client waits. With
  ``applied=False`` the venue never sees the request (it was lost on the way in); with
  ``applied=True`` the venue applies it first (the answer was lost on the way out: the case
  where an order exists although its sender never heard so);
- :class:`PartialFill`: a ``MARKET`` order fills only ``fraction`` of its quantity and expires,
  as a market order does on a thin book or at the price band (ignored by other requests);
- :class:`StaleAnswer`: a read is answered with what the same read returned at least ``age_s``
  seconds ago (an exchange cache lagging behind: marks, positions and balances that stopped
  moving). When there is no answer that old yet, the request is served normally.

Every fault that was actually injected is appended to ``FakeBinanceUsdm.faults_applied`` as an
:class:`AppliedFault`, so a harness counts what happened, not what it asked for.
"""

from __future__ import annotations

import bisect
import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    from tests.fakes.binance_usdm import InjectedError, LoggedRequest


@dataclass(frozen=True, slots=True)
class Timeout:
    """No answer within the client's patience; the venue applied the request or not."""

    applied: bool
    hang_s: float


@dataclass(frozen=True, slots=True)
class PartialFill:
    """A market order fills ``fraction`` (0 < fraction < 1) of its quantity, the rest expires."""

    fraction: float

    def __post_init__(self) -> None:
        if not 0.0 < self.fraction < 1.0:
            raise ValueError(f"fraction must be in (0, 1), got {self.fraction}")


@dataclass(frozen=True, slots=True)
class StaleAnswer:
    """Answer a read with the answer it had at least ``age_s`` seconds ago."""

    age_s: float


class FaultPlan(Protocol):
    """What to do with one request: ``None`` to serve it, or a fault."""

    def decide(
        self, request: LoggedRequest
    ) -> InjectedError | Timeout | PartialFill | StaleAnswer | None: ...


@dataclass(frozen=True, slots=True)
class AppliedFault:
    """A fault the server injected: its kind, the request it hit and when (wall ms)."""

    kind: str
    method: str
    path: str
    wall_ms: int
    detail: str = ""


@dataclass(frozen=True, slots=True)
class DuplicateSend:
    """A new-order request for a client id the venue already holds.

    Binance refuses a duplicate client id only while the first order is open: a re-sent market
    order whose first copy filled fills again there. ``filled`` is what the first copy filled.
    """

    client_id: str
    status: str
    filled: float
    wall_ms: int


_VOLATILE = frozenset({"timestamp", "recvWindow"})


@dataclass(slots=True)
class AnswerHistory:
    """Past answers to reads, by request (method, path and parameters without the timestamp)."""

    keep_s: float = 120.0
    _answers: dict[tuple[str, str, tuple[tuple[str, str], ...]], list[tuple[int, int, str]]] = (
        field(default_factory=dict)
    )

    @staticmethod
    def key(
        method: str, path: str, params: Mapping[str, str]
    ) -> tuple[str, str, tuple[tuple[str, str], ...]]:
        kept = tuple(sorted((k, v) for k, v in params.items() if k not in _VOLATILE))
        return method, path, kept

    def remember(self, key: Any, status: int, body: str, now_ms: int | None = None) -> None:
        now = int(time.time() * 1000) if now_ms is None else now_ms
        rows = self._answers.setdefault(key, [])
        rows.append((now, status, body))
        horizon = now - int(self.keep_s * 1000)
        while len(rows) > 1 and rows[1][0] <= horizon:
            rows.pop(0)

    def older_than(
        self, key: Any, age_s: float, now_ms: int | None = None
    ) -> tuple[int, str] | None:
        """The latest answer at least ``age_s`` old: (status, body), or None."""
        now = int(time.time() * 1000) if now_ms is None else now_ms
        rows = self._answers.get(key)
        if not rows:
            return None
        cutoff = now - int(age_s * 1000)
        i = bisect.bisect_right([r[0] for r in rows], cutoff)
        if i == 0:
            return None
        _, status, body = rows[i - 1]
        return status, body
