"""CPU cost of the real guard round: 50 paper accounts x 20 positions, whole ``Guard.cycle``.

Times :meth:`riskguard.guard.cycle.Guard.cycle` for every account of one round, run together as
the daemon runs them (one asyncio task per account): fetch from the paper venue (zero latency),
snapshot, learned tails, volatility, evaluation, rules, planner, executor, journal and alerts.
The journal is a :class:`~riskguard.daemon.journal.SqliteJournal` file in a temporary folder at
``synchronous: full`` (the daemon's default); the alert center and its dispatcher are wired as
``riskguard.daemon.wiring.build_runtime`` wires them (no sink: nothing leaves the machine). The
paper venue runs on a virtual clock stepped 15 s a round (the daemon paces it by the wall clock),
so every round sees a new tick of prices and nothing is served from a previous round.

Logs go as the daemon's default sends them (JSON lines at ``info``), to /dev/null.

The books: 20 perpetuals (seeded GBM prices, 5% a day, 4 to 10 Binance-like tiers) and 50
accounts of 20 positions each, long and short, 40% isolated; ``calm`` at 2x to 5x (the first
rounds place the guard's stops, the rounds timed after them have nothing to do) and ``stressed``
at 3x to 20x (the guard reduces or adds margin to a few dozen positions a round).

Prints CPU ms per round (process time: the CPU this process spent, whatever else the machine
ran; the venue's price tick that starts each round, its liquidation checks over every account, is
the exchange's work and is printed apart, not counted in the round) as median and p90 over the
timed rounds, then where a round's time goes, from cProfile over the same rounds: the time spent
inside each part of riskguard when entered from outside it (a part that calls another counts that
time too: the alerts' figure includes the journal writes they make; so the parts add up to more
than the round) and asyncio's own time.
Target: < 50 ms CPU per round.

Run: PYTHONPATH=. .venv/bin/python bench/cycle.py [--rounds 30]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import inspect
import os
import platform
import pstats
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from riskguard.alerts.center import AlertCenter
from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.dispatcher import Dispatcher
from riskguard.clock import VirtualClock
from riskguard.config import GuardConfig
from riskguard.daemon.journal import SqliteJournal
from riskguard.domain import MarginMode
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.observability.logs import configure_logging
from riskguard.paper.config import build_paper, parse_paper_config
from riskguard.paper.exchange import PaperExchange

ACCOUNTS = 50
POSITIONS = 20
WARMUP_ROUNDS = 5
STEP_MS = 15_000
"""Simulated time between rounds: the venue's one-minute bars tick four times a minute."""
TARGET_MS = 50.0

PARTS: tuple[tuple[str, str], ...] = (
    ("paper venue (fetch_*)", "riskguard/paper/"),
    ("reading answers (snapshot, stops, bars)", "riskguard/exchange/"),
    ("risk core (evaluation, stress)", "riskguard/risk/"),
    ("  of which stress_account", "riskguard/risk/shortfall.py:stress_account"),
    ("  of which evaluate_account", "riskguard/risk/evaluation.py:evaluate_account"),
    ("rules", "riskguard/guard/rules/"),
    ("planner", "riskguard/guard/planner/"),
    ("executor and stop watch", "riskguard/guard/enforce/"),
    ("journal (SQLite)", "riskguard/daemon/journal/"),
    ("alerts (hysteresis, outbox)", "riskguard/alerts/"),
    ("logs (structlog, JSON lines to /dev/null)", "/structlog/"),
)


BOOKS: dict[str, tuple[int, ...]] = {
    "calm": (2, 3, 4, 5),
    "stressed": (3, 5, 10, 20),
}
"""The leverages of each book: at 2x to 5x the guard places its stops and then has nothing to
do; at 3x to 20x the shortfall rule reduces or adds margin to a few dozen positions a round."""


