"""The long-running process: ``riskguard run`` and everything only a running guard needs.

Owns the scheduler (:mod:`~riskguard.daemon.scheduler`: one job per account, clean stop), the
one place where objects are built from the config (:mod:`~riskguard.daemon.wiring`), the
durable journal (:mod:`~riskguard.daemon.journal`: schema and migrations, entries, orders,
state, snapshots, the alert outbox's tables, retention) and the Prometheus metrics
(:mod:`~riskguard.daemon.metrics`). It may import everything below it (ground, risk, guard,
exchange, paper, alerts, observability); only :mod:`riskguard.cli` imports it.
"""
