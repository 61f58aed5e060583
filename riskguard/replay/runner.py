"""Run a scenario: the guard's run and each baseline's, on fresh venues, in virtual time.

The guard run is the daemon's cycle (:meth:`riskguard.guard.cycle.Guard.cycle`) on the paper venue's
ccxt-shaped client, once per poll interval of simulated time, with the rules, journal and alert
center it has in production (the journal in memory; the alert center with no sink, so its
hysteresis decides what would have been sent). Each baseline runs on its own venue built from
the same scenario: ``none`` only lets the clock move; ``static-stop`` runs
:class:`~riskguard.replay.baselines.StaticStopBot` every minute. Every run samples marks,
liquidation prices (from the risk core, as the venue reports them), stops, sizes and each
account's equity: the guard run at its polls, the baselines every poll interval but at most every
15 s (:data:`BASELINE_STEP_MS`). The lowest equity of each position and account is kept at every
tick of the venue besides (:class:`~riskguard.replay.equity_watch.EquityWatch`).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from array import array
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

import structlog

from riskguard.alerts.center import AlertCenter
from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.outbox import MemoryOutbox
from riskguard.clock import VirtualClock, iso8601
from riskguard.domain import MarginMode, Side
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import JournalEntry, MemoryJournal
from riskguard.guard.rules.registry import build_rules
from riskguard.paper.config import PaperSetup, build_paper
from riskguard.paper.engine import PaperAccount, PaperVenue
from riskguard.replay.baselines import REFRESH_MS, StaticStopBot
from riskguard.replay.equity_watch import EquityWatch, account_equity, trade_side
from riskguard.replay.result import (
    AccountResult,
    Action,
    PositionResult,
    PositionSeries,
    ReplayResult,
    RunResult,
    RunSeries,
    Totals,
    floats,
    went_negative,
)
from riskguard.replay.scenario import Scenario

SERIES_EVERY_MS = 15_000
"""Samples are kept for the report at most this often (and at every change of size)."""

RUNS: tuple[str, ...] = ("guard", "none", "static-stop")

BASELINE_STEP_MS = 15_000
"""The baselines are sampled every poll interval but at most this often: a one-minute kline
moves the venue's prices four times a minute, so finer samples would see nothing new."""

PositionKey = tuple[str, str, str]


@contextlib.contextmanager
def silenced_logs() -> Iterator[None]:
    """No log lines while replaying: the guard's decisions are in the run's journal, and the
    thousands of simulated cycles would bury the summary."""
    saved = structlog.get_config()
    structlog.configure(
        processors=[],
        logger_factory=structlog.ReturnLoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(logging.CRITICAL),
        cache_logger_on_first_use=False,
    )
    try:
        yield
    finally:
        structlog.configure(**saved)


def replay(
    scenario: Scenario,
    *,
    runs: Sequence[str] | None = None,
    inputs: Mapping[str, Any] | None = None,
    quiet: bool = True,
) -> ReplayResult:
    """Run the guard and the scenario's baselines (or ``runs``) and collect the results.

    ``quiet`` silences the guard's log lines while the runs play (see :func:`silenced_logs`).
    """
    names = tuple(runs) if runs is not None else ("guard", *scenario.baselines)
    started = time.perf_counter()
    with silenced_logs() if quiet else contextlib.nullcontext():
        results = {name: asyncio.run(run_one(scenario, name)) for name in names}
    return ReplayResult(
        runs=results,
        inputs=dict(inputs) if inputs is not None else describe(scenario),
        wall_s=time.perf_counter() - started,
    )


def describe(scenario: Scenario) -> dict[str, Any]:
    """What was replayed, for the JSON and the report."""
    paper = scenario.paper
    return {
        "venue": paper.venue,
        "poll_interval_s": scenario.poll_interval_s,
        "prices": dict(scenario.sources),
        "from": paper.start.isoformat() if paper.start else None,
        "to": paper.end.isoformat() if paper.end else None,
        "accounts": [
            {
                "id": a.id,
                "balance": a.balance,
                "positions": [
                    {
                        "symbol": p.symbol,
                        "side": p.side,
                        "leverage": p.leverage,
                        "margin_mode": p.margin_mode,
                        "notional": p.notional,
                        "size": p.size,
                    }
                    for p in a.positions
                ],
            }
            for a in paper.accounts
        ],
        "notes": list(scenario.notes),
    }


