"""One chaos episode: a crash window, fake exchanges with faults, a bot, a daemon killed at random.

The fake servers (one per account, over one paper venue), the webhook receiver and the bot share
one event loop in a thread of this process, so the venue is only ever touched from that thread.
The daemon is ``riskguard run`` in a child process (:mod:`tests.chaos.daemon_main`), killed
with SIGKILL after a random uptime and started again after a random pause, until the episode's
time is up. Then the faults stop, the daemon runs a few fault-free cycles and is stopped with
SIGTERM, and :func:`tests.chaos.audit.audit` checks what happened.

The bot trades beside the guard as users' bots do: now and then it buys (or sells) the position
back up to its first size with plain market orders, so the guard keeps having work to do.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import ccxt.async_support as ccxt
from aiohttp import web

from riskguard.domain import Side
from tests.chaos.audit import Findings, audit, dump
from tests.chaos.plan import ChaosPlan, Rates
from tests.chaos.scenario import (
    PREFIX,
    World,
    build_world,
    daemon_config,
    fastest_window,
    keys,
)
from tests.fakes.binance_usdm import FakeBinanceUsdm

T = TypeVar("T")
ROOT = Path(__file__).resolve().parents[2]


@dataclass(frozen=True, slots=True)
class Shape:
    """How long and how rough an episode is."""

    seconds: float = 150.0
    accounts: int = 4
    uptime_s: tuple[float, float] = (4.0, 25.0)
    downtime_s: tuple[float, float] = (0.1, 1.5)
    settle_s: float = 10.0
    poll_s: float = 1.0
    timeout_ms: int = 1500
    rates: Rates = field(default_factory=Rates)


@dataclass(slots=True)
class Episode:
    """What one episode did and found."""

    seed: int
    source: str
    side: str
    move_pct: float
    kills: int = 0
    faults: int = 0
    orders: int = 0
    requests: int = 0
    exits: list[str] = field(default_factory=list)
    """Daemon exits nobody asked for (code and the last line of stderr)."""
    findings: Findings = field(default_factory=Findings)
    folder: Path | None = None


class Loop:
    """An event loop in a thread: the servers, the webhook receiver and the bot live here."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="chaos", daemon=True)
        self.thread.start()

    def run(self, coro: Awaitable[T], timeout: float = 30.0) -> T:
        async def wrap() -> T:
            return await coro

        return asyncio.run_coroutine_threadsafe(wrap(), self.loop).result(timeout)

    def call(self, fn: Callable[[], T]) -> T:
        async def wrap() -> T:
            return fn()

        return self.run(wrap())

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


class Receiver:
    """The webhook the daemon's alerts go to: keeps every JSON body it is sent."""

    def __init__(self) -> None:
        self.bodies: list[dict[str, Any]] = []
        self.runner: web.AppRunner | None = None
        self.url = ""

    async def start(self) -> None:
        app = web.Application()
        app.router.add_post("/hook", self._hook)
        self.runner = web.AppRunner(app, access_log=None, shutdown_timeout=0.5)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self.url = f"http://127.0.0.1:{port}/hook"

    async def _hook(self, request: web.Request) -> web.Response:
        self.bodies.append(json.loads(await request.text()))
        return web.Response(text="ok")

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()


class Bot:
    """Buys a position back to its first size now and then (plain market orders)."""

    def __init__(self, world: World, servers: dict[str, FakeBinanceUsdm], seed: int) -> None:
        self.world = world
        self.servers = servers
        self.rng = random.Random(seed)
        self.first = {a: self._size(a) for a in world.accounts}
        self.orders = 0
        self.stopped = False

    def _size(self, account: str) -> float:
        positions = self.world.setup.venue.account(account).positions
        return sum(p.size for p in positions.values())

    async def run(self) -> None:
        venue = self.world.setup.venue
        side = Side(self.world.window.side)
        while not self.stopped:
            await asyncio.sleep(self.rng.uniform(5.0, 12.0))
            account = self.rng.choice(self.world.accounts)
            if self.stopped or self.rng.random() < 0.3:
                continue
            server = self.servers[account]
            server._sync()
            missing = self.first[account] - self._size(account)
            step = venue.markets[self.world.symbol].amount_step
            if missing < self.first[account] * 0.3 or missing < step:
                continue
            self.orders += 1
            with contextlib.suppress(ccxt.BaseError):  # no margin, market closed: a bot shrugs
                venue.create_order(
                    account,
                    self.world.symbol,
                    "market",
                    "buy" if side is Side.LONG else "sell",
                    round(missing / step) * step,
                    None,
                    client_order_id=f"bot{self.orders}",
                )


