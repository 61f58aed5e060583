"""The replay's world: markets, price series, accounts, positions, rules and poll interval.

:func:`build_scenario` combines an optional riskguard config with the command line's options
into one frozen :class:`Scenario`; every run of the replay (the guard and each baseline) builds a
fresh paper venue from it, so all of them start from the same positions on the same path.

- Prices: ``--prices SYMBOL=FILE`` replaces the feed of the config's market of that symbol, or
  adds a market with the built-in terms (:data:`DEFAULT_TIERS`, Binance-like fees, a price tick
  and amount step sized from the file). Files are read once, here.
- Positions: ``--open`` replaces the config's paper accounts with one account, ``replay``,
  holding the given positions; without a notional each position's margin is the balance divided
  by twice the number of positions, and its notional that margin times its leverage.
- Rules and guard settings: the config's, or the built-in defaults without a config.
- Notes: what the results rest on and a reader should know, printed with them: built-in market
  terms, and each missing stretch (gap) of a price file read inside the replayed window.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from riskguard.config import GuardConfig, RiskguardConfig, load_config
from riskguard.errors import InputError
from riskguard.guard.rules.registry import RuleConfig, default_rule_configs
from riskguard.paper.config import PaperConfig, parse_paper_config
from riskguard.paper.feeds import Bars, read_price_csv
from riskguard.replay.spec import BASELINES, OpenSpec

DEFAULT_BALANCE = 10_000.0
"""Balance of the replay account when neither ``--balance`` nor the config gives one."""

REPLAY_ACCOUNT = "replay"
"""The account ``--open`` positions are opened in."""

DEFAULT_TIERS: tuple[dict[str, float], ...] = (
    {"min_notional": 0, "max_notional": 50_000, "maintenance_margin_rate": 0.004},
    {"min_notional": 50_000, "max_notional": 600_000, "maintenance_margin_rate": 0.005},
    {"min_notional": 600_000, "max_notional": 3_000_000, "maintenance_margin_rate": 0.0065},
    {"min_notional": 3_000_000, "max_notional": 12_000_000, "maintenance_margin_rate": 0.01},
    {"min_notional": 12_000_000, "maintenance_margin_rate": 0.02},
)
"""Maintenance brackets for a market the config does not describe: the shape of Binance's
BTCUSDT perpetual brackets (0.4% to 50k notional, then 0.5%, 0.65%, 1%, 2%); the maintenance
amounts are derived so the margin is continuous. Give a config with a ``paper.markets`` entry
for a market's real brackets."""

SYMBOL_SHAPE = "BASE/QUOTE:SETTLE (e.g. BTC/USDT:USDT)"


@dataclass(frozen=True, slots=True)
class GuardedAccount:
    """An account the guard watches in the replay, and its settings from the config."""

    id: str
    paper_account: str
    alert_only: bool = False
    hedged: bool = False
    margin_mode: str = "cross"


@dataclass(frozen=True, slots=True)
class Scenario:
    """Everything a run needs; frozen, shared by the guard run and the baselines."""

    paper: PaperConfig
    base_dir: Path
    bars: Mapping[str, Bars]
    guard: GuardConfig
    rules: tuple[Any, ...]
    accounts: tuple[GuardedAccount, ...]
    baselines: tuple[str, ...] = BASELINES
    sources: Mapping[str, str] = field(default_factory=dict)
    """Where each symbol's prices came from (file name), for the summary."""
    notes: tuple[str, ...] = ()
    """Assumptions worth printing with the results (built-in market terms, ...)."""

    @property
    def poll_interval_s(self) -> float:
        return self.guard.poll_interval_s


def default_market(symbol: str, bars: Bars) -> dict[str, Any]:
    """Built-in terms for a market the config does not describe.

    The price tick is five decimal places finer than the lowest price of the file (LUNA fell
    to 0.00004), the amount step a power of ten worth about 10 in the quote currency at the
    first price (0.001 BTC at 8,000).
    """
    lowest = min(bars.lows)
    first = bars.opens[0]
    tick = 10.0 ** (math.floor(math.log10(lowest)) - 5)
    step = 10.0 ** round(math.log10(10.0 / first))
    return {
        "symbol": symbol,
        "tiers": [dict(t) for t in DEFAULT_TIERS],
        "price_tick": tick,
        "amount_step": step,
        "min_amount": step,
    }


