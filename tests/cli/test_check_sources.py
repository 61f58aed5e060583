"""``check`` says per account its type, settle currency, venue profile and where each figure came
from; figures from the approximate ``generic`` profile are marked in the table, the JSON, the
metrics, the alerts and pre-trade verdicts (issue 16, part 5)."""

from __future__ import annotations

import asyncio
import io
from datetime import UTC, datetime
from typing import Any

from rich.console import Console

from riskguard.alerts.from_guard import cycle_conditions
from riskguard.cli.check import print_table, summarise, to_json
from riskguard.config import GuardConfig
from riskguard.daemon.metrics import GuardMetrics
from riskguard.domain import MarginMode
from riskguard.guard.cycle import CycleReport, Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.pretrade import ProposedOrder, pre_trade_check
from riskguard.guard.rules.base import RuleInput
from riskguard.guard.rules.registry import build_rules, default_rule_configs

NOW = datetime(2026, 12, 7, tzinfo=UTC)
SYMBOL = "BTC/USDT:USDT"
MARKET = {
    "id": "BTCUSDT",
    "symbol": SYMBOL,
    "base": "BTC",
    "quote": "USDT",
    "settle": "USDT",
    "type": "swap",
    "swap": True,
    "contract": True,
    "linear": True,
    "inverse": False,
    "contractSize": 1.0,
    "maintenanceMarginPercentage": 0.01,
    "precision": {"amount": 0.001, "price": 0.1},
    "limits": {"amount": {"min": 0.001}},
}
ROW = {
    "symbol": SYMBOL,
    "side": "long",
    "contracts": None,  # ccxt left it empty; the raw row has it
    "entryPrice": 100_000.0,
    "markPrice": 100_000.0,
    "marginMode": "cross",
    "leverage": 10.0,
    "info": {"positionAmt": "0.5"},
}


class _Venue:
    """A venue without an exact profile, answering as ccxt does."""

    has: dict[str, bool] = {}  # noqa: RUF012 - a fake's fixed capabilities

    async def load_markets(self, reload: bool = False) -> dict[str, Any]:
        return {SYMBOL: MARKET}

    async def fetch_balance(self, params: Any = None) -> dict[str, Any]:
        return {"total": {"USDT": 10_000.0}, "free": {"USDT": 5_000.0}}

    async def fetch_positions(self, symbols: Any = None, params: Any = None) -> list[Any]:
        return [dict(ROW)]

    async def fetch_leverage_tiers(self, symbols: Any = None, params: Any = None) -> dict[str, Any]:
        return {}

    async def fetch_open_orders(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []

    async def fetch_ohlcv(self, *args: Any, **kwargs: Any) -> list[Any]:
        return []


class _Clock:
    t = int(NOW.timestamp() * 1000)

    def now_ms(self) -> int:
        self.t += 1000
        return self.t

    async def sleep(self, seconds: float) -> None:
        return None


def _checked(venue: str) -> tuple[GuardAccount, CycleReport]:
    guard = Guard(
        GuardConfig(),
        build_rules(default_rule_configs()),
        journal=MemoryJournal(),
        clock=_Clock(),
        alert=lambda level, message, payload: None,
    )
    acct = GuardAccount("acct", _Venue(), "someexchange", venue, MarginMode.CROSS)
    acct.alert_only = True
    report = asyncio.run(guard.cycle(acct))
    return acct, report


def test_check_json_gives_account_type_settle_profile_and_sources() -> None:
    document = to_json(summarise([_checked("generic")]))

    (account,) = document["accounts"]
    assert account["account_type"] == "USDT-settled account"
    assert (account["settle"], account["profile"], account["approximate"]) == (
        "USDT",
        "generic",
        True,
    )
    assert account["sources"][f"{SYMBOL} contracts"] == "venue raw positionAmt"
    assert account["sources"]["wallet"] == "ccxt total USDT"
    assert account["positions"][0]["approximate"] is True


def test_check_table_marks_approximate_figures_and_lists_sources() -> None:
    out = io.StringIO()

    print_table(summarise([_checked("generic")]), Console(file=out, width=200))

    text = out.getvalue()
    assert "≈" in text
    assert "acct: USDT-settled account, settle USDT, venue profile generic (approximate" in text
    assert f"  {SYMBOL} contracts: venue raw positionAmt" in text


def test_an_exact_profile_is_not_marked_approximate() -> None:
    out = io.StringIO()
    result = summarise([_checked("binance")])

    print_table(result, Console(file=out, width=200))

    assert "≈" not in out.getvalue()
    assert to_json(result)["accounts"][0]["approximate"] is False


def test_metrics_label_the_profile_and_whether_it_is_approximate() -> None:
    _acct, report = _checked("generic")
    metrics = GuardMetrics()

    metrics.observe_cycle(report, report.evaluation, 0.1)

    sample = metrics.registry.get_sample_value(
        "riskguard_account_profile",
        {"account": "acct", "profile": "generic", "approximate": "true"},
    )
    assert sample == 1.0


def test_alert_titles_from_an_approximate_profile_say_so() -> None:
    _acct, report = _checked("generic")
    assert report.snapshot is not None
    assert report.evaluation is not None
    data = RuleInput(report.snapshot, report.evaluation, NOW, 60.0, 0.0)
    findings = [f for f in report.findings if f.level.name != "OK"]
    assert findings, "the 10x long should raise at least one finding"

    conditions = cycle_conditions("acct", data, findings, [])

    assert conditions
    assert all(c.title.endswith("[approximate: generic venue profile]") for c in conditions)


def test_a_pre_trade_verdict_from_an_approximate_profile_says_so() -> None:
    _acct, report = _checked("generic")
    assert report.snapshot is not None
    order = ProposedOrder(SYMBOL, "buy", 0.1, 100_000.0, maintenance_margin_rate=0.01)

    verdict = pre_trade_check(
        report.snapshot, order, build_rules(default_rule_configs()), now=NOW, horizon_s=60.0
    )

    assert (verdict.profile, verdict.approximate) == ("generic", True)


def test_check_reports_a_spot_margin_account_and_the_repayment_it_would_make() -> None:
    from riskguard.clock import VirtualClock
    from riskguard.guard.spot_margin.cycle import MarginAccount, MarginGuard
    from riskguard.guard.spot_margin.judge import MarginSettings
    from riskguard.paper.spot_margin.client import SpotMarginExchange
    from tests.paper.spot_margin.kit import T0, venue

    v = venue([100.0] * 5)
    v.add_account("m", {"BTC": 30.0}, {"USDT": 2_600.0})  # level 1.154
    clock = VirtualClock(v.now_ms)
    clock.subscribe(v.advance_to)
    clock.advance_to(T0 + 60_000)
    guard = MarginGuard(
        MarginSettings(gap_pct=10), journal=MemoryJournal(), clock=clock, alert=lambda *_: None
    )
    acct = MarginAccount("m", SpotMarginExchange(v, "m", clock=clock), "binance", alert_only=True)
    report = asyncio.run(guard.cycle(acct))
    out = io.StringIO()

    result = summarise([], [report])
    print_table(result, Console(file=out, width=200))

    (margin,) = to_json(result)["spot_margin_accounts"]
    assert (margin["level"], margin["planned"]["side"], margin["planned"]["asset"]) == (
        "ACT",
        "sell",
        "BTC",
    )
    assert result.exit_code == 2
    assert "m (spot margin): ACT" in out.getvalue()
    assert "would sell" in out.getvalue()