def paper_document(leverages: tuple[int, ...], seed: int = 7) -> dict[str, Any]:
    """The ``paper:`` section: 20 markets and 50 accounts of 20 positions each."""
    rng = random.Random(seed)
    rates = [0.004, 0.005, 0.01, 0.025, 0.05, 0.1, 0.125, 0.15, 0.25, 0.5]
    floors = [0, 50_000, 250_000, 1e6, 5e6, 2e7, 5e7, 1e8, 2e8, 5e8]
    markets = []
    symbols = [f"C{i}/USDT:USDT" for i in range(POSITIONS)]
    for i, symbol in enumerate(symbols):
        count = rng.randint(4, 10)
        tiers = [
            {"min_notional": floors[k], "maintenance_margin_rate": rates[k]}
            | ({"max_notional": floors[k + 1]} if k + 1 < count else {})
            for k in range(count)
        ]
        price = rng.uniform(1, 100_000)
        markets.append(
            {
                "symbol": symbol,
                "tiers": tiers,
                "derive_maintenance_amounts": True,
                "amount_step": 1e-6,
                "min_amount": 1e-6,
                "price_tick": 1e-6,
                "feed": {
                    "gbm": {
                        "start_price": price,
                        "daily_volatility_pct": 5,
                        "bars": 240,
                        "seed": seed * 100 + i,
                    }
                },
            }
        )
    accounts = []
    for a in range(ACCOUNTS):
        positions = [
            {
                "symbol": s,
                "side": rng.choice(["long", "short"]),
                "leverage": rng.choice(leverages),
                "margin_mode": "isolated" if rng.random() < 0.4 else "cross",
                "notional": round(rng.uniform(2_000, 60_000), 2),
            }
            for s in symbols
        ]
        accounts.append({"id": f"a{a}", "balance": 600_000, "positions": positions})
    return {
        "venue": "binance",
        "clock": {"mode": "virtual"},
        "markets": markets,
        "accounts": accounts,
    }


class Round:
    """The daemon's pieces around one guard, on a fresh paper venue and journal file."""

    def __init__(self, folder: Path, leverages: tuple[int, ...]) -> None:
        setup = build_paper(parse_paper_config(paper_document(leverages)))
        clock = setup.clock
        if not isinstance(clock, VirtualClock):
            raise TypeError("the bench needs the paper venue's virtual clock")
        self.clock = clock
        self.journal = SqliteJournal(folder / "journal.sqlite3", synchronous="full")
        policy = AlertingConfig()
        self.dispatcher = Dispatcher(self.journal, [], policy, now_ms=clock.now_ms)
        center = AlertCenter(
            self.journal, [], policy, now_ms=clock.now_ms, on_queued=self.dispatcher.wake
        )
        self.guard = Guard(
            GuardConfig(),
            build_rules(default_rule_configs()),
            journal=self.journal,
            clock=clock,
            alert=center.alert_fn(),
            conditions=center.conditions,
            record=center.record,
        )
        self.venue_cpu_s = 0.0
        """CPU spent inside the paper venue's calls: on a live venue it is the exchange's."""
        self.tick_cpu_s = 0.0
        """CPU of the venue's price tick between rounds (its liquidation checks): the exchange's
        work, not the guard's cycle, so it is kept out of the round and printed apart."""
        self.accounts = [
            GuardAccount(
                account=f"a{a}",
                port=self._timed(setup.client(f"a{a}", label="guard")),
                exchange_id="paper",
                venue="binance",
                default_margin_mode=MarginMode.ISOLATED,
            )
            for a in range(ACCOUNTS)
        ]

    def _timed(self, port: PaperExchange) -> PaperExchange:
        """``port`` with each public call adding the CPU it takes to :attr:`venue_cpu_s` (the
        calls answer without waiting, so the CPU between their start and end is theirs)."""
        for name in dir(port):
            method = getattr(port, name)
            if name.startswith("_") or not inspect.iscoroutinefunction(method):
                continue

            async def timed(*args: Any, _method: Any = method, **kwargs: Any) -> Any:
                started = time.process_time()
                try:
                    return await _method(*args, **kwargs)
                finally:
                    self.venue_cpu_s += time.process_time() - started

            setattr(port, name, timed)
        return port

    async def run(self) -> int:
        """One round: every account's cycle at once; the number of steps the guard took."""
        started = time.process_time()
        self.clock.advance_to(self.clock.now_ms() + STEP_MS)
        self.tick_cpu_s += time.process_time() - started
        reports = await asyncio.gather(*(self.guard.cycle(a) for a in self.accounts))
        if not all(r.actionable for r in reports):
            stale = [r.error for r in reports if not r.actionable]
            raise RuntimeError(f"a cycle was stale: {stale[0]}")
        return sum(len(r.outcomes) for r in reports)


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def _where(func: tuple[str, int, str]) -> str:
    filename, _, name = func
    path = filename.replace("\\", "/")
    cut = path.rfind("riskguard/")
    return f"{path[cut:]}:{name}" if cut >= 0 else f"{path}:{name}"


