"""The alert center: what the guard, the executor and the daemon call to tell people something.

Two ways in:

* :meth:`AlertCenter.event` for things that happen once (an order sent, a stop that could not
  be placed, an account stopped). The same event (account, symbol, rule and title) is not
  repeated within ``alerting.event_quiet_s``. :meth:`AlertCenter.alert_fn` adapts the
  ``(level, message, payload)`` function the executor and the daemon were written against.
* :meth:`AlertCenter.conditions` once per account per cycle with everything that is wrong in
  it; :mod:`riskguard.alerts.hysteresis` decides what is news.

An alert that passes is logged (structlog ``alert``), routed (its severity at or above a sink's
``min_severity``, its account matching one of the sink's ``accounts`` patterns; alerts about no
account go everywhere) and queued in the outbox in one journal transaction, then the dispatcher
is woken. Queueing is synchronous on purpose: when ``event`` returns, the alert is on disk.
"""

from __future__ import annotations

import fnmatch
import time
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from riskguard.alerts.config import AlertingConfig, SinkConfigBase
from riskguard.alerts.hysteresis import (
    Condition,
    ConditionKey,
    Episode,
    episodes_from_json,
    episodes_to_json,
    track,
)
from riskguard.alerts.model import Alert, Severity, alert_from_payload
from riskguard.alerts.outbox import Outbox
from riskguard.guard.enforce.executor import AlertFn
from riskguard.guard.rules.base import Level

_LOG = structlog.get_logger("riskguard.alerts")

STATE_KEY = "alert_episodes"
"""Where the daemon keeps an account's hysteresis episodes in the journal's state table: the row
``(account, STATE_KEY)``, written with the account's other state when its episodes change."""

LEGACY_STATE_ACCOUNT = "*"
"""Before per-account rows, every account's episodes were one row ``("*", STATE_KEY)``, rewritten
whenever any account's changed. A journal holding it is read at start
(:meth:`AlertCenter.restore_legacy`), split into per-account rows by the daemon's first save, and
then emptied (a JSON ``null``), so it is neither read nor written again."""


_FORGET_AT = 1024
"""Remembered one-off events (for the quiet window) past which old ones are forgotten."""


@dataclass(frozen=True, slots=True)
class Route:
    """Which alerts one sink receives."""

    sink: str
    min_severity: Severity
    accounts: tuple[str, ...] = ("*",)

    @classmethod
    def of(cls, config: SinkConfigBase) -> Route:
        """The route a sink's config describes."""
        return cls(config.sink_name, config.severity, config.accounts)

    def takes(self, alert: Alert) -> bool:
        """Whether ``alert`` goes to this sink."""
        if alert.kind == "test":
            return True
        if alert.severity < self.min_severity:
            return False
        if alert.account is None:
            return True
        return any(fnmatch.fnmatchcase(alert.account, p) for p in self.accounts)


def wall_ms() -> int:
    """Milliseconds since the epoch by the system clock (when deliveries are due)."""
    return int(time.time() * 1000)


