"""What the guard tells its operators besides alerts: redacted structured logs and metrics.

:mod:`riskguard.observability.logs` configures structlog (JSON lines or the console) with a secret
redactor that every line passes through; :mod:`riskguard.observability.metrics` holds the
Prometheus metrics of the guard cycle and serves them.
"""

from riskguard.observability.logs import (
    DEFAULT_REDACTOR,
    SecretRedactor,
    configure_logging,
    redact,
    register_secret,
    secret_env_values,
)
from riskguard.observability.metrics import GuardMetrics, MetricsServer, start_metrics_server

__all__ = [
    "DEFAULT_REDACTOR",
    "GuardMetrics",
    "MetricsServer",
    "SecretRedactor",
    "configure_logging",
    "redact",
    "register_secret",
    "secret_env_values",
    "start_metrics_server",
]
