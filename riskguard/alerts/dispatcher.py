"""The delivery loop: takes due rows from the outbox and sends them, one message per send.

Per sink, each pass:

1. Nothing goes while the sink is paused by a ``Retry-After`` (the service asked for quiet) or
   its token bucket is empty (``rate_per_minute`` on average, ``burst`` at once).
2. The due rows come most severe first. When no more than ``digest_after`` are due and the
   bucket has a token for each, the first goes alone; otherwise up to ``alerting.digest_max`` of
   them go as one digest message (one token).
3. Success marks the rows delivered. A retryable failure counts the attempt and sets the next one
   ``retry_base_s * 2**(attempts-1)`` later (jittered, at most ``retry_max_s``), or exactly the
   service's ``Retry-After``; a permanent failure, or the sink's ``max_attempts``-th failure,
   moves the rows to the dead letters with an ``error`` log line.

Sinks are served concurrently (a slow SMTP server does not hold up Slack). A row goes out only once
it is durable (:meth:`Outbox.durable <riskguard.alerts.outbox.Outbox.durable>`: the daemon's journal
commits on a writer thread). Every decision is in the outbox before the next send, so a restart at
any point loses nothing: rows still pending are picked up by the next process (see
:mod:`riskguard.alerts.outbox`). Pending rows for a sink that is no longer configured are
dead-lettered at start, with an error log, rather than kept silently forever.
"""

from __future__ import annotations

import asyncio
import math
import random
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import structlog

from riskguard.alerts.center import wall_ms
from riskguard.alerts.config import AlertingConfig, SinkConfigBase
from riskguard.alerts.delivery import DeliveryError, Sink
from riskguard.alerts.model import Alert
from riskguard.alerts.outbox import Outbox, OutboxRow
from riskguard.observability.logs import redact

_LOG = structlog.get_logger("riskguard.alerts")


@dataclass
class TokenBucket:
    """``capacity`` tokens, refilled at ``rate_per_s``; one token per message."""

    capacity: float
    rate_per_s: float
    tokens: float = field(init=False)
    updated_ms: int | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        self.tokens = self.capacity

    def _refill(self, now_ms: int) -> None:
        if self.updated_ms is not None and now_ms > self.updated_ms:
            elapsed = (now_ms - self.updated_ms) / 1000.0
            self.tokens = min(self.capacity, self.tokens + elapsed * self.rate_per_s)
        self.updated_ms = now_ms if self.updated_ms is None else max(self.updated_ms, now_ms)

    def available(self, now_ms: int) -> int:
        """Whole tokens available now."""
        self._refill(now_ms)
        return math.floor(self.tokens + 1e-9)

    def take(self, now_ms: int) -> bool:
        """Spend one token if there is one."""
        if self.available(now_ms) < 1:
            return False
        self.tokens -= 1.0
        return True

    def ready_ms(self, now_ms: int) -> int:
        """When the next whole token will be there (``now_ms`` if one is)."""
        self._refill(now_ms)
        missing = 1.0 - self.tokens
        if missing <= 1e-9:
            return now_ms
        return now_ms + math.ceil(missing / self.rate_per_s * 1000)


@dataclass(frozen=True, slots=True)
class Attempt:
    """One message sent to one sink: which rows, and what became of them."""

    sink: str
    alert_ids: tuple[str, ...]
    outcome: str  # delivered | retry | dead
    error: str | None = None
    retry_after_s: float | None = None


