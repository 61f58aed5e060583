"""The sink port and what a failed delivery tells the outbox to do.

A sink turns a message (one alert, or a digest of several) into one request to its service and
either returns (delivered) or raises :class:`DeliveryError`:

::

    DeliveryError
     ├── retryable (permanent=False)  the outbox tries again after a backoff, or after the
     │                                 service's Retry-After (429) when it gave one:
     │                                 timeouts, connection errors, 408, 425, 429, 5xx
     └── permanent (permanent=True)   trying again cannot help (bad token, unknown chat,
                                       archived channel, malformed body: other 4xx): the
                                       outbox moves the message to the dead letters at once

Errors carry a short, redacted text: never the URL (Slack and Discord put the secret in it) nor
a token. :func:`classify_response` and :func:`classify_transport_error` are the one place an
HTTP answer or an httpx exception becomes that decision.
"""

from __future__ import annotations

import email.utils
import math
import time
from collections.abc import Sequence
from typing import Protocol

import httpx

from riskguard.alerts.model import Alert
from riskguard.observability.logs import redact

RETRYABLE_STATUS = frozenset({408, 425, 429})
"""4xx statuses that mean "later", not "never"; every 5xx is retryable too."""

MAX_RETRY_AFTER_S = 3600.0
"""A Retry-After longer than this is capped (a broken header must not park an alert for days)."""


class DeliveryError(Exception):
    """A message was not delivered; ``permanent`` says whether trying again can help."""

    def __init__(
        self, message: str, *, permanent: bool = False, retry_after_s: float | None = None
    ) -> None:
        super().__init__(redact(message))
        self.permanent = permanent
        self.retry_after_s = retry_after_s

    @property
    def text(self) -> str:
        """The redacted one-line description."""
        return str(self)


class Sink(Protocol):
    """One configured alert destination."""

    @property
    def name(self) -> str:
        """The sink's unique name (from the config)."""
        ...

    async def send(self, alerts: Sequence[Alert]) -> None:
        """Deliver one message: ``alerts[0]`` alone, or a digest of all of them.

        Returns when the service accepted it; raises :class:`DeliveryError` otherwise.
        """
        ...


def parse_retry_after(value: str | None, *, now_s: float | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (seconds or an HTTP date), or ``None``."""
    if value is None:
        return None
    text = value.strip()
    try:
        seconds = float(text)
    except ValueError:
        try:
            when = email.utils.parsedate_to_datetime(text)
        except (TypeError, ValueError):
            return None
        if when is None:  # pragma: no cover - parsedate_to_datetime raises on bad input
            return None
        seconds = when.timestamp() - (time.time() if now_s is None else now_s)
    if not math.isfinite(seconds):
        return None
    return min(max(seconds, 0.0), MAX_RETRY_AFTER_S)


def classify_response(
    response: httpx.Response, service: str, *, retry_after_s: float | None = None
) -> DeliveryError | None:
    """``None`` for a 2xx answer, else the :class:`DeliveryError` it means.

    ``retry_after_s`` is a wait the service gave in its body (Telegram, Discord); the
    ``Retry-After`` header is read here.
    """
    status = response.status_code
    if 200 <= status < 300:
        return None
    detail = _body_excerpt(response)
    text = f"{service} answered HTTP {status}" + (f": {detail}" if detail else "")
    if status in RETRYABLE_STATUS or status >= 500:
        wait = parse_retry_after(response.headers.get("retry-after"))
        if wait is None:
            wait = retry_after_s
        return DeliveryError(text, retry_after_s=wait)
    return DeliveryError(text, permanent=True)


def classify_transport_error(exc: httpx.HTTPError, service: str) -> DeliveryError:
    """A timeout or connection failure: retryable, described without the URL."""
    if isinstance(exc, httpx.TimeoutException):
        return DeliveryError(f"{service}: timed out ({type(exc).__name__})")
    if isinstance(exc, httpx.TransportError):
        return DeliveryError(f"{service}: connection failed ({type(exc).__name__})")
    return DeliveryError(f"{service}: request failed ({type(exc).__name__})")


def _body_excerpt(response: httpx.Response, limit: int = 200) -> str:
    try:
        text = response.text
    except (UnicodeDecodeError, httpx.ResponseNotRead):
        return ""
    text = " ".join(text.split())
    return text[:limit] + ("..." if len(text) > limit else "")
