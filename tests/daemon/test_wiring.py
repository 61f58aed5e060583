"""Building the runtime: credentials, venues, key permissions, and recovering orders in doubt."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import ccxt.async_support as ccxt
import pytest

from riskguard.config import RiskguardConfig
from riskguard.daemon.journal import SqliteJournal
from riskguard.daemon.recovery import recover_orders, watch_journalled_stops
from riskguard.daemon.wiring import (
    STATE_KEY,
    build_runtime,
    check_keys,
    make_ccxt_client,
)
from riskguard.errors import ConfigError
from riskguard.exchange.live import LiveExchange
from riskguard.guard.cycle import GuardAccount
from riskguard.guard.rules.base import Level
from tests.daemon.conftest import paper_config, write_config

ENV = {"RG_K": "key-0123456789", "RG_S": "secret-0123456789"}


def _live(journal: Path, **account: Any) -> dict[str, Any]:
    document = paper_config(journal)
    document["accounts"].append(
        {"id": "live", "exchange": "bybit", "api_key_env": "RG_K", "secret_env": "RG_S", **account}
    )
    return document


def _no_alert(*_: Any) -> None:
    return None


def test_a_live_account_gets_a_rate_limited_ccxt_client_without_ccxt_retries(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, _live(journal_path, ccxt_config={"timeout": 1234}))
    runtime = build_runtime(config, alert=_no_alert, environ=ENV)
    try:
        live = runtime.accounts[1]
        assert isinstance(live.port, LiveExchange)
        client = live.port.client
        assert client.id == "bybit"
        assert client.apiKey == ENV["RG_K"]
        assert client.timeout == 1234
        assert client.enableRateLimit is True
        assert client.options["maxRetriesOnFailure"] == 0
        assert live.venue == "bybit"
        assert runtime.speeds["live"] == 1.0
        assert "key-0123456789" not in repr(live)
    finally:
        asyncio.run(runtime.aclose())


def test_credentials_come_from_the_secrets_file_when_no_variable_is_named(
    tmp_path: Path, journal_path: Path
) -> None:
    secrets = tmp_path / "secrets.yaml"
    secrets.write_text("live: {api_key: from-file-key, secret: from-file-secret}\n")
    secrets.chmod(0o600)
    document = paper_config(journal_path)
    document["accounts"].append({"id": "live", "exchange": "okx"})
    document["secrets_file"] = "secrets.yaml"
    runtime = build_runtime(write_config(tmp_path, document), alert=_no_alert, environ={})
    try:
        assert runtime.accounts[1].port.client.apiKey == "from-file-key"
    finally:
        asyncio.run(runtime.aclose())


def test_a_live_exchange_without_a_margin_profile_must_name_its_venue(
    tmp_path: Path, journal_path: Path
) -> None:
    config = write_config(tmp_path, _live(journal_path, exchange="kraken"))
    with pytest.raises(ConfigError, match=r"accounts\[1\]\.exchange: .*no margin profile"):
        build_runtime(config, alert=_no_alert, environ=ENV)


def test_credentials_written_into_ccxt_config_are_refused_by_path(journal_path: Path) -> None:
    document = _live(journal_path, ccxt_config={"secret": "oops"})
    with pytest.raises(ValueError, match=r"ccxt_config\.secret: credentials may not be written"):
        RiskguardConfig.model_validate(document)


def test_an_unknown_exchange_id_is_refused(journal_path: Path) -> None:
    with pytest.raises(ValueError, match="'nopex' is not a ccxt exchange id"):
        RiskguardConfig.model_validate(_live(journal_path, exchange="nopex"))


def test_make_ccxt_client_routes_ccxt_prints_to_the_logger() -> None:
    from riskguard.config import AccountConfig

    account = AccountConfig(id="a", exchange="binanceusdm", ccxt_config={"options": {"x": 1}})
    client = make_ccxt_client(account, {"apiKey": "k" * 8})
    try:
        assert client.options["x"] == 1
        assert client.log.__name__ == "_ccxt_log"
    finally:
        asyncio.run(client.close())


class _ProbeClient:
    """A ccxt-like client answering Binance's apiRestrictions probe."""

    id = "binanceusdm"
    has: dict[str, Any] = {}  # noqa: RUF012
    options: dict[str, Any] = {}  # noqa: RUF012
    markets: dict[str, Any] = {}  # noqa: RUF012

    def __init__(self, answer: dict[str, Any]) -> None:
        self.answer = answer

    async def sapi_get_account_apirestrictions(self) -> dict[str, Any]:
        return self.answer

    async def close(self) -> None:
        return None


