"""The live adapter: ccxt clients behind the exchange port, and ccxt's rows made into our values.

Owns the live exchange client (:mod:`~riskguard.exchange.live`: retried reads, single-shot
writes), the normaliser from ccxt dicts to snapshots, tiers and open stops
(:mod:`~riskguard.exchange.ccxt_account`), shared markets and tiers per exchange
(:mod:`~riskguard.exchange.markets`), credentials from the environment or a secrets file, key
permission probes, and ccxt errors translated into retry / skip / stop
(:mod:`~riskguard.exchange.errors`). It may import the shared ground, :mod:`riskguard.risk` and
:mod:`riskguard.observability`; never the guard, alerts, daemon, replay, command line or the other
adapter (:mod:`riskguard.paper`).
"""