def breakdown(stats: pstats.Stats, rounds: int) -> list[tuple[str, float]]:
    """ms per round inside each part, entered from outside it; asyncio's own time last."""
    table: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    out = []
    for label, prefix in PARTS:
        total = 0.0
        for func, (_, _, _, cumulative, callers) in table.items():
            if prefix not in _where(func):
                continue
            if ":" in prefix:
                total += cumulative
                continue
            for caller, figures in callers.items():
                if prefix not in _where(caller):
                    total += figures[3]
        out.append((label, total * 1000 / rounds))
    own = sum(
        tottime
        for func, (_, _, tottime, _, _) in table.items()
        if "/asyncio/" in func[0] or func[0].endswith("selectors.py")
    )
    out.append(("asyncio's own time (loop, tasks, gather)", own * 1000 / rounds))
    return out


async def measure(book: str, rounds: int) -> float:
    with tempfile.TemporaryDirectory() as folder:
        bench = Round(Path(folder), BOOKS[book])
        for _ in range(WARMUP_ROUNDS):
            await bench.run()
        cpu_ms = []
        guard_ms = []
        tick_ms = []
        steps = 0
        for _ in range(rounds):
            bench.venue_cpu_s = 0.0
            bench.tick_cpu_s = 0.0
            started = time.process_time()
            steps += await bench.run()
            tick_ms.append(bench.tick_cpu_s * 1000)
            cpu_ms.append((time.process_time() - started) * 1000 - tick_ms[-1])
            guard_ms.append(cpu_ms[-1] - bench.venue_cpu_s * 1000)
        profile = cProfile.Profile()
        profile.enable()
        for _ in range(rounds):
            await bench.run()
        profile.disable()
        bench.journal.close()
    positions = ACCOUNTS * POSITIONS
    median = statistics.median(cpu_ms)
    p90 = _percentile(cpu_ms, 0.9)
    print(
        f"[{book} book, {min(BOOKS[book])}x to {max(BOOKS[book])}x] {ACCOUNTS} accounts x "
        f"{POSITIONS} positions ({positions}), {rounds} rounds after {WARMUP_ROUNDS} warm-up "
        f"rounds, {steps} guard steps in the timed rounds"
    )
    print(f"  CPU per round: median {median:.1f} ms, p90 {p90:.1f} ms, min {min(cpu_ms):.1f} ms")
    print(
        f"  of it outside the paper venue's calls (the guard's own): median "
        f"{statistics.median(guard_ms):.1f} ms, p90 {_percentile(guard_ms, 0.9):.1f} ms"
    )
    print(f"  CPU per account cycle (median round / {ACCOUNTS}): {median / ACCOUNTS * 1000:.0f} us")
    print(
        f"  apart: the venue's price tick before each round (not in the round): median "
        f"{statistics.median(tick_ms):.1f} ms"
    )
    print(
        "  where a round goes (cProfile, ms per round; profiling slows every call; the paper "
        "venue's part includes its tick):"
    )
    for label, ms in breakdown(pstats.Stats(profile), rounds):
        print(f"    {label:<44} {ms:8.1f}")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=30, help="timed rounds (default 30)")
    parser.add_argument("--book", choices=[*BOOKS, "both"], default="both")
    args = parser.parse_args()
    import riskguard

    print(f"Python {sys.version.split()[0]} on {platform.platform()}")
    print(f"riskguard from {Path(riskguard.__file__).parent}")
    with open(os.devnull, "w") as sink:
        configure_logging(json=True, level="info", stream=sink)
        books = list(BOOKS) if args.book == "both" else [args.book]
        medians = {book: asyncio.run(measure(book, args.rounds)) for book in books}
    for book, median in medians.items():
        verdict = "PASS" if median < TARGET_MS else "MISS"
        print(
            f"{verdict} ({book}): median {median:.1f} ms CPU per round (target < {TARGET_MS:g} ms)"
        )


if __name__ == "__main__":
    main()
