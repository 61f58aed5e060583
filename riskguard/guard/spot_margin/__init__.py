"""The guard for spot margin accounts (borrowing): judge the margin level against the venue's
liquidation level and repay before it is reached.

:mod:`~riskguard.guard.spot_margin.judge` is pure (an account reading in, a verdict and a remedy
out); :mod:`~riskguard.guard.spot_margin.cycle` reads the venue, journals, sends the remedy
through the order-fate sender, and alerts. Remedies only ever lower the loan: sell a held asset
with its proceeds repaying the quote loan (Binance ``sideEffectType: AUTO_REPAY``), or buy back
a borrowed asset; never borrow more.
"""