def _read_prices(prices: Sequence[tuple[str, Path]]) -> dict[str, tuple[Path, Bars]]:
    read: dict[str, tuple[Path, Bars]] = {}
    for symbol, path in prices:
        if symbol in read:
            raise InputError(f"--prices {symbol}: given twice")
        if symbol.count("/") != 1 or symbol.count(":") != 1:
            raise InputError(f"--prices {symbol}: a symbol must look like {SYMBOL_SHAPE}")
        read[symbol] = (path, read_price_csv(path, symbol))
    return read


def _window(bars: Bars, start_ms: int | None, end_ms: int | None, symbol: str) -> None:
    """Refuse a window outside the data, naming the option and what the file covers."""
    try:
        bars.window(start_ms, end_ms)
    except ValueError:
        covers = f"{_iso(bars.start_ms)} to {_iso(bars.end_ms)}"
        raise InputError(
            f"--from/--to: no {symbol} price in the window; its prices cover {covers}"
        ) from None


def _iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, tz=UTC).strftime("%Y-%m-%dT%H:%MZ")


def gap_notes(
    symbol: str, path: Path, bars: Bars, start_ms: int | None, end_ms: int | None
) -> list[str]:
    """One note per missing stretch of ``bars`` inside the window, e.g. ``LUNA/USDT:USDT: 26240
    minutes missing after 2022-05-13 00:39 UTC (lunausdt.csv line 8681)``: the time is the open
    of the last bar before the gap, the line the file's line of the first bar after it.

    Reads ``bars.gaps`` (``PriceGap``: ``line``, ``after_ms``, ``next_ms``) where the feed
    reader records them; a reader that does not gives no note.
    """
    windowed = bars.window(start_ms, end_ms) if start_ms is not None or end_ms is not None else bars
    notes = []
    for gap in getattr(windowed, "gaps", ()):
        missing = gap.next_ms - gap.after_ms - bars.bar_ms
        when = datetime.fromtimestamp(gap.after_ms / 1000, tz=UTC).strftime("%Y-%m-%d %H:%M")
        notes.append(
            f"{symbol}: {_duration(missing)} missing after {when} UTC ({path.name} line {gap.line})"
        )
    return notes


def _duration(ms: int) -> str:
    """``26240 minutes``, ``1 minute``, ``90 seconds``."""
    if ms % 60_000 == 0:
        n, unit = ms // 60_000, "minute"
    else:
        n, unit = round(ms / 1000), "second"
    return f"{n} {unit}{'' if n == 1 else 's'}"


def _positions(opens: Sequence[OpenSpec], balance: float) -> list[dict[str, Any]]:
    margin = balance / (2 * len(opens))
    return [
        {
            "symbol": o.symbol,
            "side": o.side,
            "leverage": o.leverage,
            "margin_mode": o.margin_mode,
            "notional": o.notional if o.notional is not None else margin * o.leverage,
        }
        for o in opens
    ]


