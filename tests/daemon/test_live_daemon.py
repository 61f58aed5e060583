"""The daemon against a real ccxt ``binanceusdm`` client talking to the fake Binance server.

The fake (``tests/fakes/binance_usdm.py``) runs in a thread of the test process over a paper
venue; the daemon runs as a separate process, configured like a user would (exchange id,
``ccxt_config`` with the URLs, keys named by environment variables), so ccxt signs and parses
every request. This is how the daemon survives SIGKILL mid-request and keeps its keys secret.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import ccxt
import pytest
import yaml
from structlog.testing import capture_logs

from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.scheduler import Daemon
from riskguard.daemon.wiring import build_runtime
from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config
from tests.fakes.binance_usdm import FakeBinanceUsdm, point_client_at

API_KEY = "rgLiveDaemonKey7Qx2Vb9Lm4Np8Rt1Zc6Hd3Jk5Wf0Sg2Ty7Ua9Ie4Ob1Pc8Xn"
SECRET = "rgLiveDaemonSecret3Mv8Kq1Bz6Wd4Hn9Jt2Lc7Xr5Fy0Ps3Ga8Ue1Oi6Tk4Q"
ENV = {"RG_TEST_KEY": API_KEY, "RG_TEST_SECRET": SECRET}


def _paper_now(leverage: float) -> PaperSetup:
    """A paper venue whose prices start now (wall time), one BTC long for account ``main``."""
    start = datetime.fromtimestamp(time.time() // 60 * 60, UTC)
    config = parse_paper_config(
        {
            "venue": "binance",
            "clock": {"mode": "paced", "speed": 1},
            "markets": [
                {
                    "symbol": "BTC/USDT:USDT",
                    "maintenance_margin_rate": 0.004,
                    "amount_step": 0.001,
                    "min_amount": 0.001,
                    "feed": {
                        "gbm": {
                            "start_price": 100000,
                            "daily_volatility_pct": 1,
                            "bars": 240,
                            "seed": 4,
                            "start": start.isoformat(),
                        }
                    },
                }
            ],
            "accounts": [
                {
                    "id": "main",
                    "balance": 10000,
                    "positions": [
                        {
                            "symbol": "BTC/USDT:USDT",
                            "side": "long",
                            "leverage": leverage,
                            "margin_mode": "isolated",
                            "notional": 20000,
                        }
                    ],
                }
            ],
        }
    )
    return build_paper(config)


@pytest.fixture
def exchange() -> Iterator[tuple[FakeBinanceUsdm, str]]:
    setup = _paper_now(leverage=5)
    server = FakeBinanceUsdm(setup.venue, "main", setup.clock, api_key=API_KEY, secret=SECRET)
    base = server.start_in_thread()
    try:
        yield server, base
    finally:
        server.stop_thread()


def _daemon_config(folder: Path, base_url: str, **extra: Any) -> Path:
    probe = ccxt.binanceusdm()
    point_client_at(probe, base_url)
    document: dict[str, Any] = {
        "accounts": [
            {
                "id": "main",
                "exchange": "binanceusdm",
                "api_key_env": "RG_TEST_KEY",
                "secret_env": "RG_TEST_SECRET",
                "ccxt_config": {
                    "urls": {"api": dict(probe.urls["api"])},
                    "options": {"fetchCurrencies": False},
                    "timeout": 5000,
                    **extra.pop("ccxt", {}),
                },
            }
        ],
        "guard": {"poll_interval_s": 1},
        "journal": {"path": str(folder / "journal.sqlite3")},
        "metrics": {"enabled": False},
        "logging": {"level": extra.pop("level", "info"), "json_lines": True},
        **extra,
    }
    path = folder / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path


def _riskguard(*args: str) -> list[str]:
    return [sys.executable, "-m", "riskguard", *args]


def _env() -> dict[str, str]:
    return {**os.environ, **ENV, "COLUMNS": "160"}


def _orders(server: FakeBinanceUsdm) -> list[Any]:
    return server.call(lambda: list(server.venue.account("main").orders.values()))


def test_sigkill_mid_request_then_restart_sends_no_duplicate_and_finds_its_stop(
    tmp_path: Path, exchange: tuple[FakeBinanceUsdm, str]
) -> None:
    server, base = exchange
    config = _daemon_config(tmp_path, base)
    # The exchange takes the guard's stop order, and the daemon dies before hearing back.
    hold = server.hold_next(
        lambda method, path, _p: method == "POST" and path.endswith("algoOrder")
    )
    process = subprocess.Popen(  # noqa: S603 - our own CLI
        _riskguard("run", str(config)), env=_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE
    )
    try:
        assert hold.applied.wait(60), "the daemon never sent its stop"
        os.kill(process.pid, signal.SIGKILL)
        process.communicate(timeout=30)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate()
        hold.release()
    assert process.returncode == -signal.SIGKILL
    journal_path = tmp_path / "journal.sqlite3"
    with SqliteJournal(journal_path, readonly=True) as journal:
        (intent,) = [e for e in journal.entries(kind="order_intent") if e.payload["kind"] == "stop"]
        stop_id = intent.payload["client_id"]
        assert [o.client_id for o in journal.pending_orders()] == [stop_id]
        assert not journal.entries(kind="order_sent")
    stops = [o for o in _orders(server) if o.client_order_id == stop_id]
    assert len(stops) == 1
    assert stops[0].status == "open"

    again = subprocess.run(  # noqa: S603 - our own CLI
        _riskguard("run", str(config), "--once"),
        env=_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert again.returncode == 0, again.stderr.decode()[-2000:]
    with SqliteJournal(journal_path, readonly=True) as journal:
        assert [e.kind for e in journal.entries(kind="start")] == ["start", "start"]
        found = journal.entries(kind="order_found")
        assert [(e.payload["client_id"], e.payload["after"]) for e in found] == [
            (stop_id, "restart")
        ]
        assert journal.pending_orders() == []
        stop_intents = [
            e for e in journal.entries(kind="order_intent") if e.payload["kind"] == "stop"
        ]
        assert len(stop_intents) == 1  # the restarted guard recognised its stop
    orders = _orders(server)
    client_ids = [o.client_order_id for o in orders if o.client_order_id]
    assert len(client_ids) == len(set(client_ids))
    assert [o.client_order_id for o in orders if o.stop_loss and o.status == "open"] == [stop_id]


def _secret_free(text: str, where: str) -> None:
    assert API_KEY not in text, f"API key in {where}"
    assert SECRET not in text, f"secret in {where}"


def test_keys_from_the_environment_never_reach_logs_journal_or_output(
    tmp_path: Path, exchange: tuple[FakeBinanceUsdm, str]
) -> None:
    server, base = exchange
    # ccxt's verbose mode prints every request with its headers (the API key among them).
    config = _daemon_config(tmp_path, base, ccxt={"verbose": True}, level="debug")

    done = subprocess.run(  # noqa: S603 - our own CLI
        _riskguard("run", str(config), "--once"),
        env=_env(),
        capture_output=True,
        timeout=120,
        check=False,
    )

    assert done.returncode == 0, done.stderr.decode()[-2000:]
    stderr = done.stderr.decode()
    assert "X-MBX-APIKEY" in stderr  # the verbose request log is there, key masked
    _secret_free(stderr, "stderr")
    _secret_free(done.stdout.decode(), "stdout")
    for path in tmp_path.glob("journal.sqlite3*"):
        raw = path.read_bytes()
        assert API_KEY.encode() not in raw
        assert SECRET.encode() not in raw
    assert any(r.api_key == API_KEY for r in server.requests)


def test_keys_never_appear_in_captured_events_errors_or_reprs(
    tmp_path: Path, exchange: tuple[FakeBinanceUsdm, str]
) -> None:
    server, base = exchange
    config = _daemon_config(tmp_path, base)
    alerts: list[str] = []
    runtime = build_runtime(
        config, alert=lambda _l, message, payload: alerts.append(f"{message} {payload}"),
        environ=ENV,
    )  # fmt: skip
    daemon = Daemon(runtime, alert=lambda *_: None)
    reprs = [repr(runtime), repr(runtime.accounts[0]), repr(runtime.accounts[0].port)]

    with capture_logs() as events:
        asyncio.run(daemon.run_once())

    for text in reprs:
        _secret_free(text, "repr")
    for event in events:
        _secret_free(repr(event), f"log event {event.get('event')}")
    for text in alerts:
        _secret_free(text, "alert")
    with SqliteJournal(tmp_path / "journal.sqlite3", readonly=True) as journal:
        for entry in journal.entries():
            _secret_free(repr(entry), f"journal {entry.kind}")
    assert server.requests  # it did talk to the exchange with those keys