def test_a_read_only_key_puts_the_account_in_alert_only_mode_and_says_so(
    tmp_path: Path, journal_path: Path
) -> None:
    runtime = build_runtime(write_config(tmp_path, paper_config(journal_path)), alert=_no_alert)
    read_only = GuardAccount("ro", LiveExchange(_ProbeClient({"enableFutures": False})), "x", "b")
    withdraw = GuardAccount(
        "wd",
        LiveExchange(_ProbeClient({"enableFutures": True, "enableWithdrawals": True})),
        "x",
        "b",
    )
    runtime.accounts += [read_only, withdraw]
    runtime.guards["ro"] = runtime.guards["wd"] = runtime.guards["acct0"]
    alerts: list[tuple[Level, str]] = []

    asyncio.run(check_keys(runtime, lambda level, message, _p: alerts.append((level, message))))

    assert read_only.alert_only
    assert not withdraw.alert_only
    assert any("ro: the API key cannot trade" in n for n in runtime.notices)
    assert any("wd: this API key can WITHDRAW" in n for n in runtime.notices)
    assert [level for level, _ in alerts] == [Level.WARN, Level.WARN]
    kinds = [e.payload["account"] for e in runtime.journal.entries(kind="key_permissions")]
    assert kinds == ["ro", "wd"]
    runtime.journal.close()  # type: ignore[attr-defined]


class _LookupPort:
    """Answers fetch_order by client id from a fixed book."""

    def __init__(self, known: dict[str, dict[str, Any]], broken: set[str]) -> None:
        self.known = known
        self.broken = broken
        self.asked: list[tuple[str | None, dict[str, Any]]] = []

    async def fetch_order(self, _id: Any, symbol: str | None, params: dict[str, Any]) -> Any:
        cid = params["clientOrderId"]
        self.asked.append((symbol, params))
        if cid in self.broken:
            raise ccxt.RequestTimeout("timed out")
        if cid not in self.known:
            raise ccxt.OrderNotFound("unknown order")
        return self.known[cid]


def _intent(journal: SqliteJournal, cid: str, kind: str) -> None:
    journal.append(
        "order_intent",
        "acct0",
        1,
        {"client_id": cid, "symbol": "BTC/USDT:USDT", "side": "sell", "contracts": 1, "kind": kind},
    )


def test_recovery_journals_the_fate_of_every_order_in_doubt(
    tmp_path: Path, journal_path: Path
) -> None:
    journal = SqliteJournal(journal_path)
    _intent(journal, "rgfound", "reduce")
    _intent(journal, "rgstop", "stop")
    _intent(journal, "rglost", "reduce")
    _intent(journal, "rgflaky", "reduce")
    # The daemon's own alert center: each fact is journalled with its alert in one transaction.
    runtime = build_runtime(write_config(tmp_path, paper_config(journal_path)), journal=journal)
    port = _LookupPort(
        {
            "rgfound": {"id": "1", "status": "closed", "filled": 1.0},
            "rgstop": {"id": "2", "status": "open", "filled": 0.0},
        },
        broken={"rgflaky"},
    )
    asyncio.run(runtime.aclose())
    runtime.accounts[0].port = port

    looked = asyncio.run(recover_orders(runtime))

    assert looked == 4
    found = {e.payload["client_id"]: e.payload for e in journal.entries(kind="order_found")}
    assert found["rgfound"]["status"] == "closed"
    assert found["rgstop"]["after"] == "restart"
    failed = [e.payload["client_id"] for e in journal.entries(kind="order_failed")]
    assert failed == ["rglost"]
    assert [o.client_id for o in journal.pending_orders()] == ["rgflaky"]
    stop_params = next(p for s, p in port.asked if p["clientOrderId"] == "rgstop")
    assert stop_params.get("trigger") is True  # stops are looked up among trigger orders
    # D4: every order settled at the restart is told; the one still in doubt blocks its position.
    queued = [str(e.payload) for e in journal.entries(kind="alert_queued")]
    assert len(queued) == 4
    assert sum("is on the venue: status closed, filled 1.0" in q for q in queued) == 1
    stop = "stop order for BTC/USDT:USDT sent before the restart (order rgstop) is on"
    assert sum(stop in q for q in queued) == 1
    assert sum("never reached the venue" in q for q in queued) == 1
    assert sum("cannot be looked up" in q and "CRITICAL" in q.upper() for q in queued) == 1
    assert list(runtime.accounts[0].pending_orders) == ["rgflaky"]
    assert runtime.accounts[0].pending_orders["rgflaky"].position == ("BTC/USDT:USDT", "long")
    journal.close()