class AlertCenter:
    """Hysteresis, quiet windows, routing and the outbox behind one object."""

    def __init__(
        self,
        outbox: Outbox,
        routes: Sequence[Route],
        policy: AlertingConfig,
        *,
        now_ms: Callable[[], int],
        queue_ms: Callable[[], int] = wall_ms,
        on_queued: Callable[[], None] | None = None,
    ) -> None:
        """``now_ms`` stamps alerts (the guard's clock, virtual in replays); ``queue_ms`` says
        when a queued row is due (wall time: deliveries happen in the real world)."""
        self.outbox = outbox
        self.routes = tuple(routes)
        self.policy = policy
        self._now_ms = now_ms
        self._queue_ms = queue_ms
        self.on_queued = on_queued
        self._episodes: dict[str, dict[ConditionKey, Episode]] = {}
        """Per account: a cycle touches only the episodes of the account at hand."""
        self._changed: set[str] = set()
        """The accounts whose episodes changed since they were last saved."""
        self.legacy_pending = False
        """Episodes came from the old single row: it is emptied once they are saved per account."""
        self._last_event_ms: dict[tuple[str, ...], int] = {}
        self._forget_at = _FORGET_AT
        """How many remembered events make the next event forget the old ones."""

    # ------------------------------------------------------------------ ways in

    def event(self, alert: Alert) -> bool:
        """Send a one-off alert unless the same one went out within the quiet window."""
        key = (alert.account or "", alert.symbol or "", alert.rule or "", alert.title)
        last = self._last_event_ms.get(key)
        quiet_ms = int(self.policy.event_quiet_s * 1000)
        if last is not None and alert.time_ms - last < quiet_ms and alert.kind != "test":
            _LOG.debug("alert_suppressed", title=alert.title, account=alert.account)
            return False
        self._last_event_ms[key] = alert.time_ms
        self._forget_old_events(alert.time_ms, quiet_ms)
        self.send(alert)
        return True

    def alert_fn(self) -> AlertFn:
        """The ``(level, message, payload)`` function the executor and the daemon call."""

        def alert(level: Level, message: str, payload: Mapping[str, Any]) -> None:
            self.event(alert_from_payload(level, message, payload, time_ms=self._now_ms()))

        return alert

    def record(
        self,
        kind: str,
        account: str,
        time_ms: int,
        payload: Mapping[str, Any],
        level: Level,
        message: str,
        alert_payload: Mapping[str, Any],
    ) -> None:
        """Journal a fact (``kind``: an order sent or found, margin added) and queue its alert
        in the same transaction (:meth:`Outbox.append_with_alert`). Facts are always told: no
        quiet window applies."""
        alert = alert_from_payload(level, message, alert_payload, time_ms=self._now_ms())
        sinks = self.sinks_for(alert)
        self.outbox.append_with_alert(
            kind, account, time_ms, payload, alert.to_json(), sinks, self._queue_ms()
        )
        self._log(alert, sinks)
        if sinks and self.on_queued is not None:
            self.on_queued()

    def conditions(
        self,
        account: str,
        conditions: Sequence[Condition],
        complete: bool = True,
        held: Collection[tuple[str, str]] | None = None,
        *,
        now_ms: int | None = None,
    ) -> list[Alert]:
        """Feed one cycle's conditions of ``account``; send and return what is news.

        ``held`` lists the (symbol, side) positions the cycle saw (``None``: not known)."""
        before = self._episodes.get(account, {})
        if not before and not conditions:
            return []  # nothing open and nothing new: no episode to start, end or recover
        now = self._now_ms() if now_ms is None else now_ms
        hold_ms = int(self.policy.recovery_hold_s * 1000)
        alerts, after = track(
            account, conditions, before, now, hold_ms, complete=complete, held=held
        )
        if after != before:
            if after:
                self._episodes[account] = after
            else:
                self._episodes.pop(account, None)
            self._changed.add(account)
        for alert in alerts:
            self.send(alert)
        return alerts

    # ------------------------------------------------------------------ routing and queueing

    def sinks_for(self, alert: Alert) -> list[str]:
        """The names of the sinks ``alert`` goes to."""
        return [r.sink for r in self.routes if r.takes(alert)]

    def send(self, alert: Alert) -> None:
        """Log, route and queue ``alert`` (journal first), then wake the dispatcher."""
        sinks = self.sinks_for(alert)
        self.outbox.queue_alert(alert.to_json(), sinks, self._queue_ms())
        self._log(alert, sinks)
        if sinks and self.on_queued is not None:
            self.on_queued()

    def _log(self, alert: Alert, sinks: Sequence[str]) -> None:
        log = {
            Severity.INFO: _LOG.info,
            Severity.WARNING: _LOG.warning,
            Severity.CRITICAL: _LOG.critical,
        }[alert.severity]
        log(
            "alert",
            severity=alert.severity.label,
            kind=alert.kind,
            title=alert.title,
            account=alert.account,
            symbol=alert.symbol,
            side=alert.side,
            rule=alert.rule,
            figures=dict(alert.figures),
            sinks=sinks,
            alert_id=alert.id,
        )

    # ------------------------------------------------------------------ state

    @property
    def episodes(self) -> dict[ConditionKey, Episode]:
        """Every account's hysteresis episodes (a copy)."""
        return {k: e for per_account in self._episodes.values() for k, e in per_account.items()}

    @property
    def dirty(self) -> bool:
        """Whether any account's episodes changed since they were last saved."""
        return bool(self._changed)

    def changed(self, account: str) -> bool:
        """Whether ``account``'s episodes changed since they were last saved."""
        return account in self._changed

    def take_state(self, account: str) -> list[dict[str, Any]]:
        """``account``'s episodes, JSON-ready, for its row ``(account, STATE_KEY)`` (see
        :meth:`restore`); from now on it counts as saved. Only that account's episodes are
        read: the cost does not grow with the number of accounts."""
        self._changed.discard(account)
        return episodes_to_json(self._episodes.get(account, {}))

    def take_changed(self) -> dict[str, list[dict[str, Any]]]:
        """:meth:`take_state` of every account whose episodes changed (at the daemon's stop)."""
        return {account: self.take_state(account) for account in sorted(self._changed)}

    def restore(self, account: str, state: Sequence[Mapping[str, Any]] | None) -> None:
        """Carry on with ``account``'s episodes saved before a restart (no ``entered`` alert said
        twice). Episodes saved under another account are ignored."""
        episodes = {k: e for k, e in episodes_from_json(state or ()).items() if k[0] == account}
        if episodes:
            self._episodes[account] = episodes
        else:
            self._episodes.pop(account, None)
        self._changed.discard(account)

    def restore_legacy(
        self, state: Sequence[Mapping[str, Any]] | None, *, saved: Collection[str] = ()
    ) -> None:
        """Split the old single row of every account's episodes (:data:`LEGACY_STATE_ACCOUNT`)
        by account. Accounts in ``saved`` already have a row of their own, which is newer: the
        old row's episodes of those are ignored. The others are marked changed, so the next save
        writes them per account, and :attr:`legacy_pending` says the old row is to be emptied."""
        if state is None:
            return
        by_account: dict[str, dict[ConditionKey, Episode]] = {}
        for key, episode in episodes_from_json(state).items():
            by_account.setdefault(key[0], {})[key] = episode
        for account, episodes in by_account.items():
            if account in saved:
                continue
            self._episodes[account] = episodes
            self._changed.add(account)
        self.legacy_pending = True

    def _forget_old_events(self, now_ms: int, quiet_ms: int) -> None:
        """Drop the events older than the quiet window once there are many. The next pass
        waits until the count has doubled: with a thousand accounts alerting within the window,
        an event does not scan every account's events (amortized constant per event)."""
        if len(self._last_event_ms) < self._forget_at:
            return
        for key, last in list(self._last_event_ms.items()):
            if now_ms - last >= quiet_ms:
                del self._last_event_ms[key]
        self._forget_at = max(_FORGET_AT, 2 * len(self._last_event_ms))


def restore_saved(
    center: AlertCenter, get_state: Callable[[str, str], Any], accounts: Iterable[str]
) -> None:
    """Give ``center`` the episodes the journal holds (``get_state(account, key)``): each
    account's own row, then the old single row's episodes of accounts without one."""
    saved = []
    for account in accounts:
        state = get_state(account, STATE_KEY)
        if state is not None:
            center.restore(account, state)
            saved.append(account)
    center.restore_legacy(get_state(LEGACY_STATE_ACCOUNT, STATE_KEY), saved=saved)