def _setup(scenario: Scenario) -> PaperSetup:
    setup = build_paper(scenario.paper, scenario.base_dir, bars=scenario.bars)
    if not isinstance(setup.clock, VirtualClock):
        clock = VirtualClock(setup.venue.now_ms)
        clock.subscribe(setup.venue.advance_to)
        setup.clock = clock
    return setup


async def run_one(scenario: Scenario, name: str) -> RunResult:
    """One run on a fresh venue: ``guard``, ``none`` or ``static-stop``."""
    if name not in RUNS:
        raise ValueError(f"unknown run {name!r}; choose from {', '.join(RUNS)}")
    started = time.perf_counter()
    setup = _setup(scenario)
    venue = setup.venue
    clock = setup.clock
    if not isinstance(clock, VirtualClock):  # pragma: no cover - _setup makes it virtual
        raise TypeError("a replay needs a virtual clock")
    opened = _opened_sides(venue)
    margins = _initial_margins(venue)
    opening_fees = _opening_fees(venue)
    stakes = {key: margin + opening_fees[key] for key, margin in margins.items()}
    start_balances = {a.id: a.balance for a in scenario.paper.accounts}
    start_equity = sum(start_balances.values())
    recorder = _Recorder(venue)
    watch = EquityWatch(venue, opened, stakes).attach()
    journal = MemoryJournal(keep=ACTION_KINDS)
    step: Callable[[], Any]
    accounts = tuple(a.paper_account for a in scenario.accounts)
    bot: StaticStopBot | None = None
    guard_accounts: list[GuardAccount] = []
    if name == "guard":
        center = AlertCenter(MemoryOutbox(journal), [], AlertingConfig(), now_ms=clock.now_ms)
        guard = Guard(
            scenario.guard,
            build_rules(list(scenario.rules)),
            journal=journal,
            clock=clock,
            alert=center.alert_fn(),
            conditions=center.conditions,
        )
        guard_accounts.extend(
            GuardAccount(
                account=a.id,
                port=setup.client(a.paper_account, label="guard"),
                exchange_id="paper",
                venue=scenario.paper.venue,
                default_margin_mode=MarginMode(a.margin_mode),
                hedged=a.hedged,
                alert_only=a.alert_only,
            )
            for a in scenario.accounts
        )

        async def guard_step() -> None:
            for acct in guard_accounts:
                await guard.cycle(acct)

        step = guard_step
    elif name == "static-stop":
        bot = StaticStopBot(venue, accounts)
        next_refresh = [venue.now_ms]

        async def bot_step() -> None:
            if venue.now_ms >= next_refresh[0]:
                bot.refresh()
                next_refresh[0] = venue.now_ms + REFRESH_MS

        step = bot_step
    else:

        async def hold() -> None:
            return None

        step = hold

    poll_ms = max(1, round(scenario.poll_interval_s * 1000))
    if name != "guard":
        # Nothing polls in a baseline: the venue liquidates and fires stops on every tick
        # whatever the step, so the step only sets how often it is sampled.
        poll_ms = max(poll_ms, BASELINE_STEP_MS)
    end = venue.end_ms
    t = venue.now_ms
    cycles = 0
    while True:
        await step()
        cycles += 1
        t = max(t, clock.now_ms())
        watch.measure_fills()
        recorder.sample(t, final=t >= end)
        if t >= end:
            break
        t = min(end, max(t + poll_ms, clock.now_ms()))
        clock.advance_to(t)
    watch.measure_all()
    actions = _guard_actions(journal, opened) if name == "guard" else {}
    if bot is not None:
        for key, done in bot.actions.items():
            actions.setdefault(key, []).extend(done)
    for key, fills in _stop_fills(venue, opened).items():
        actions.setdefault(key, []).extend(fills)
    positions = tuple(
        _position_result(
            venue, key, opened, margins, opening_fees, recorder, watch, actions.get(key, [])
        )
        for key in margins
    )
    account_results = tuple(
        _account_result(venue, acc, start_balances.get(acc.id, acc.deposits), watch)
        for acc in venue.accounts.values()
    )
    totals = Totals(
        liquidations=len(venue.liquidations),
        shortfall=sum(r.shortfall for r in venue.liquidations),
        final_equity=sum(a.final_equity for a in account_results),
        fees=sum(t.fee for a in venue.accounts.values() for t in a.trades)
        + sum(r.fee for r in venue.liquidations),
        funding=sum(sum(a.funding.values()) for a in venue.accounts.values()),
        start_equity=start_equity,
        negative_positions=sum(p.negative for p in positions),
        negative_accounts=sum(a.negative for a in account_results),
    )
    alerts = journal.count("alert_queued")
    return RunResult(
        name=name,
        positions=positions,
        accounts=account_results,
        totals=totals,
        cycles=cycles,
        alerts=alerts,
        wall_s=time.perf_counter() - started,
        series=recorder.series,
    )