def test_stops_the_journal_believes_open_are_watched_at_start(
    tmp_path: Path, journal_path: Path
) -> None:
    journal = SqliteJournal(journal_path)
    for cid, kind in (
        ("rgopen", "stop"),
        ("rgfired", "stop"),
        ("rgmoved", "stop"),
        ("rgcut", "reduce"),
    ):
        _intent(journal, cid, kind)
    journal.append(
        "order_sent", "acct0", 2, {"client_id": "rgopen", "order_id": "1", "status": "open"}
    )
    journal.append(
        "order_sent", "acct0", 2, {"client_id": "rgcut", "order_id": "2", "status": "open"}
    )
    journal.append(
        "order_found", "acct0", 3, {"client_id": "rgfired", "order_id": "3", "status": "closed"}
    )
    journal.append(
        "order_sent", "acct0", 2, {"client_id": "rgmoved", "order_id": "4", "status": "open"}
    )
    journal.append("stop_cancelled", "acct0", 4, {"order_id": "4", "replaced_by": "rgopen"})
    # Killed between placing the replacement and cancelling the stop it replaces:
    _intent(journal, "rgold", "stop")
    journal.append(
        "order_sent", "acct0", 5, {"client_id": "rgold", "order_id": "5", "status": "open"}
    )
    journal.append(
        "order_intent", "acct0", 6, {"client_id": "rgnew", "kind": "stop", "replaces": ["5"]}
    )
    runtime = build_runtime(
        write_config(tmp_path, paper_config(journal_path)), alert=_no_alert, journal=journal
    )
    asyncio.run(runtime.aclose())

    assert watch_journalled_stops(runtime) == 2

    watched = runtime.accounts[0].watched_stops
    assert sorted(watched) == ["rgold", "rgopen"]
    assert (watched["rgopen"].side, watched["rgopen"].order_id) == ("long", "1")
    assert (watched["rgopen"].cancel_requested, watched["rgold"].cancel_requested) == (False, True)
    journal.close()


def test_live_accounts_continue_from_saved_state_paper_accounts_start_afresh(
    tmp_path: Path, journal_path: Path
) -> None:
    journal = SqliteJournal(journal_path)
    saved = GuardAccount("x", None, "paper", "binance")
    saved.memories = {"drawdown": {"peak_equity": 12345.0}}
    saved.cycles = 41
    journal.put_state("live", STATE_KEY, saved.state())
    journal.put_state("acct0", STATE_KEY, saved.state())
    runtime = build_runtime(
        write_config(tmp_path, _live(journal_path)), alert=_no_alert, environ=ENV, journal=journal
    )
    try:
        paper, live = runtime.accounts
        assert live.memories == {"drawdown": {"peak_equity": 12345.0}}
        assert live.cycles == 41
        assert paper.memories == {}
        assert paper.cycles == 0
    finally:
        asyncio.run(runtime.aclose())
        journal.close()
