"""Shared pieces of the alert tests: alerts, a settable clock, a scripted sink."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import pytest

from riskguard.alerts.config import AlertingConfig, WebhookSinkConfig
from riskguard.alerts.delivery import DeliveryError
from riskguard.alerts.model import Alert, Severity

T0 = 1_763_700_000_000


def make_alert(
    n: int = 1,
    *,
    severity: Severity = Severity.WARNING,
    account: str | None = "main",
    time_ms: int = T0,
) -> Alert:
    return Alert(
        id=f"alert-{n}",
        time_ms=time_ms,
        severity=severity,
        title=f"alert number {n}",
        message=f"the message of alert {n}",
        account=account,
        symbol="BTC/USDT:USDT",
        side="long",
        rule="liquidation_distance",
        kind="entered",
        figures=(("distance_pct", 4.25), ("mark_price", 61250.5), ("liquidation_price", 58650.0)),
    )


@dataclass
class Clock:
    """Milliseconds that tests move by hand."""

    now: int = T0

    def __call__(self) -> int:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += round(seconds * 1000)


@dataclass
class ScriptedSink:
    """A sink whose answers are scripted: ``None`` delivers, an exception is raised."""

    name: str = "hook"
    script: list[BaseException | None] = field(default_factory=list)
    received: list[list[str]] = field(default_factory=list)
    on_send: Callable[[Sequence[Alert]], None] | None = None

    async def send(self, alerts: Sequence[Alert]) -> None:
        if self.on_send is not None:
            self.on_send(alerts)
        outcome = self.script.pop(0) if self.script else None
        if outcome is not None:
            raise outcome
        self.received.append([a.id for a in alerts])


def retryable(retry_after_s: float | None = None) -> DeliveryError:
    return DeliveryError("hook answered HTTP 500", retry_after_s=retry_after_s)


def permanent() -> DeliveryError:
    return DeliveryError("hook answered HTTP 404: no_service", permanent=True)


def sink_config(**changes: object) -> WebhookSinkConfig:
    values: dict[str, object] = {"name": "hook", "url_env": "HOOK_URL", **changes}
    return WebhookSinkConfig.model_validate(values)


@pytest.fixture
def policy() -> AlertingConfig:
    return AlertingConfig(gather_s=0, retry_base_s=2, retry_max_s=300)


@pytest.fixture
def clock() -> Clock:
    return Clock()
