"""Prometheus metrics of the guard: what each cycle measured and did, in its own registry.

Every :class:`GuardMetrics` owns a :class:`~prometheus_client.CollectorRegistry` (never the
process-wide default), so tests and several daemons in one process do not clash.

Per position, labelled ``account``, ``symbol``, ``side``::

    riskguard_position_distance_pct        mark to liquidation, % of the mark (negative: past it)
    riskguard_position_sigma_distance      that distance in sigmas over the reaction horizon
    riskguard_position_margin_ratio        requirement / equity, 1.0 at liquidation
    riskguard_position_shortfall           worst-scenario shortfall, settlement currency
                                           (a cross position carries its cross account's)
    riskguard_position_liquidation_price   absent when the position has no liquidation price
    riskguard_position_notional            size x mark, settlement currency

Per account: ``riskguard_account_equity``, ``riskguard_account_potential_shortfall`` (the
account's worst scenario, not a sum of cross positions that share it),
``riskguard_account_data_age_seconds``, ``riskguard_account_actionable`` and
``riskguard_account_alert_only`` (1 or 0). Counters: ``riskguard_api_errors_total`` (account,
error_class, action: retry/skip/stop), ``riskguard_actions_total`` (account, kind, status),
``riskguard_findings_total`` (account, rule, level in lower case). Also the
``riskguard_cycle_seconds`` histogram (account), ``riskguard_heartbeat_timestamp_seconds`` and
``riskguard_info{version}``.

Values:

- A position without a liquidation price is infinitely far from it: its distance and sigma
  distance are exported as ``+Inf`` (Prometheus' text format carries it; ``> 5`` stays false in an
  alert rule). A margin ratio whose equity is gone is ``+Inf`` too.
- NaN is never exported: a figure that is not a number removes its series instead.
- A position that closed loses all its series on the next cycle: no stale value outlives the
  position. A stale cycle (no evaluation) keeps the last known figures; the data age says how old.

The HTTP endpoint (:func:`start_metrics_server`) binds 127.0.0.1 by default. The figures reveal
positions and equity: exposing them beyond the host is a deliberate configuration choice.
"""

from __future__ import annotations

import math
import threading
from collections.abc import Iterable
from typing import TYPE_CHECKING, NamedTuple
from wsgiref.simple_server import WSGIServer

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, Info, start_http_server

from riskguard import __version__
from riskguard.risk.account import PositionRisk
from riskguard.risk.evaluation import AccountEvaluation, PositionEvaluation

if TYPE_CHECKING:  # the guard imports ccxt; its wiring may import this module
    from riskguard.guard.cycle import CycleReport

