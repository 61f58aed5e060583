"""Alerts: what people must know, delivered through an outbox that loses nothing.

Owns the alert model, hysteresis, routing, the outbox port, the delivery loop and the sinks. It
may import the shared ground, the guard's vocabulary (levels, figures, findings, the executor's
outcomes: alerts are made from them) and :mod:`riskguard.observability`; never the daemon, the
command line or replays (the daemon's journal implements the outbox port, not the other way).

::

    guard / executor / daemon
        │  events (an order sent, a stop placed, an account stopped)
        │  conditions per cycle (findings at WARN and above, per account / symbol / rule)
        ▼
    center.py       AlertCenter: hysteresis for conditions (hysteresis.py, pure), a quiet window
                    for repeated events, routing by severity and account, then the outbox
        ▼
    outbox.py       one row per (alert, sink) in the journal, written before any send; delivered,
                    retried with backoff (Retry-After honoured) across restarts, or dead-lettered
        ▼
    dispatcher.py   the delivery loop: per-sink rate limit (token bucket), digest when many are
                    due at once, one message per send
        ▼
    sinks/          webhook (HMAC), Slack, Discord, Telegram over one httpx.AsyncClient;
                    email over SMTP with STARTTLS
"""
