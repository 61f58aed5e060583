"""What an alert is: severity, who and what it is about, why, and the figures behind it.

An :class:`Alert` is a frozen value. It is stored in the journal's outbox before any sink sees it,
so it round-trips through JSON (:meth:`Alert.to_json` / :meth:`Alert.from_json`) exactly.

Severities are the three people act on. The guard's rule levels map onto them:
``WARN`` and ``ACT`` -> ``warning`` (the guard is watching or acting), ``CRITICAL`` -> ``critical``
(a liquidation or a shortfall is near, or the guard could not do what it had to). ``info`` is for
recoveries, test alerts and the start and stop of the daemon.

``kind`` says why this alert exists:

``event``      something happened once (an order sent, a stop placed, an account stopped)
``entered``    a condition entered a level (or a higher one) for this account / symbol / rule
``halved``     the same condition, and the remaining distance to liquidation has halved since
               the last alert about it
``recovered``  the condition has been clear for the configured hold time
``test``       ``riskguard alert-test``
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import IntEnum
from typing import Any, Final

from riskguard.guard.rules.base import Figures, FigureValue, Level

ALERT_KINDS: Final = ("event", "entered", "halved", "recovered", "test")


class Severity(IntEnum):
    """How urgent an alert is; ordered, so routing compares with ``>=``."""

    INFO = 0
    WARNING = 1
    CRITICAL = 2

    @property
    def label(self) -> str:
        """The lower-case name used in config files and message bodies."""
        return self.name.lower()

    @classmethod
    def parse(cls, text: str) -> Severity:
        """``"info" | "warning" | "critical"`` (any case) -> the severity."""
        try:
            return cls[text.strip().upper()]
        except KeyError:
            raise ValueError(f"unknown severity {text!r}; use info, warning or critical") from None

    @classmethod
    def from_level(cls, level: Level) -> Severity:
        """A rule level as a severity: OK -> info, WARN/ACT -> warning, CRITICAL -> critical."""
        if level >= Level.CRITICAL:
            return cls.CRITICAL
        if level >= Level.WARN:
            return cls.WARNING
        return cls.INFO


def new_alert_id() -> str:
    """A fresh, unique alert id (also the idempotency key a webhook receiver can dedupe on)."""
    return uuid.uuid4().hex


@dataclass(frozen=True, slots=True)
class Alert:
    """One thing people must know, with the numbers that made the guard say it."""

    id: str
    time_ms: int
    severity: Severity
    title: str
    message: str = ""
    account: str | None = None
    symbol: str | None = None
    side: str | None = None
    rule: str | None = None
    kind: str = "event"
    figures: Figures = field(default=())

    def __post_init__(self) -> None:
        if self.kind not in ALERT_KINDS:
            raise ValueError(f"alert kind must be one of {ALERT_KINDS}, not {self.kind!r}")

    @property
    def subject(self) -> str:
        """Who the alert is about: ``account symbol side`` (what there is of it)."""
        parts = [p for p in (self.account, self.symbol, self.side) if p]
        return " ".join(parts) if parts else "riskguard"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (non-finite figures stay floats; the journal's codec keeps them)."""
        return {
            "id": self.id,
            "time_ms": self.time_ms,
            "severity": self.severity.label,
            "title": self.title,
            "message": self.message,
            "account": self.account,
            "symbol": self.symbol,
            "side": self.side,
            "rule": self.rule,
            "kind": self.kind,
            "figures": [[name, value] for name, value in self.figures],
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Alert:
        """The alert :meth:`to_json` wrote."""
        return cls(
            id=str(data["id"]),
            time_ms=int(data["time_ms"]),
            severity=Severity.parse(str(data["severity"])),
            title=str(data["title"]),
            message=str(data.get("message") or ""),
            account=data.get("account"),
            symbol=data.get("symbol"),
            side=data.get("side"),
            rule=data.get("rule"),
            kind=str(data.get("kind") or "event"),
            figures=tuple((str(n), v) for n, v in data.get("figures") or ()),
        )


def figures_from(value: Any) -> Figures:
    """Figures from a mapping or a sequence of pairs, keeping only JSON-ready scalars."""
    pairs: list[tuple[str, FigureValue]] = []
    items = value.items() if isinstance(value, Mapping) else (value or ())
    for name, raw in items:
        if isinstance(raw, bool):
            pairs.append((str(name), str(raw).lower()))
        elif isinstance(raw, int | float | str) or raw is None:
            pairs.append((str(name), raw))
    return tuple(pairs)


def alert_from_payload(
    level: Level, message: str, payload: Mapping[str, Any], *, time_ms: int
) -> Alert:
    """An event alert from the ``(level, message, payload)`` the executor and daemon emit.

    The payload's ``account``, ``symbol``, ``side`` and ``rule`` (or ``source``) fill those fields;
    its ``figures`` mapping and its other scalar values become the figures.
    """
    known = {"account", "symbol", "side", "rule", "source", "figures", "level", "message"}
    figures = list(figures_from(payload.get("figures") or {}))
    figures.extend(figures_from({k: v for k, v in payload.items() if k not in known}))
    rule = payload.get("rule") or payload.get("source")
    return Alert(
        id=new_alert_id(),
        time_ms=time_ms,
        severity=Severity.from_level(level),
        title=message.splitlines()[0] if message else "riskguard alert",
        message=message,
        account=_text(payload.get("account")),
        symbol=_text(payload.get("symbol")),
        side=_text(payload.get("side")),
        rule=_text(rule),
        figures=tuple(figures),
    )


def _text(value: Any) -> str | None:
    return None if value is None else str(value)


def format_figure(value: FigureValue) -> str:
    """A figure as people read it: ``-`` for missing, ``inf``, up to 6 significant digits."""
    if value is None:
        return "-"
    if isinstance(value, str):
        return value
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if math.isinf(value):
            return "inf" if value > 0 else "-inf"
        if value.is_integer() and abs(value) < 1e15:
            return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))
        if abs(value) >= 10_000:
            return f"{value:,.2f}"
        return f"{value:.6g}"
    return f"{value:,}" if abs(value) >= 10_000 else str(value)
