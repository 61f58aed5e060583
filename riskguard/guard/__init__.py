"""The guard engine: one account's cycle from fetched data to protective orders.

Owns the cycle (:mod:`~riskguard.guard.cycle`: fetch, snapshot, evaluate, judge, plan, act), the
rules (:mod:`~riskguard.guard.rules`), the planner (:mod:`~riskguard.guard.planner`), the
pre-trade check for bots (:mod:`~riskguard.guard.pretrade`) and the executor with its order ids
and per-venue order quirks (:mod:`~riskguard.guard.enforce`). Everything here is pure except the
executor's and the cycle's calls through the exchange port. It may import the shared ground
(``domain``, ``errors``, ``clock``, ``validation``, ``config``), :mod:`riskguard.risk`, the
adapters' normalisers (:mod:`riskguard.exchange`), :mod:`riskguard.alerts` (the cycle reports its
conditions there) and :mod:`riskguard.observability`; never :mod:`riskguard.daemon`,
:mod:`riskguard.cli` or :mod:`riskguard.replay`, which are built on it.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskguard.guard.cycle import (
        STALE_RULE,
        CycleReport,
        Guard,
        GuardAccount,
    )
    from riskguard.guard.risk_inputs import guard_risk_settings

_FROM_CYCLE = frozenset({"STALE_RULE", "CycleReport", "Guard", "GuardAccount"})


def __getattr__(name: str) -> Any:
    """The cycle's names, imported on first use: the rules and the planner stay importable
    without the cycle's exchange and alert dependencies."""
    if name in _FROM_CYCLE:
        return getattr(importlib.import_module("riskguard.guard.cycle"), name)
    if name == "guard_risk_settings":
        return getattr(importlib.import_module("riskguard.guard.risk_inputs"), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


__all__ = ["STALE_RULE", "CycleReport", "Guard", "GuardAccount", "guard_risk_settings"]
