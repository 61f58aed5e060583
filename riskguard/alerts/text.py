"""Plain-text pieces every medium uses: the headline, the figure lines, the digest title, and the
whole plain-text message (email, and the fallback text of the chat services).

A message is either one alert or a digest of several (sent when many fire at once or a sink's
rate limit is reached); every formatter takes a sequence of alerts and handles both.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from datetime import UTC, datetime

from riskguard.alerts.model import Alert, Severity, format_figure

SEVERITY_MARK = {Severity.INFO: "INFO", Severity.WARNING: "WARNING", Severity.CRITICAL: "CRITICAL"}


def timestamp(time_ms: int) -> str:
    """``2026-11-21 03:14:07 UTC``."""
    return datetime.fromtimestamp(time_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M:%S UTC")


def headline(alert: Alert) -> str:
    """``[CRITICAL] main BTC/USDT:USDT long: the title``."""
    return f"[{SEVERITY_MARK[alert.severity]}] {alert.subject}: {alert.title}"


def figure_lines(alert: Alert) -> list[str]:
    """``name: value`` per figure, in the order the guard gave them."""
    return [f"{name}: {format_figure(value)}" for name, value in alert.figures]


def context_line(alert: Alert) -> str:
    """``rule liquidation_distance · entered · 2026-11-21 03:14:07 UTC · id 3f2a...``."""
    parts = []
    if alert.rule:
        parts.append(f"rule {alert.rule}")
    parts.append(alert.kind)
    parts.append(timestamp(alert.time_ms))
    parts.append(f"id {alert.id}")
    return " · ".join(parts)


def worst(alerts: Sequence[Alert]) -> Severity:
    """The highest severity among ``alerts``."""
    return max(a.severity for a in alerts)


def digest_title(alerts: Sequence[Alert]) -> str:
    """``riskguard: 7 alerts (2 critical, 5 warning)``."""
    counts = Counter(a.severity for a in alerts)
    parts = [f"{counts[s]} {s.label}" for s in sorted(counts, reverse=True)]
    return f"riskguard: {len(alerts)} alerts ({', '.join(parts)})"


def ordered(alerts: Sequence[Alert]) -> list[Alert]:
    """Most severe first, then oldest first: the order a digest lists them in."""
    return sorted(alerts, key=lambda a: (-a.severity, a.time_ms, a.id))


def subject_line(alerts: Sequence[Alert]) -> str:
    """A one-line subject for the message (email subject, notification preview)."""
    if len(alerts) == 1:
        return f"riskguard {headline(alerts[0])}"
    return f"[{SEVERITY_MARK[worst(alerts)]}] {digest_title(alerts)}"


def plain_text(alerts: Sequence[Alert]) -> str:
    """The whole message as plain text: headline, message, figures, context; per alert."""
    blocks: list[str] = []
    if len(alerts) > 1:
        blocks.append(digest_title(alerts))
    for alert in ordered(alerts):
        lines = [headline(alert)]
        if alert.message and alert.message != alert.title:
            lines.append(alert.message)
        lines.extend(f"  {line}" for line in figure_lines(alert))
        lines.append(context_line(alert))
        blocks.append("\n".join(lines))
    return "\n\n".join(blocks) + "\n"
