"""How many accounts one daemon process keeps fresh, and its memory with 50 accounts.

What is measured: the real daemon (``build_runtime`` + ``Daemon.run``, APScheduler interval jobs,
the built-in rules, the SQLite journal, Prometheus metrics, structlog at ``info`` as JSON lines
to ``os.devnull``) guarding N paper accounts on one paper venue, in one process, in wall time:

- every account is polled every second (``poll_interval_s: 1``, paced paper clock at speed 1);
- every exchange call costs 50 ms of wall time (``faults.methods["*"].latency_ms``: fixed 50 ms,
  half slept before the call and half after, ``asyncio.sleep`` on the paced clock); a steady
  cycle makes two rounds of calls (balance and positions together, then the open orders of each
  held symbol together), so the data is ~100 ms old when it arrives;
- the journal is a SQLite file in a temporary folder with ``synchronous: full`` (the config's
  default: every commit fsynced) unless ``--synchronous normal``. The daemon's journal commits
  on its writer thread, many writes per commit (``--journal writer``, the default:
  :class:`~riskguard.daemon.journal.GroupCommitJournal`); ``--journal direct`` runs the same
  daemon on :class:`~riskguard.daemon.journal.SqliteJournal`, which commits each write on the
  event loop (how the daemon journalled before issue 17), as the reference in the same session;
- each account holds 1 to 3 positions at 2-5x on three markets (GBM, 1-minute bars), isolated or
  cross, so the rules look at every position but rarely act (the steady state);
- after a warm-up, a concurrent task samples every account's **data age** every 100 ms:
  ``guard.clock.now_ms() - acct.last_good_ms`` on the paper clock (never fetched = infinite).
  ``last_good_ms`` is stamped when the fetch returns, so on schedule the age climbs to the poll
  interval (1 s) and drops back; its 99th percentile stays under 1.5 s only while the cycles
  keep up with the schedule (late starts and a busy event loop add to it).

Figures per N: data age p50 / p99 / max, cycles per second achieved against N expected, CPU (process
time / wall time, 100% = one core, the writer thread included), event-loop lag (how late a 100 ms
sleep wakes), APScheduler's skipped runs (missed or still running), journal commits per second (one
fsync each with ``synchronous: full``) and per commit the writes (appends, state saves, outbox rows)
and the entries, the peak RSS, and the machine's 1-minute load average at the end (other processes
on the machine take cores from the daemon: a row measured under load undercounts what one process
keeps). Each N runs in a fresh subprocess (the script calls itself with ``--child``), so
``ru_maxrss`` is that configuration's own peak. The answer is the largest N with p99 < 1.5 s (target
>= 1,000): a ladder of N up to the first miss, then a bisection between the last pass and the first
miss.

The paper venue runs in the same process (ticks, liquidation checks, order books), so its CPU
counts against the guard here; a live deployment pays ccxt's parsing and HTTP instead. Run with
``--profile N`` to see where one N's time goes (cProfile, top functions by cumulative and own
time).

Run: .venv/bin/python bench/scale.py            # full: 5 to 10 minutes
     .venv/bin/python bench/scale.py --quick    # about 2 minutes
     .venv/bin/python bench/scale.py --synchronous normal
     .venv/bin/python bench/scale.py --compare 100,200  # each N committing on the loop, then not
     .venv/bin/python bench/scale.py --profile 500
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import io
import json
import logging
import math
import os
import platform
import pstats
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

AGE_TARGET_S = 1.5
ACCOUNT_TARGET = 1_000
RSS_TARGET_MB = 300.0
RSS_ACCOUNTS = 50
MARKETS = (
    # symbol, start price, amount step, maintenance margin rate of the first tier
    ("BTC/USDT:USDT", 100_000.0, 0.001, 0.004),
    ("ETH/USDT:USDT", 3_500.0, 0.01, 0.005),
    ("SOL/USDT:USDT", 150.0, 0.1, 0.01),
)


# ---------------------------------------------------------------------------- the config


def make_config(
    folder: Path,
    accounts: int,
    *,
    run_s: float,
    latency_ms: float = 50.0,
    synchronous: str = "normal",
    seed: int = 7,
) -> Path:
    """Write a riskguard config with ``accounts`` paper accounts on one venue; its path."""
    rng = random.Random(seed)
    bars = math.ceil(run_s / 60) + 30  # 1-minute bars, half an hour more than the run
    markets = []
    for i, (symbol, price, step, mmr) in enumerate(MARKETS):
        markets.append(
            {
                "symbol": symbol,
                "tiers": [
                    {"min_notional": 0, "max_notional": 250_000, "maintenance_margin_rate": mmr},
                    {"min_notional": 250_000, "maintenance_margin_rate": mmr * 2.5},
                ],
                "amount_step": step,
                "min_amount": step,
                "feed": {
                    "gbm": {
                        "start_price": price,
                        "daily_volatility_pct": 3,
                        "bars": bars,
                        "bar_s": 60,
                        "seed": seed + i,
                    }
                },
            }
        )
    paper_accounts = []
    for a in range(accounts):
        positions = []
        for symbol, _price, _step, _mmr in rng.sample(MARKETS, rng.randint(1, 3)):
            positions.append(
                {
                    "symbol": symbol,
                    "side": rng.choice(["long", "short"]),
                    "leverage": rng.choice([2, 3, 5]),
                    "margin_mode": rng.choice(["isolated", "cross"]),
                    "notional": rng.choice([2_000, 5_000, 10_000]),
                }
            )
        paper_accounts.append({"id": f"acct{a:04d}", "balance": 20_000, "positions": positions})
    document = {
        "accounts": [{"id": p["id"], "exchange": "paper"} for p in paper_accounts],
        "guard": {"poll_interval_s": 1},
        "journal": {"path": str(folder / "journal.sqlite3"), "synchronous": synchronous},
        "metrics": {"enabled": False},  # the metrics are kept (GuardMetrics), not served
        "logging": {"level": "info"},
        "paper": {
            "venue": "binance",
            "clock": {"mode": "paced", "speed": 1},
            "markets": markets,
            "accounts": paper_accounts,
            "faults": {"methods": {"*": {"latency_ms": {"kind": "fixed", "ms": latency_ms}}}},
        },
    }
    path = folder / "scale.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


# ---------------------------------------------------------------------------- one measurement


class _SkipCounter(logging.Handler):
    """Counts APScheduler's skipped runs (late beyond the grace, or the previous still running)."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.missed = 0
        self.busy = 0

    def emit(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if "was missed by" in message:
            self.missed += 1
        elif "maximum number of running instances" in message:
            self.busy += 1


def _percentile(values: list[float], q: float) -> float:
    if not values:
        return math.nan
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


class _CountedJournal:
    """Builds the ``--journal direct`` reference: SQLite committing on the loop, commits counted."""

    @staticmethod
    def open(path: Path, synchronous: str) -> Any:
        from riskguard.daemon.journal import SqliteJournal

        class Counted(SqliteJournal):
            commits = 0

            def _write(self, action: Any) -> None:
                super()._write(action)
                self.commits += 1

            def totals(self) -> tuple[int, int, int]:
                return self.commits, self.commits, self._last_seq

        return Counted(path, synchronous=synchronous)  # type: ignore[arg-type]


def _journal_totals(journal: Any) -> tuple[int, int, int]:
    """(commits, writes, entries) the journal has committed so far."""
    stats = getattr(journal, "stats", None)
    if stats is not None:
        got = stats()
        return got.commits, got.writes, got.entries
    return journal.totals()  # type: ignore[no-any-return]


async def _measure(
    config_path: Path,
    *,
    warmup_s: float,
    duration_s: float,
    journal_kind: str = "writer",
    synchronous: str = "full",
    profiler: cProfile.Profile | None = None,
) -> dict[str, Any]:
    from riskguard.daemon.metrics import GuardMetrics
    from riskguard.daemon.scheduler import Daemon
    from riskguard.daemon.wiring import build_runtime
    from riskguard.observability.logs import configure_logging

    devnull = open(os.devnull, "w", encoding="utf-8")  # noqa: SIM115 - closed below
    configure_logging(json=True, level="info", stream=devnull)
    skips = _SkipCounter()
    logging.getLogger("apscheduler").addHandler(skips)
    built = time.perf_counter()
    journal = None
    if journal_kind == "direct":
        journal = _CountedJournal.open(config_path.parent / "journal.sqlite3", synchronous)
    runtime = build_runtime(config_path, journal=journal)
    build_s = time.perf_counter() - built
    daemon = Daemon(runtime, metrics=GuardMetrics())
    accounts = runtime.accounts
    clocks = [runtime.guards[a.account].clock for a in accounts]
    ages: list[float] = []
    lags: list[float] = []
    window: dict[str, float] = {}

    async def sample() -> None:
        await asyncio.sleep(warmup_s)
        window["cycles0"] = sum(r.cycles for r in daemon.runs.values())
        window["commits0"], window["writes0"], window["entries0"] = _journal_totals(runtime.journal)
        window["cpu0"] = time.process_time()
        window["wall0"] = time.perf_counter()
        skips.missed = skips.busy = 0
        if profiler is not None:
            profiler.enable()
        deadline = window["wall0"] + duration_s
        while True:
            for acct, clock in zip(accounts, clocks, strict=True):
                last = acct.last_good_ms
                ages.append(math.inf if last is None else (clock.now_ms() - last) / 1000.0)
            asked = time.perf_counter()
            if asked >= deadline:
                break
            await asyncio.sleep(0.1)
            lags.append(time.perf_counter() - asked - 0.1)
        if profiler is not None:
            profiler.disable()
        window["cycles1"] = sum(r.cycles for r in daemon.runs.values())
        window["commits1"], window["writes1"], window["entries1"] = _journal_totals(runtime.journal)
        window["cpu1"] = time.process_time()
        window["wall1"] = time.perf_counter()
        daemon.request_stop("bench window over")

    sampler = asyncio.create_task(sample())
    await daemon.run(run_for_s=warmup_s + duration_s + 30, handle_signals=False)
    await sampler
    devnull.close()
    wall = window["wall1"] - window["wall0"]
    cycles = window["cycles1"] - window["cycles0"]
    commits = window["commits1"] - window["commits0"]
    writes = window["writes1"] - window["writes0"]
    entries = window["entries1"] - window["entries0"]
    return {
        "accounts": len(accounts),
        "journal": journal_kind,
        "build_s": build_s,
        "age_p50_s": _percentile(ages, 0.50),
        "age_p99_s": _percentile(ages, 0.99),
        "age_max_s": max(ages, default=math.nan),
        "cycles_per_s": cycles / wall,
        "cpu_pct": 100 * (window["cpu1"] - window["cpu0"]) / wall,
        "lag_p99_ms": 1000 * _percentile(lags, 0.99),
        "lag_max_ms": 1000 * max(lags, default=math.nan),
        "commits_per_s": commits / wall,
        "writes_per_commit": writes / commits if commits else math.nan,
        "entries_per_commit": entries / commits if commits else math.nan,
        "skipped": skips.missed + skips.busy,
        "errors": sum(1 for r in daemon.runs.values() if r.stopped),
        "fetch_ms": 1000 * statistics.median(a.latency_s or math.nan for a in accounts),
        "maxrss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "load": os.getloadavg()[0],
    }


def run_child(args: argparse.Namespace) -> None:
    """One N in this process: print one JSON line of figures."""
    with tempfile.TemporaryDirectory(prefix="rg-scale-") as tmp:
        run_s = args.warmup + args.duration + 60
        path = make_config(
            Path(tmp),
            args.accounts,
            run_s=run_s,
            latency_ms=args.latency_ms,
            synchronous=args.synchronous,
        )
        result = asyncio.run(
            _measure(
                path,
                warmup_s=args.warmup,
                duration_s=args.duration,
                journal_kind=args.journal,
                synchronous=args.synchronous,
            )
        )
    print(json.dumps(result))


def measure_in_subprocess(
    accounts: int, args: argparse.Namespace, journal: str | None = None
) -> dict[str, Any]:
    """Run one N in a fresh interpreter (its own peak RSS); its figures."""
    command = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--child",
        "--accounts",
        str(accounts),
        "--warmup",
        str(args.warmup),
        "--duration",
        str(args.duration),
        "--latency-ms",
        str(args.latency_ms),
        "--synchronous",
        args.synchronous,
        "--journal",
        journal or args.journal,
    ]
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise SystemExit(f"bench child for {accounts} accounts failed:\n{done.stderr[-3000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


# ---------------------------------------------------------------------------- reporting


def _row(r: dict[str, Any]) -> str:
    ok = "yes" if r["age_p99_s"] < AGE_TARGET_S else "**no**"
    return (
        f"| {r['accounts']:>5} | {r['journal']} | {r['age_p50_s']:6.2f} | {r['age_p99_s']:6.2f} | "
        f"{r['age_max_s']:6.2f} | {r['cycles_per_s']:7.1f} | {r['cpu_pct']:5.0f}% | "
        f"{r['lag_p99_ms']:7.0f} | {r['lag_max_ms']:7.0f} | {r['skipped']:>7} | "
        f"{r['commits_per_s']:7.1f} | {r['writes_per_commit']:6.2f} | "
        f"{r['entries_per_commit']:6.2f} | {r['maxrss_mb']:7.0f} | "
        f"{r['load']:4.1f} | {ok} |"
    )


HEADER = (
    "| accounts | journal | age p50 s | age p99 s | age max s | cycles/s | CPU "
    "| loop lag p99 ms | loop lag max ms | skipped | commits/s | writes/commit | entries/commit "
    "| peak RSS MB | load 1 min | p99 < 1.5 s |\n"
    "|---:|:---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|:---:|"
)


_JOURNALS = {
    "writer": "the daemon's writer thread (group commit)",
    "direct": "each write on the event loop (the pre-issue-17 reference)",
}


def _machine() -> str:
    return (
        f"Python {sys.version.split()[0]} on {platform.platform()}, "
        f"{os.cpu_count()} CPUs ({platform.processor() or platform.machine()}), "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )


def search(args: argparse.Namespace) -> None:
    print("# riskguard scale bench: accounts per process at 1 s polls, 50 ms per exchange call")
    print(_machine())
    print(
        f"window {args.duration:g} s after a {args.warmup:g} s warm-up; journal SQLite "
        f"synchronous={args.synchronous}, committed by {_JOURNALS[args.journal]}; "
        f"ladder {', '.join(map(str, args.ladder))}"
    )
    print()
    print(HEADER, flush=True)
    results: dict[int, dict[str, Any]] = {}

    def run(n: int) -> bool:
        results[n] = measure_in_subprocess(n, args)
        print(_row(results[n]), flush=True)
        return bool(results[n]["age_p99_s"] < AGE_TARGET_S)

    best, worst = 0, None
    for n in args.ladder:
        if run(n):
            best = n
        else:
            worst = n
            break
    steps = 0
    while worst is not None and steps < args.bisect and worst - best > max(10, best // 20):
        middle = (best + worst) // 2
        if run(middle):
            best = middle
        else:
            worst = middle
        steps += 1
    print()
    if worst is None:
        print(f"largest N with p99 data age < {AGE_TARGET_S:g} s: >= {best} (ladder exhausted)")
    else:
        print(f"largest N with p99 data age < {AGE_TARGET_S:g} s: {best} (missed at {worst})")
    verdict = "PASS" if best >= ACCOUNT_TARGET else "MISS"
    print(f"{verdict}: {best} accounts kept fresh (target >= {ACCOUNT_TARGET})")
    memory = results.get(args.rss_accounts) or measure_in_subprocess(args.rss_accounts, args)
    rss = memory["maxrss_mb"]
    verdict = "PASS" if rss < RSS_TARGET_MB else "MISS"
    print(
        f"{verdict}: peak RSS with {args.rss_accounts} accounts on one exchange {rss:.0f} MB "
        f"(target < {RSS_TARGET_MB:g} MB; ru_maxrss of a fresh process)"
    )


def compare(args: argparse.Namespace) -> None:
    """Each N of ``--compare`` with the journal committing on the loop, then on its writer."""
    print("# riskguard scale bench: the journal on the event loop vs on its writer thread")
    print(_machine())
    print(
        f"window {args.duration:g} s after a {args.warmup:g} s warm-up; journal SQLite "
        f"synchronous={args.synchronous}; each N runs direct, then writer"
    )
    print()
    print(HEADER, flush=True)
    for n in args.compare:
        for journal in ("direct", "writer"):
            print(_row(measure_in_subprocess(n, args, journal)), flush=True)


def _component(filename: str, function: str) -> str:
    """Which part of the process a profiled function belongs to (for the own-time summary)."""
    path = filename.replace(os.sep, "/")
    if "/riskguard/" in path:
        inner = path.rsplit("/riskguard/", 1)[1]
        parts = inner.split("/")
        if parts[0] in ("risk", "rules", "paper", "enforce", "exchange", "observability"):
            return f"riskguard.{parts[0]}"
        return f"riskguard.{parts[0].removesuffix('.py')}"
    for name in ("apscheduler", "structlog", "prometheus_client", "ccxt", "yaml", "pydantic"):
        if f"/{name}/" in path:
            return name
    if "/asyncio/" in path or function.startswith("<method 'run' of '_contextvars"):
        return "asyncio (event loop)"
    if "/logging/" in path:
        return "logging (stdlib)"
    if "/json/" in path or "_json" in function:
        return "json"
    if "sqlite3" in path or "sqlite3" in function:
        return "sqlite3"
    if filename == "~":
        return f"builtins ({function.split(' of ', maxsplit=1)[0].strip('<>')})"
    return "other"


def profile(args: argparse.Namespace) -> None:
    """cProfile the measured window of one N in this process; print where the time goes."""
    print(f"# cProfile of {args.profile} accounts, {args.duration:g} s window (profiled: slower)")
    print(_machine())
    with tempfile.TemporaryDirectory(prefix="rg-scale-") as tmp:
        path = make_config(
            Path(tmp),
            args.profile,
            run_s=args.warmup + args.duration + 60,
            latency_ms=args.latency_ms,
            synchronous=args.synchronous,
        )
        profiler = cProfile.Profile()
        result = asyncio.run(
            _measure(
                path,
                warmup_s=args.warmup,
                duration_s=args.duration,
                journal_kind=args.journal,
                synchronous=args.synchronous,
                profiler=profiler,
            )
        )
    print(HEADER)
    print(_row(result))
    stats = pstats.Stats(profiler)
    raw: dict[tuple[str, int, str], tuple[Any, ...]] = stats.stats  # type: ignore[attr-defined]
    own: dict[str, float] = {}
    for (filename, _line, function), (_cc, _nc, tottime, _ct, _callers) in raw.items():
        key = _component(filename, function)
        own[key] = own.get(key, 0.0) + tottime
    total = sum(own.values())
    print(f"\n## own time by component ({total:.2f} s profiled)\n")
    print("| component | own s | share |\n|---|---:|---:|")
    for key, seconds in sorted(own.items(), key=lambda kv: -kv[1]):
        if seconds / total >= 0.005:
            print(f"| {key} | {seconds:.2f} | {100 * seconds / total:.1f}% |")
    for order in ("cumulative", "tottime"):
        out = io.StringIO()
        pstats.Stats(profiler, stream=out).strip_dirs().sort_stats(order).print_stats(args.top)
        body = out.getvalue()
        print(f"\n## top {args.top} by {order}\n")
        print(body[body.index("ncalls") :] if "ncalls" in body else body)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="shorter windows, coarser ladder")
    parser.add_argument("--duration", type=float, help="measured seconds per N (default 20)")
    parser.add_argument("--warmup", type=float, help="seconds before measuring (default 5)")
    parser.add_argument(
        "--ladder",
        type=lambda s: [int(x) for x in s.split(",")],
        help="account counts to try in order, comma-separated, up to the first miss",
    )
    parser.add_argument("--bisect", type=int, help="bisection steps after the first miss")
    parser.add_argument("--latency-ms", type=float, default=50.0, help="per exchange call")
    parser.add_argument("--synchronous", choices=("normal", "full"), default="full")
    parser.add_argument(
        "--journal",
        choices=tuple(_JOURNALS),
        default="writer",
        help="writer: the daemon's group-commit journal; direct: commits on the loop (reference)",
    )
    parser.add_argument(
        "--rss-accounts", type=int, default=RSS_ACCOUNTS, help="accounts for the memory figure"
    )
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile N accounts instead")
    parser.add_argument(
        "--compare",
        type=lambda s: [int(x) for x in s.split(",")],
        help="instead of the search: these N, each with --journal direct then writer",
    )
    parser.add_argument("--top", type=int, default=30, help="functions shown by --profile")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--accounts", type=int, default=RSS_ACCOUNTS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    quick = args.quick
    if args.duration is None:
        args.duration = 8.0 if quick else 20.0
    if args.warmup is None:
        args.warmup = 3.0 if quick else 5.0
    if args.ladder is None:
        args.ladder = [50, 200, 500, 1000] if quick else [50, 100, 200, 350, 500, 700, 1000, 1400]
    if args.bisect is None:
        args.bisect = 0 if quick else 3
    return args


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.child:
        run_child(args)
    elif args.profile:
        profile(args)
    elif args.compare:
        compare(args)
    else:
        search(args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        main()
