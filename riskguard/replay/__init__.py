"""Paper-trading dry runs: replay price paths with the guard and the baselines, and report.

Owns scenarios, the runner (the guard's own cycle on a paper venue in virtual time), the
baselines, results and the report; ``riskguard replay`` is its command. It may import everything
below it (ground, risk, guard, paper, alerts); never the daemon or the command line.

In Python::

    from riskguard.replay import OpenSpec, build_scenario, replay

    scenario = build_scenario(
        prices=[("BTC/USDT:USDT", Path("btcusdt-perp-2020-03-12.csv"))],
        opens=[OpenSpec("BTC/USDT:USDT", "long", 20)],
    )
    result = replay(scenario)
    print(result.saved())
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from riskguard.replay.result import (
        AccountResult,
        Action,
        PositionResult,
        ReplayResult,
        RunResult,
        Totals,
    )
    from riskguard.replay.runner import replay, run_one
    from riskguard.replay.scenario import Scenario, build_scenario
    from riskguard.replay.spec import OpenSpec, parse_open

_WHERE = {
    "AccountResult": "result",
    "Action": "result",
    "PositionResult": "result",
    "ReplayResult": "result",
    "RunResult": "result",
    "Totals": "result",
    "replay": "runner",
    "run_one": "runner",
    "Scenario": "scenario",
    "build_scenario": "scenario",
    "OpenSpec": "spec",
    "parse_open": "spec",
}
"""Where each public name lives: imported on first use, so that ``riskguard --help`` and the
light modules of this package (``spec``) do not load the replay engine."""


def __getattr__(name: str) -> Any:
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'riskguard.replay' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"riskguard.replay.{module}"), name)
    globals()[name] = value
    return value


__all__ = [
    "AccountResult",
    "Action",
    "OpenSpec",
    "PositionResult",
    "ReplayResult",
    "RunResult",
    "Scenario",
    "Totals",
    "build_scenario",
    "parse_open",
    "replay",
    "run_one",
]