# ---------------------------------------------------------------------- sampling


class _Recorder:
    """Samples marks, liquidation prices, stops, sizes and equity at the polls."""

    def __init__(self, venue: PaperVenue) -> None:
        self.venue = venue
        self.series = RunSeries()
        self.min_distance: dict[PositionKey, float] = {}
        self._last_kept = -(2**62)
        self._last_sizes: dict[PositionKey, float] = {}

    def sample(self, t_ms: int, *, final: bool = False) -> None:
        venue = self.venue
        figures: dict[PositionKey, tuple[float, float, float, float]] = {}
        for acc in venue.accounts.values():
            if not acc.positions:
                continue
            risk = venue.assessed(acc.id)
            for pos, fig in zip(acc.positions.values(), risk.positions, strict=True):
                key = (acc.id, pos.symbol, pos.side.value)
                liq = fig.liquidation_price if fig.liquidation_price is not None else math.nan
                if fig.distance is not None:
                    pct = max(0.0, fig.distance * 100.0)
                    best = self.min_distance.get(key)
                    self.min_distance[key] = pct if best is None else min(best, pct)
                figures[key] = (fig.mark_price, liq, _stop_of(acc, pos.symbol, pos.side), pos.size)
        sizes = {k: v[3] for k, v in figures.items()}
        changed = sizes != self._last_sizes
        if not (final or changed or t_ms - self._last_kept >= SERIES_EVERY_MS):
            return
        self._last_kept = t_ms
        self._last_sizes = sizes
        series = self.series
        series.times_ms.append(t_ms)
        for acc in venue.accounts.values():
            series.equity.setdefault(acc.id, floats()).append(account_equity(venue, acc))
        for key in list(series.positions) + [k for k in figures if k not in series.positions]:
            track = series.positions.get(key)
            if track is None:
                before = len(series.times_ms) - 1
                track = PositionSeries(
                    mark=array("d", [math.nan]) * before,
                    liquidation=array("d", [math.nan]) * before,
                    stop=array("d", [math.nan]) * before,
                    size=array("d", [0.0]) * before,
                )
                series.positions[key] = track
            mark, liq, stop, size = figures.get(
                key, (venue.mark_price(key[1]), math.nan, math.nan, 0.0)
            )
            track.mark.append(mark)
            track.liquidation.append(liq)
            track.stop.append(stop)
            track.size.append(size)


def _stop_of(acc: PaperAccount, symbol: str, side: Side) -> float:
    """The trigger price of the open reduce-only stop that would close ``side`` first."""
    closing = "sell" if side is Side.LONG else "buy"
    prices = [
        o.trigger_price
        for o in acc.orders.values()
        if o.status == "open"
        and o.symbol == symbol
        and o.trigger_price is not None
        and o.side == closing
        and (o.position_side is None or o.position_side is side)
    ]
    if not prices:
        return math.nan
    return max(prices) if side is Side.LONG else min(prices)


# ---------------------------------------------------------------------- accounting


def _opened_sides(venue: PaperVenue) -> dict[tuple[str, str], Side]:
    """The side each account opened on each symbol (one-way accounts hold one per symbol)."""
    return {(a.id, symbol): side for a in venue.accounts.values() for symbol, side in a.positions}