def build_scenario(
    *,
    config_path: Path | None = None,
    prices: Sequence[tuple[str, Path]] = (),
    opens: Sequence[OpenSpec] = (),
    balance: float | None = None,
    venue: str | None = None,
    poll_interval_s: float | None = None,
    start_ms: int | None = None,
    end_ms: int | None = None,
    baselines: Sequence[str] = BASELINES,
) -> Scenario:
    """Combine the config (optional) and the options into a :class:`Scenario`.

    Raises :class:`~riskguard.errors.InputError` (one line naming the option, file or config
    path) for anything that cannot be replayed.
    """
    config: RiskguardConfig | None = load_config(config_path) if config_path else None
    base_dir = config_path.parent if config_path is not None else Path.cwd()
    if balance is not None and not (math.isfinite(balance) and balance > 0):
        raise InputError(f"--balance: must be a positive amount, got {balance}")
    if poll_interval_s is not None and not (math.isfinite(poll_interval_s) and poll_interval_s > 0):
        raise InputError(f"--poll-interval-s: must be positive, got {poll_interval_s}")
    if start_ms is not None and end_ms is not None and end_ms <= start_ms:
        raise InputError("--to: must be after --from")
    read = _read_prices(prices)
    document: dict[str, Any] = (
        config.paper.model_dump(mode="json", exclude_none=True)
        if config is not None and config.paper is not None
        else {"venue": "binance", "markets": [], "accounts": []}
    )
    notes: list[str] = []
    markets: list[dict[str, Any]] = list(document.get("markets", []))
    bars: dict[str, Bars] = {}
    sources: dict[str, str] = {}
    by_symbol = {m["symbol"]: i for i, m in enumerate(markets)}
    for symbol, (path, series) in read.items():
        sources[symbol] = path.name
        bars[symbol] = series
        if symbol in by_symbol:
            markets[by_symbol[symbol]] = {
                **markets[by_symbol[symbol]],
                "feed": {"csv": str(path.resolve())},
            }
        else:
            market = default_market(symbol, series)
            market["feed"] = {"csv": str(path.resolve())}
            markets.append(market)
            notes.append(
                f"{symbol}: built-in market terms (Binance BTCUSDT-shaped brackets, taker "
                f"0.05%, tick {market['price_tick']:g}, step {market['amount_step']:g}); a "
                "config's paper.markets entry gives the real ones"
            )
    for m in markets:
        feed = m.get("feed", {})
        if "csv" in feed and m["symbol"] not in sources:
            sources[m["symbol"]] = Path(feed["csv"]).name
    if not markets:
        raise InputError(
            "replay: no prices; give --prices SYMBOL=FILE (or a CONFIG with paper.markets)"
        )
    known = {m["symbol"] for m in markets}
    for o in opens:
        if o.symbol not in known:
            raise InputError(
                f"--open {o.symbol}: no prices for {o.symbol}; add --prices {o.symbol}=FILE"
            )
    for symbol, series in bars.items():
        _window(series, start_ms, end_ms, symbol)
    for symbol, (path, series) in read.items():
        notes.extend(gap_notes(symbol, path, series, start_ms, end_ms))
    document["markets"] = markets
    if venue is not None:
        document["venue"] = venue
    if start_ms is not None:
        document["start"] = datetime.fromtimestamp(start_ms / 1000, tz=UTC).isoformat()
    if end_ms is not None:
        document["end"] = datetime.fromtimestamp(end_ms / 1000, tz=UTC).isoformat()
    config_accounts = [a for a in config.accounts if a.exchange == "paper"] if config else []
    guarded: list[GuardedAccount]
    if opens:
        paper_accounts = document.get("accounts", [])
        start_balance = (
            balance
            if balance is not None
            else float(paper_accounts[0]["balance"])
            if paper_accounts
            else DEFAULT_BALANCE
        )
        sides: dict[str, set[str]] = {}
        for o in opens:
            sides.setdefault(o.symbol, set()).add(o.side)
        hedge = any(len(s) > 1 for s in sides.values())
        document["accounts"] = [
            {
                "id": REPLAY_ACCOUNT,
                "balance": start_balance,
                "hedge_mode": hedge,
                "positions": _positions(opens, start_balance),
            }
        ]
        template = config_accounts[0] if config_accounts else None
        guarded = [
            GuardedAccount(
                REPLAY_ACCOUNT,
                REPLAY_ACCOUNT,
                alert_only=template.alert_only if template else False,
                hedged=hedge,
                margin_mode=template.margin_mode if template else "cross",
            )
        ]
    else:
        if not any(a.get("positions") for a in document.get("accounts", [])):
            raise InputError(
                "replay: no positions; give --open SYMBOL,SIDE,LEVERAGEx "
                "(or a CONFIG whose paper accounts hold positions)"
            )
        if balance is not None:
            document["accounts"] = [{**a, "balance": balance} for a in document["accounts"]]
        guarded = [
            GuardedAccount(
                a.id,
                a.paper_account or a.id,
                alert_only=a.alert_only,
                hedged=a.hedged,
                margin_mode=a.margin_mode,
            )
            for a in config_accounts
        ]
        if not guarded:
            raise InputError(f"{config_path}: no account on the paper exchange to guard")
    source = str(config_path) if config_path is not None else "replay"
    paper = parse_paper_config(document, source)
    guard = config.guard if config is not None else GuardConfig()
    if poll_interval_s is not None:
        guard = guard.model_copy(update={"poll_interval_s": poll_interval_s})
    rules: tuple[RuleConfig, ...] = (
        config.rules if config is not None and config.rules else tuple(default_rule_configs())
    )
    return Scenario(
        paper=paper,
        base_dir=base_dir,
        bars=bars,
        guard=guard,
        rules=rules,
        accounts=tuple(guarded),
        baselines=tuple(baselines),
        sources=sources,
        notes=tuple(notes),
    )
