"""ccxt's exception classes translated into what the daemon does next.

ccxt raises a deep tree (CCXT_NOTES.md, "Errors"). The guard only needs three answers:

- :class:`~riskguard.errors.RetryLater`: ``OperationFailed`` (network, timeout, rate limit,
  maintenance, DDoS protection, bad or empty response) and ``InvalidNonce`` (clock skew: resync
  first). Reads are retried with backoff inside the adapter; what escapes makes this cycle stale.
- :class:`~riskguard.errors.StopAccount`: ``AuthenticationError`` (and its ``PermissionDenied``,
  ``AccountSuspended``), ``AccountNotEnabled`` and ``NotSupported``: waiting will not fix these,
  the account is stopped with a critical alert.
- :class:`~riskguard.errors.SkipCycle`: every other ``ExchangeError`` (a bad request, an unknown
  symbol, an answer ccxt could not use): nothing is done this cycle and the operator is told.

Messages never carry request details: ccxt puts the URL (with the signed query string) into some
exception texts, so only the class name and the first line, with URLs cut off and registered
secrets masked, are kept.
"""

from __future__ import annotations

import re

import ccxt.async_support as ccxt

from riskguard.errors import ExchangeProblem, RetryLater, SkipCycle, StopAccount
from riskguard.observability.logs import redact

_URL = re.compile(r"(?:\b(?:GET|POST|PUT|DELETE)\s+)?https?://\S+")
_STOP = (ccxt.AuthenticationError, ccxt.AccountNotEnabled, ccxt.NotSupported)
_RETRY = (ccxt.OperationFailed, ccxt.InvalidNonce)
_MAX_TEXT = 300


def short_text(exc: BaseException) -> str:
    """The first line of an exception's text without URLs (which may hold signed queries) and
    with every registered secret masked: safe for the journal, alerts and logs."""
    first = (str(exc).strip().splitlines() or [""])[0].strip()
    first = _URL.sub("<url>", first)
    return redact(first)[:_MAX_TEXT]


def translate(exc: ccxt.BaseError, method: str) -> ExchangeProblem:
    """The riskguard error for a ccxt error raised by ``method``."""
    name = type(exc).__name__
    message = f"{method}: {name}: {short_text(exc)}"
    if isinstance(exc, _STOP):
        return StopAccount(message, method=method, cause=name)
    if isinstance(exc, _RETRY):
        return RetryLater(message, method=method, cause=name)
    return SkipCycle(message, method=method, cause=name)


def is_retryable(exc: BaseException) -> bool:
    """Whether a read that raised ``exc`` may be sent again."""
    return isinstance(exc, _RETRY)