CYCLE_BUCKETS_S = (0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
"""Cycle durations from 10 ms (a paper venue) to 10 s (a slow venue and a full plan)."""

API_ERROR_ACTIONS = ("retry", "skip", "stop")
ALERT_OUTCOMES = ("delivered", "retry", "dead")
"""What the daemon does about an exchange error (see :mod:`riskguard.errors`)."""

POSITION_LABELS = ("account", "symbol", "side")


class GuardMetrics:
    """The guard's metrics, in ``registry`` (a new one unless given)."""

    def __init__(
        self, registry: CollectorRegistry | None = None, *, version: str = __version__
    ) -> None:
        self.registry = CollectorRegistry() if registry is None else registry
        reg = self.registry

        def position_gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, POSITION_LABELS, registry=reg)

        def account_gauge(name: str, doc: str) -> Gauge:
            return Gauge(name, doc, ("account",), registry=reg)

        self.distance_pct = position_gauge(
            "riskguard_position_distance_pct",
            "Distance from the mark to the liquidation price, % of the mark (+Inf: none).",
        )
        self.sigma_distance = position_gauge(
            "riskguard_position_sigma_distance",
            "Distance to liquidation in sigmas over the reaction horizon (+Inf: none).",
        )
        self.margin_ratio = position_gauge(
            "riskguard_position_margin_ratio",
            "Maintenance requirement / equity; 1.0 at liquidation.",
        )
        self.shortfall = position_gauge(
            "riskguard_position_shortfall",
            "Worst-scenario shortfall in settlement currency (cross: the cross account's).",
        )
        self.liquidation_price = position_gauge(
            "riskguard_position_liquidation_price",
            "Liquidation price (absent when the position has none).",
        )
        self.notional = position_gauge(
            "riskguard_position_notional", "Size times mark, in settlement currency."
        )
        self.equity = account_gauge("riskguard_account_equity", "Account equity.")
        self.potential_shortfall = account_gauge(
            "riskguard_account_potential_shortfall",
            "The account's worst-scenario shortfall in settlement currency.",
        )
        self.data_age = account_gauge(
            "riskguard_account_data_age_seconds", "Age of the last good snapshot (+Inf: none)."
        )
        self.actionable = account_gauge(
            "riskguard_account_actionable", "1 when the last cycle's data could be acted on."
        )
        self.alert_only = account_gauge(
            "riskguard_account_alert_only", "1 when the guard only alerts for this account."
        )
        self.profile = Gauge(
            "riskguard_account_profile",
            '1 for the venue profile the account\'s figures come from; approximate="true" '
            "marks an approximate profile (generic), whose figures are estimates.",
            ("account", "profile", "approximate"),
            registry=reg,
        )
        self.cycle_seconds = Histogram(
            "riskguard_cycle_seconds",
            "Duration of one guard cycle.",
            ("account",),
            buckets=CYCLE_BUCKETS_S,
            registry=reg,
        )
        self.api_errors = Counter(
            "riskguard_api_errors_total",
            "Exchange errors by class and what the daemon did (retry, skip, stop).",
            ("account", "error_class", "action"),
            registry=reg,
        )
        self.actions = Counter(
            "riskguard_actions_total",
            "Executed plan steps by kind and outcome status.",
            ("account", "kind", "status"),
            registry=reg,
        )
        self.findings = Counter(
            "riskguard_findings_total",
            "Rule findings by rule and level.",
            ("account", "rule", "level"),
            registry=reg,
        )
        self.alert_messages = Counter(
            "riskguard_alert_messages_total",
            "Alert messages sent per sink and outcome (delivered, retry, dead).",
            ("sink", "outcome"),
            registry=reg,
        )
        self.alert_outbox_pending = Gauge(
            "riskguard_alert_outbox_pending",
            "Alerts waiting in the outbox for a sink (queued, or waiting for a retry).",
            registry=reg,
        )
        self.heartbeat_timestamp = Gauge(
            "riskguard_heartbeat_timestamp_seconds",
            "Unix time of the daemon's last heartbeat.",
            registry=reg,
        )
        self.info = Info("riskguard", "The guard's build.", registry=reg)
        self.info.info({"version": version})
        self._position_gauges = (
            self.distance_pct,
            self.sigma_distance,
            self.margin_ratio,
            self.shortfall,
            self.liquidation_price,
            self.notional,
        )
        self._open: dict[str, set[tuple[str, str]]] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ cycles

    def observe_cycle(
        self, report: CycleReport, evaluation: AccountEvaluation | None, duration_s: float
    ) -> None:
        """Record one cycle: its duration, findings, step outcomes and the figures it judged.

        ``evaluation`` is the evaluation of ``report.snapshot`` (``GuardAccount.last_evaluation``
        after the cycle); None leaves the position figures as they were.
        """
        account = report.account
        self.cycle_seconds.labels(account).observe(duration_s)
        self.actionable.labels(account).set(1 if report.actionable else 0)
        for finding in report.findings:
            self.findings.labels(account, finding.rule, finding.level.name.lower()).inc()
        for outcome in report.outcomes:
            self.actions.labels(account, outcome.kind.value, outcome.status).inc()
        if report.snapshot is None:
            self.set_data_age(account, math.inf)
        else:
            age_s = report.time_ms / 1000.0 - report.snapshot.taken_at.timestamp()
            self.set_data_age(account, max(0.0, age_s))
        if evaluation is not None:
            self._observe_evaluation(account, evaluation)

    def _observe_evaluation(self, account: str, evaluation: AccountEvaluation) -> None:
        _set(self.equity, (account,), evaluation.risk.equity)
        approximate = "true" if evaluation.risk.approximate else "false"
        self.profile.labels(account, evaluation.risk.venue, approximate).set(1)
        _set(self.potential_shortfall, (account,), evaluation.potential_shortfall)
        current: dict[tuple[str, str], PositionEvaluation] = {}
        for pe in evaluation.positions:
            key = (pe.risk.symbol, pe.risk.side)
            # Two legs on one side (isolated and cross on OKX): show the nearer to liquidation.
            if key not in current or pe.risk.margin_ratio > current[key].risk.margin_ratio:
                current[key] = pe
        with self._lock:
            closed = self._open.get(account, set()) - current.keys()
            self._open[account] = set(current)
        for symbol, side in closed:
            for gauge in self._position_gauges:
                gauge.remove(account, symbol, side)
        for (symbol, side), pe in current.items():
            labels = (account, symbol, side)
            risk: PositionRisk = pe.risk
            _set(self.distance_pct, labels, _or_inf(risk.distance, 100.0))
            _set(self.sigma_distance, labels, _or_inf(pe.sigma_distance))
            _set(self.margin_ratio, labels, risk.margin_ratio)
            _set(self.shortfall, labels, pe.shortfall)
            _set(self.notional, labels, risk.notional)
            if risk.liquidation_price is None:
                self.liquidation_price.remove(*labels)
            else:
                _set(self.liquidation_price, labels, risk.liquidation_price)

    # ------------------------------------------------------------------ between cycles

    def set_data_age(self, account: str, seconds: float) -> None:
        """How old ``account``'s last good snapshot is (``math.inf``: there never was one)."""
        _set(self.data_age, (account,), seconds)

    def set_alert_only(self, account: str, alert_only: bool) -> None:
        """Whether the guard only alerts for ``account`` (dry run, read-only key)."""
        self.alert_only.labels(account).set(1 if alert_only else 0)

    def count_api_error(self, account: str, error_class: str, action: str) -> None:
        """Count one exchange error and what the daemon did about it (retry, skip or stop)."""
        if action not in API_ERROR_ACTIONS:
            raise ValueError(
                f"action must be one of {', '.join(API_ERROR_ACTIONS)}, got {action!r}"
            )
        self.api_errors.labels(account, error_class, action).inc()

    def count_alert_message(self, sink: str, outcome: str) -> None:
        """Count one message a sink was asked to deliver, by what became of it."""
        if outcome not in ALERT_OUTCOMES:
            raise ValueError(f"outcome must be one of {', '.join(ALERT_OUTCOMES)}, got {outcome!r}")
        self.alert_messages.labels(sink, outcome).inc()

    def set_outbox_pending(self, pending: int) -> None:
        """How many (alert, sink) rows wait in the outbox."""
        self.alert_outbox_pending.set(pending)

    def heartbeat(self, now_s: float) -> None:
        """Record that the daemon is alive at Unix time ``now_s``."""
        self.heartbeat_timestamp.set(now_s)

    def forget_account(self, account: str) -> None:
        """Remove every series of ``account`` (it is no longer guarded)."""
        with self._lock:
            self._open.pop(account, None)
        for metric in self._account_metrics():
            metric.remove_by_labels({"account": account})

    def _account_metrics(self) -> Iterable[Gauge | Counter | Histogram]:
        yield from self._position_gauges
        yield self.equity
        yield self.profile
        yield self.potential_shortfall
        yield self.data_age
        yield self.actionable
        yield self.alert_only
        yield self.cycle_seconds
        yield self.api_errors
        yield self.actions
        yield self.findings


