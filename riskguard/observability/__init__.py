"""Structured logs with secrets redacted: the one logging set-up of every edge of riskguard.

:mod:`riskguard.observability.logs` configures structlog (JSON lines or the console) with a secret
redactor that every line passes through. The exchange adapter, the alert sinks and the daemon all
log through it, so it sits below them and imports nothing of riskguard. The Prometheus metrics of
the guard cycle observe the running daemon and live with it (:mod:`riskguard.daemon.metrics`).
"""

from riskguard.observability.logs import (
    DEFAULT_REDACTOR,
    SecretRedactor,
    configure_logging,
    redact,
    register_secret,
    secret_env_values,
)

__all__ = [
    "DEFAULT_REDACTOR",
    "SecretRedactor",
    "configure_logging",
    "redact",
    "register_secret",
    "secret_env_values",
]
