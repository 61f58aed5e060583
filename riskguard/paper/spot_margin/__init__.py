"""A paper spot margin venue modelled on Binance Cross Margin Classic (borrowing).

Users borrow the quote asset to hold more of a coin (a borrowed long) or borrow a coin to sell
it (a borrowed short). The venue keeps cross margin accounts over spot pairs quoted in one
asset, charges hourly interest, and liquidates an account whose margin level (total asset value
over liabilities plus interest) reaches the liquidation level; its rules and their sources are
in ``docs/venue_rules.md`` ("The paper spot margin venue").

Modules: :mod:`.rules` (markets and margin rules), :mod:`.account` (balances, records, ledger,
margin level), :mod:`.loans` (borrow, repay, interest), :mod:`.orders` (orders and fills over
the perpetual venue's fill pricing), :mod:`.liquidation`, :mod:`.venue` (the clock),
:mod:`.client` (the ccxt-shaped client, as ``ccxt.binance`` answers for cross margin) and
:mod:`.config` (the frozen config model and the one place a venue is built from it).
"""