def _or_inf(value: float | None, scale: float = 1.0) -> float:
    """``value * scale``, or +Inf when there is no liquidation price to be distant from."""
    return math.inf if value is None else value * scale


def _set(gauge: Gauge, labels: tuple[str, ...], value: float) -> None:
    """Set the series, or remove it when ``value`` is NaN (never exported)."""
    if math.isnan(value):
        gauge.remove(*labels)
    else:
        gauge.labels(*labels).set(value)


class MetricsServer(NamedTuple):
    """The HTTP server of ``/metrics`` and its thread; unpacks as ``(server, thread)``."""

    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        """The port bound (the one chosen by the system when 0 was asked)."""
        return self.server.server_port

    def close(self, timeout_s: float = 5.0) -> None:
        """Stop serving, close the socket and wait for the thread."""
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout_s)


def start_metrics_server(
    metrics: GuardMetrics, host: str = "127.0.0.1", port: int = 9464
) -> MetricsServer:
    """Serve ``metrics`` on ``http://host:port/metrics`` from a daemon thread.

    Loopback by default: binding another address exposes positions and equity to that network
    and must be a deliberate configuration choice. ``port=0`` lets the system choose (tests).
    """
    server, thread = start_http_server(port, host, metrics.registry)
    return MetricsServer(server, thread)


__all__ = [
    "API_ERROR_ACTIONS",
    "CYCLE_BUCKETS_S",
    "GuardMetrics",
    "MetricsServer",
    "start_metrics_server",
]