def _env(world: World, hook: str) -> dict[str, str]:
    env = {**os.environ, "RG_CHAOS_HOOK": hook, "COLUMNS": "160", "PYTHONUNBUFFERED": "1"}
    env["PYTHONPATH"] = str(ROOT) + os.pathsep + env.get("PYTHONPATH", "")
    for account in world.accounts:
        key, secret = keys(account)
        env[f"RG_CHAOS_KEY_{account.upper()}"] = key
        env[f"RG_CHAOS_SECRET_{account.upper()}"] = secret
    return env


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class Daemon:
    """The daemon as a child process, with the intervals it was up (wall ms)."""

    def __init__(self, config: Path, env: dict[str, str], folder: Path) -> None:
        self.config, self.env, self.folder = config, env, folder
        self.process: subprocess.Popen[bytes] | None = None
        self.started = 0
        self.up: list[tuple[int, int]] = []
        self.starts = 0

    def start(self) -> None:
        self.starts += 1
        out = (self.folder / "daemon.out").open("ab")
        err = (self.folder / "daemon.err").open("ab")
        self.process = subprocess.Popen(  # noqa: S603 - our own CLI
            [sys.executable, "-m", "tests.chaos.daemon_main", "run", str(self.config)],
            env=self.env,
            stdout=out,
            stderr=err,
            cwd=ROOT,
        )
        out.close()
        err.close()
        self.started = _wall_ms()

    def stop(self, sig: int, timeout: float = 30.0) -> int | None:
        process = self.process
        if process is None:
            return None
        if process.poll() is None:
            process.send_signal(sig)
        try:
            code = process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            code = process.wait()
        self.up.append((self.started, _wall_ms()))
        self.process = None
        return code

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def last_error(self) -> str:
        lines = (self.folder / "daemon.err").read_text(errors="replace").strip().splitlines()
        return lines[-1][:300] if lines else ""


def crash_files(shared: Path) -> list[Path]:
    return sorted((shared / "data" / "crashes").glob("*.csv"))


def run_episode(seed: int, shape: Shape, shared: Path, folder: Path) -> Episode:
    """Play one seeded episode in ``folder`` and audit it."""
    rng = random.Random(seed)
    source = rng.choice(crash_files(shared))
    window = fastest_window(source, int(shape.seconds // 60) + 3)
    world = build_world(folder, window, rng, shape.accounts)
    venue = world.setup.venue
    initial = {
        a: sum(
            (1.0 if side is Side.LONG else -1.0) * p.size
            for (_, side), p in venue.account(a).positions.items()
        )
        for a in world.accounts
    }
    step = venue.markets[world.symbol].amount_step
    # The venue's largest market order: about 2/5 of the largest position, so that closing it
    # takes three orders (Binance's MARKET_LOT_SIZE binds on large altcoin positions).
    largest = max(step, round(max(abs(x) for x in initial.values()) / 2.5 / step) * step)
    episode = Episode(seed, source.name, window.side, window.move_pct, folder=folder)
    loop = Loop()
    servers: dict[str, FakeBinanceUsdm] = {}
    plans: list[ChaosPlan] = []
    receiver = Receiver()
    bot: Bot | None = None
    try:
        for i, account in enumerate(world.accounts):
            key, secret = keys(account)
            server = FakeBinanceUsdm(
                venue,
                account,
                world.setup.clock,
                api_key=key,
                secret=secret,
                max_qty=largest * 10,
                max_market_qty=largest,
            )
            plan = ChaosPlan(seed * 1_000 + i, shape.rates)
            server.faults = plan
            plans.append(plan)
            loop.run(server.start())
            servers[account] = server
        loop.run(receiver.start())
        bot = Bot(world, servers, seed + 7)
        bot_task = asyncio.run_coroutine_threadsafe(bot.run(), loop.loop)
        config = daemon_config(
            folder,
            {a: s.base_url for a, s in servers.items()},
            poll_s=shape.poll_s,
            timeout_ms=shape.timeout_ms,
        )
        daemon = Daemon(config, _env(world, receiver.url), folder)
        deadline = time.monotonic() + shape.seconds
        while time.monotonic() < deadline:
            daemon.start()
            up_for = min(rng.uniform(*shape.uptime_s), max(0.0, deadline - time.monotonic()))
            end = time.monotonic() + up_for
            while time.monotonic() < end and daemon.exited() is None:
                time.sleep(0.05)
            code = daemon.exited()
            if code is not None:
                episode.exits.append(f"exit {code}: {daemon.last_error()}")
                daemon.stop(signal.SIGKILL)
            elif time.monotonic() < deadline:
                daemon.stop(signal.SIGKILL)
                episode.kills += 1
            else:
                break
            time.sleep(rng.uniform(*shape.downtime_s))
        bot.stopped = True
        for plan in plans:
            loop.call(lambda p=plan: setattr(p, "enabled", False))  # type: ignore[misc]
        if daemon.process is None:
            daemon.start()
        time.sleep(shape.settle_s)
        code = daemon.stop(signal.SIGTERM, timeout=60)
        if code not in (0, None):
            episode.exits.append(f"exit {code} at the final stop: {daemon.last_error()}")
        bot_task.cancel()
        loop.call(lambda: [s._sync() for s in servers.values()])
        episode.faults = sum(len(s.faults_applied) for s in servers.values())
        episode.requests = sum(len(s.requests) for s in servers.values())
        episode.orders = len(
            {
                r.params.get("newClientOrderId") or r.params.get("clientAlgoId")
                for s in servers.values()
                for r in s.requests
                if r.method == "POST" and r.path in ("/fapi/v1/order", "/fapi/v1/algoOrder")
            }
            - {None}
        )
        episode.findings = loop.call(
            lambda: audit(
                venue=venue,
                servers=servers,
                initial=initial,
                journal_path=folder / "journal.sqlite3",
                webhook_bodies=list(receiver.bodies),
                up=daemon.up,
                wall_of=world.wall_of,
                prefix=PREFIX,
            )
        )
        dump(episode.findings, folder / "findings.json")
    finally:
        if bot is not None:
            bot.stopped = True
        for server in servers.values():
            loop.run(server.stop())
        loop.run(receiver.stop())
        loop.close()
    return episode
