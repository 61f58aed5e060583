"""Which positions a replay's report covers, and what it calls them.

The report covers the positions of the guard run (of the first run when there is no guard
run), keyed ``(account, symbol, side)``. Each gets a chart file named
``replay-[ACCOUNT-]BASE-QUOTE-SETTLE-SIDE.png`` (the account only when there are several),
cleaned to safe characters and unique even when two names clean alike. Prices are labelled in
the symbol's quote currency and money in its settlement currency.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from riskguard.replay.result import ReplayResult, RunResult

PositionKey = tuple[str, str, str]


def reference_run(result: ReplayResult) -> RunResult | None:
    """The guard run, else the first run (``None`` when there is no run)."""
    if "guard" in result.runs:
        return result.runs["guard"]
    return next(iter(result.runs.values()), None)


def position_keys(result: ReplayResult) -> list[PositionKey]:
    """The keys of the reference run's positions, in its order."""
    run = reference_run(result)
    return [p.key for p in run.positions] if run is not None else []


def several_accounts(result: ReplayResult) -> bool:
    """Whether the report's positions belong to more than one account."""
    return len({k[0] for k in position_keys(result)}) > 1


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9._]+", "-", text).strip("-.") or "x"


def chart_names(keys: Sequence[PositionKey]) -> dict[PositionKey, str]:
    """``replay-[ACCOUNT-]BASE-QUOTE-SETTLE-SIDE.png``, unique even when two names clean alike."""
    several_accounts = len({k[0] for k in keys}) > 1
    names: dict[PositionKey, str] = {}
    used: set[str] = set()
    for key in keys:
        account, symbol, side = key
        parts = [account, symbol, side] if several_accounts else [symbol, side]
        stem = "replay-" + "-".join(_safe(p) for p in parts)
        name, n = f"{stem}.png", 1
        while name.lower() in used:
            n += 1
            name = f"{stem}-{n}.png"
        used.add(name.lower())
        names[key] = name
    return names


def quote(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``USDT`` (the currency prices are in)."""
    _, _, rest = symbol.partition("/")
    return rest.partition(":")[0] or "quote"


def settle(symbol: str) -> str:
    """``BTC/USDT:USDT`` -> ``USDT`` (the currency money figures are in)."""
    _, sep, settle = symbol.partition(":")
    return settle if sep and settle else quote(symbol)
