"""The paper venue: a simulated derivatives exchange behind the same port as the live adapter.

Owns the venue engine (:mod:`~riskguard.paper.engine`: ticks, marks, orders, fills, funding,
liquidation, the ledger), price feeds, market terms, seeded faults, the ccxt-shaped client
(:mod:`~riskguard.paper.exchange`), its config section and wiring (:mod:`~riskguard.paper.config`)
and saved state. It may import the shared ground and :mod:`riskguard.risk` (the venue liquidates
with the risk core's own schedules); never the guard, alerts, daemon, replay, command line or the
other adapter (:mod:`riskguard.exchange`).
"""
