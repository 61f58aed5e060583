"""The paper venue: a simulated derivatives exchange behind the same port as the live adapter.

Owns the venue engine (:mod:`~riskguard.paper.engine`, the clock, made of parts in their own
modules: ``price_path``, ``orders``, ``fill_pricing``, ``fills``, ``margin``, ``margin_settings``,
``funding``, ``liquidation``, over ``venue_state``; with ``records`` and ``ledger``), price feeds,
market terms, seeded faults, the ccxt-shaped client
(:mod:`~riskguard.paper.exchange`), its config section and wiring (:mod:`~riskguard.paper.config`)
and saved state. It may import the shared ground and :mod:`riskguard.risk` (the venue liquidates
with the risk core's own schedules); never the guard, alerts, daemon, replay, command line or the
other adapter (:mod:`riskguard.exchange`).
"""