class Dispatcher:
    """Delivers the outbox through the configured sinks."""

    def __init__(
        self,
        outbox: Outbox,
        sinks: Sequence[tuple[Sink, SinkConfigBase]],
        policy: AlertingConfig,
        *,
        now_ms: Callable[[], int] = wall_ms,
        rng: random.Random | None = None,
        on_attempt: Callable[[Attempt], None] | None = None,
    ) -> None:
        """``on_attempt`` is told of every message sent and what became of it (metrics)."""
        self.outbox = outbox
        self.on_attempt = on_attempt
        self.policy = policy
        self.sinks: dict[str, Sink] = {sink.name: sink for sink, _ in sinks}
        self.configs: dict[str, SinkConfigBase] = {sink.name: cfg for sink, cfg in sinks}
        self._now_ms = now_ms
        self._rng = rng if rng is not None else random.Random()  # noqa: S311 - jitter only
        self._buckets = {
            name: TokenBucket(float(cfg.burst), cfg.rate_per_minute / 60.0)
            for name, cfg in self.configs.items()
        }
        self._paused_until: dict[str, int] = {}
        self._wake = asyncio.Event()
        self._stopping = False
        self.attempts: deque[Attempt] = deque(maxlen=256)
        """The most recent attempts (bounded: the daemon runs for weeks)."""

    # ------------------------------------------------------------------ control

    def wake(self) -> None:
        """Something was queued: deliver soon (after ``gather_s``, to catch its companions)."""
        self._wake.set()

    def stop(self) -> None:
        """Make :meth:`run` return after the pass in progress."""
        self._stopping = True
        self._wake.set()

    def retire_unknown_sinks(self) -> int:
        """Dead-letter pending rows whose sink is no longer configured; how many."""
        orphans = [r for r in self.outbox.outbox_rows("pending") if r.sink not in self.sinks]
        for row in orphans:
            error = f"sink {row.sink!r} is no longer configured"
            self.outbox.alerts_dead([row.row_id], self._now_ms(), error)
            _dead_log(row.sink, [row], error)
        return len(orphans)

    async def run(self) -> None:
        """Deliver until :meth:`stop`: now, whenever woken, and whenever a retry falls due."""
        self._stopping = False
        self.retire_unknown_sinks()
        while not self._stopping:
            await self.deliver_due()
            if self._stopping:
                break
            timeout = self.seconds_to_next()
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                continue
            self._wake.clear()
            if self.policy.gather_s > 0 and not self._stopping:
                await asyncio.sleep(self.policy.gather_s)

    async def flush(self, timeout_s: float) -> bool:
        """Deliver what is due for up to ``timeout_s``; True when nothing due is left."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout_s
        while True:
            now = self._now_ms()
            if not any(self.outbox.due_alerts(name, now, 1) for name in self.sinks):
                return True
            left = deadline - loop.time()
            if left <= 0:
                return False
            try:
                await asyncio.wait_for(self.deliver_due(), left)
            except TimeoutError:
                return False
            wait = self.seconds_to_next()
            if wait is None or wait > deadline - loop.time():
                return not any(self.outbox.due_alerts(n, self._now_ms(), 1) for n in self.sinks)
            if wait > 0:
                await asyncio.sleep(wait)

    def seconds_to_next(self) -> float | None:
        """Seconds until something may be sent (a due row, a token, the end of a pause)."""
        now = self._now_ms()
        later = self.outbox.next_alert_due_ms(after_ms=now)
        times = [] if later is None else [later]
        times.extend(
            max(self._buckets[name].ready_ms(now), self._paused_until.get(name, now))
            for name in self.sinks
            if self.outbox.due_alerts(name, now, 1)
        )
        if not times:
            return None
        soonest = min(times)
        return max(0.0, (soonest - now) / 1000.0)

    # ------------------------------------------------------------------ delivery

    async def deliver_due(self) -> list[Attempt]:
        """One pass over every sink; what was attempted."""
        results = await asyncio.gather(*(self._deliver_sink(name) for name in self.sinks))
        return [a for attempts in results for a in attempts]

    async def _deliver_sink(self, name: str) -> list[Attempt]:
        attempts: list[Attempt] = []
        config = self.configs[name]
        bucket = self._buckets[name]
        while not self._stopping:
            now = self._now_ms()
            if self._paused_until.get(name, 0) > now:
                break
            rows = self.outbox.due_alerts(name, now, self.policy.digest_max)
            if not rows:
                break
            tokens = bucket.available(now)
            if tokens < 1:
                break
            if len(rows) <= config.digest_after and tokens >= len(rows):
                rows = rows[:1]
            bucket.take(now)
            attempt = await self._send(name, config, rows)
            attempts.append(attempt)
            self.attempts.append(attempt)
            if self.on_attempt is not None:
                self.on_attempt(attempt)
        return attempts

    async def _send(self, name: str, config: SinkConfigBase, rows: list[OutboxRow]) -> Attempt:
        alerts = [Alert.from_json(r.alert) for r in rows]
        ids = tuple(r.alert_id for r in rows)
        row_ids = [r.row_id for r in rows]
        await self.outbox.durable()  # never tell what the journal could still lose
        try:
            await self.sinks[name].send(alerts)
        except DeliveryError as exc:
            error: DeliveryError = exc
        except Exception as exc:  # a bug in a sink must not stop the loop
            error = DeliveryError(f"{name}: {type(exc).__name__}: {redact(str(exc))[:200]}")
            _LOG.exception("alert_sink_failed", sink=name)
        else:
            self.outbox.alerts_delivered(row_ids, self._now_ms())
            _LOG.info("alert_delivered", sink=name, alert_ids=list(ids), digest=len(rows) > 1)
            return Attempt(name, ids, "delivered")
        now = self._now_ms()
        tries = max(r.attempts for r in rows) + 1
        if error.permanent or tries >= config.max_attempts:
            reason = error.text if error.permanent else f"{error.text} (attempt {tries})"
            self.outbox.alerts_dead(row_ids, now, reason)
            _dead_log(name, rows, reason)
            return Attempt(name, ids, "dead", reason)
        if error.retry_after_s is not None:
            delay_s = error.retry_after_s
            self._paused_until[name] = now + int(delay_s * 1000)
        else:
            delay_s = self.backoff_s(tries)
        self.outbox.alerts_retry(row_ids, now, now + int(delay_s * 1000), error.text)
        _LOG.warning(
            "alert_retry",
            sink=name,
            alert_ids=list(ids),
            attempt=tries,
            retry_in_s=round(delay_s, 3),
            error=error.text,
        )
        return Attempt(name, ids, "retry", error.text, error.retry_after_s)

    async def send_now(self, alert: Alert, names: Sequence[str]) -> list[Attempt]:
        """Send ``alert`` once to each sink in ``names``, concurrently, without the outbox.

        For the one alert that cannot be queued: the journal, which holds the outbox, is gone
        or refuses writes. No retry and no rate limit; a failure is logged and returned.
        """

        async def one(name: str) -> Attempt:
            try:
                await self.sinks[name].send([alert])
            except Exception as exc:  # every sink is tried; each failure is said
                text = exc.text if isinstance(exc, DeliveryError) else redact(str(exc))[:200]
                _LOG.error("alert_direct_failed", sink=name, alert_id=alert.id, error=text)
                return Attempt(name, (alert.id,), "dead", text)
            _LOG.info("alert_delivered", sink=name, alert_ids=[alert.id], direct=True)
            return Attempt(name, (alert.id,), "delivered")

        attempts = list(await asyncio.gather(*(one(n) for n in names if n in self.sinks)))
        for attempt in attempts:
            self.attempts.append(attempt)
            if self.on_attempt is not None:
                self.on_attempt(attempt)
        return attempts

    def backoff_s(self, attempts: int) -> float:
        """The wait after the ``attempts``-th failure without a Retry-After (jittered +-20%)."""
        base = min(self.policy.retry_max_s, self.policy.retry_base_s * 2.0 ** (attempts - 1))
        return min(self.policy.retry_max_s, base * self._rng.uniform(0.8, 1.2))


def _dead_log(name: str, rows: Sequence[OutboxRow], error: str) -> None:
    _LOG.error(
        "alert_dead",
        sink=name,
        alert_ids=[r.alert_id for r in rows],
        titles=[str(r.alert.get("title", "")) for r in rows],
        attempts=max(r.attempts for r in rows) + 1,
        error=error,
    )