def _initial_margins(venue: PaperVenue) -> dict[PositionKey, float]:
    """The margin each position took when it opened: its value at the fill over its leverage
    (the isolated margin, for an isolated one), before the first poll."""
    return {
        (acc.id, symbol, side.value): pos.size * pos.entry_price / pos.leverage
        for acc in venue.accounts.values()
        for (symbol, side), pos in acc.positions.items()
    }


def _opening_fees(venue: PaperVenue) -> dict[PositionKey, float]:
    """The trading fee each position paid to open, before the first poll: with its margin, what
    the user put in to hold it."""
    opened = _opened_sides(venue)
    fees = dict.fromkeys(_initial_margins(venue), 0.0)
    for acc in venue.accounts.values():
        for trade in acc.trades:
            default = opened.get((acc.id, trade.symbol))
            if default is None:
                continue
            key = (acc.id, trade.symbol, trade_side(acc, trade.order_id, default).value)
            if key in fees:
                fees[key] += trade.fee
    return fees


def _position_result(
    venue: PaperVenue,
    key: PositionKey,
    opened: Mapping[tuple[str, str], Side],
    margins: Mapping[PositionKey, float],
    opening_fees: Mapping[PositionKey, float],
    recorder: _Recorder,
    watch: EquityWatch,
    actions: list[Action],
) -> PositionResult:
    account, symbol, side_name = key
    side = Side(side_name)
    acc = venue.account(account)
    default_side = opened.get((account, symbol), side)
    realized = fees = 0.0
    for trade in acc.trades:
        if trade.symbol != symbol:
            continue
        if trade_side(acc, trade.order_id, default_side) is not side:
            continue
        realized += trade.realized_pnl
        fees += trade.fee
    records = [
        r
        for r in venue.liquidations
        if r.account == account and r.symbol == symbol and r.side == side_name
    ]
    liquidation_fees = sum(r.fee for r in records)
    shortfall = sum(r.shortfall for r in records)
    funding = acc.funding.get((symbol, side), 0.0)
    pos = acc.positions.get((symbol, side))
    unrealized = side.sign * pos.size * (venue.mark_price(symbol) - pos.entry_price) if pos else 0.0
    margin = margins[key]
    opening_fee = opening_fees[key]
    final = (
        margin + opening_fee + realized - fees - funding - liquidation_fees + shortfall + unrealized
    )
    leverage = pos.leverage if pos is not None else venue.leverage_of(acc, symbol)
    mode = pos.margin_mode.value if pos is not None else venue.margin_mode_of(acc, symbol).value
    min_distance = 0.0 if records else recorder.min_distance.get(key)
    min_equity = min(final, watch.position_min.get(key, final))
    actions.sort(key=lambda a: a.time_ms)
    return PositionResult(
        account=account,
        symbol=symbol,
        side=side_name,
        margin_mode=mode,
        leverage=leverage,
        initial_margin=margin,
        opening_fee=opening_fee,
        liquidated=bool(records),
        shortfall=shortfall,
        final_equity=final,
        min_equity=min_equity,
        negative=went_negative(min_equity),
        min_distance_pct=min_distance,
        fees=fees + liquidation_fees,
        funding=funding,
        final_size=pos.size if pos is not None else 0.0,
        actions=tuple(actions),
    )


def _account_result(
    venue: PaperVenue, acc: PaperAccount, start: float, watch: EquityWatch
) -> AccountResult:
    final = account_equity(venue, acc)
    min_equity = min(final, watch.account_min.get(acc.id, final))
    return AccountResult(
        account=acc.id,
        start_equity=start,
        final_equity=final,
        min_equity=min_equity,
        negative=went_negative(min_equity),
    )


