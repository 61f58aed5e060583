"""Builders for tests of riskguard and of code that uses it: valid values, no mocks.

Offers :func:`position` (a 1 BTC isolated 10x long at 100,000 unless told otherwise) and
:func:`snapshot` (a Binance account holding the positions given), a tier schedule
(:data:`BINANCE_BTC_BRACKETS`), a paper venue preset built through :mod:`riskguard.paper.config`
(:func:`paper_section`, :func:`paper_setup`, :func:`price_ticks`) and the config document of a
daemon guarding paper accounts (:func:`paper_daemon_config`). Every value comes from the real
constructors and validators, so a builder that drifts from the domain fails where it is called.
riskguard's own tests use them; so may yours.

It may import riskguard's ground values (:mod:`riskguard.domain`, :mod:`riskguard.errors`),
:mod:`riskguard.risk` and :mod:`riskguard.paper`; never the guard, the daemon, the command line
or replays (:mod:`riskguard.guard`, :mod:`riskguard.daemon`, :mod:`riskguard.cli`,
:mod:`riskguard.replay`), so a test of the risk core or of the paper venue does not pull them in.
"""

from riskguard.testing.daemon_config import paper_daemon_config
from riskguard.testing.paper import paper_section, paper_setup, price_ticks
from riskguard.testing.positions import BTC, TAKEN_AT, position, snapshot
from riskguard.testing.tiers import BINANCE_BTC_BRACKETS

__all__ = [
    "BINANCE_BTC_BRACKETS",
    "BTC",
    "TAKEN_AT",
    "paper_daemon_config",
    "paper_section",
    "paper_setup",
    "position",
    "price_ticks",
    "snapshot",
]