def _stop_fills(
    venue: PaperVenue, opened: Mapping[tuple[str, str], Side]
) -> dict[PositionKey, list[Action]]:
    """Every fill of a stop order (the guard's or the bot's), as an action of its position."""
    out: dict[PositionKey, list[Action]] = {}
    for acc in venue.accounts.values():
        for trade in acc.trades:
            order = acc.orders.get(trade.order_id or "")
            if order is None or order.trigger_price is None or trade.liquidation:
                continue
            side = trade_side(acc, trade.order_id, opened[(acc.id, trade.symbol)])
            out.setdefault((acc.id, trade.symbol, side.value), []).append(
                Action(
                    trade.timestamp,
                    "stop_filled",
                    f"stop {order.trigger_price:g} filled {trade.amount:g} at {trade.price:g}",
                    contracts=trade.amount,
                    price=trade.price,
                )
            )
    return out


_INTENT_KINDS = {"reduce": "reduce", "close": "close", "stop": "place_stop"}

ACTION_KINDS = frozenset(
    ("order_intent", "order_sent", "order_failed", "margin_added", "leverage_set", "stop_cancelled")
)
"""The journal entries a run's actions are read from (:func:`_guard_actions`); the guard run's
journal keeps only these (the others, a finding every poll among them, are only counted)."""


def _guard_actions(
    journal: MemoryJournal, opened: Mapping[tuple[str, str], Side]
) -> dict[PositionKey, list[Action]]:
    """The guard's actions from its journal: each order it sent (with its fill), each margin
    transfer, leverage change and stop it cancelled, by position."""
    out: dict[PositionKey, list[Action]] = {}
    sent: dict[str, JournalEntry] = {}
    failed: dict[str, JournalEntry] = {}
    for entry in journal.entries():
        client_id = str(entry.payload.get("client_id", ""))
        if entry.kind == "order_sent":
            sent[client_id] = entry
        elif entry.kind == "order_failed":
            failed[client_id] = entry
    for entry in journal.entries():
        p = entry.payload
        if entry.kind == "order_intent":
            symbol = str(p.get("symbol"))
            side = Side.LONG if p.get("side") == "sell" else Side.SHORT
            key = (entry.account, symbol, side.value)
            client_id = str(p.get("client_id"))
            kind = _INTENT_KINDS.get(str(p.get("kind")), str(p.get("kind")))
            done = sent.get(client_id)
            if done is None:
                why = failed.get(client_id)
                error = str(why.payload.get("error")) if why is not None else "no answer"
                out.setdefault(key, []).append(
                    Action(entry.time_ms, "failed", f"{kind} refused: {error}", rule=_rule(p))
                )
                continue
            average = done.payload.get("average")
            stop_price = p.get("stop_price")
            price = float(average) if average is not None else _float(stop_price)
            contracts = _float(done.payload.get("filled")) or _float(p.get("contracts"))
            detail = str(p.get("reason", ""))
            out.setdefault(key, []).append(
                Action(entry.time_ms, kind, detail, contracts=contracts, price=price, rule=_rule(p))
            )
        elif entry.kind in ("margin_added", "leverage_set", "stop_cancelled"):
            symbol = str(p.get("symbol"))
            side = _entry_side(p, opened, entry.account, symbol)
            kind = {
                "margin_added": "add_margin",
                "leverage_set": "set_leverage",
                "stop_cancelled": "cancel_stop",
            }[entry.kind]
            amount = _float(p.get("amount"))
            if amount is not None:
                detail = f"{amount:,.2f} added to the margin"
            else:
                detail = ", ".join(f"{k}={v}" for k, v in p.items() if k != "figures")
            out.setdefault((entry.account, symbol, side.value), []).append(
                Action(entry.time_ms, kind, detail)
            )
    return out


def _entry_side(
    payload: Mapping[str, Any], opened: Mapping[tuple[str, str], Side], account: str, symbol: str
) -> Side:
    side = payload.get("side")
    if side in ("long", "short"):
        return Side(str(side))
    return opened.get((account, symbol), Side.LONG)


def _rule(payload: Mapping[str, Any]) -> str | None:
    rule = payload.get("rule")
    return str(rule) if rule is not None else None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None else None
    except (TypeError, ValueError):
        return None


def format_time(ms: int) -> str:
    """Epoch ms as ``2020-03-12 10:15:00`` (UTC), for tables and plots."""
    return iso8601(ms)[:19].replace("T", " ")
