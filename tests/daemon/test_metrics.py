"""``GuardMetrics``: what one guard cycle leaves in Prometheus, and the ``/metrics`` endpoint.

Numbers: on Binance a 1 BTC long at 100,000 with a flat 0.5% maintenance rate and collateral
10,450 liquidates at ``(100,000 - 10,450) / 0.995 = 90,000``: 10% below the mark. An ETH long
whose collateral exceeds its notional has no liquidation price at all.
"""

from __future__ import annotations

import math
from dataclasses import replace
from datetime import UTC, datetime

import httpx
import pytest
from prometheus_client import REGISTRY
from prometheus_client.parser import text_string_to_metric_families

from riskguard.daemon.metrics import GuardMetrics, start_metrics_server
from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.guard.cycle import CycleReport
from riskguard.guard.enforce.outcomes import StepOutcome
from riskguard.guard.rules.base import ActionKind, Finding, Level
from riskguard.risk import RiskSettings, evaluate_account
from riskguard.risk.evaluation import AccountEvaluation

BTC = "BTC/USDT:USDT"
ETH = "ETH/USDT:USDT"
SOL = "SOL/USDT:USDT"
NOW = datetime(2025, 1, 1, tzinfo=UTC)
NOW_MS = int(NOW.timestamp() * 1000)
SETTINGS = RiskSettings(sigma_per_sqrt_s=0.002, horizon_s=100.0)


def _position(
    symbol: str = BTC,
    *,
    side: Side = Side.LONG,
    price: float = 100_000.0,
    size: float = 1.0,
    collateral: float | None = 10_450.0,
    mode: MarginMode = MarginMode.ISOLATED,
) -> Position:
    return Position(
        symbol,
        side,
        size,
        price,
        price,
        margin_mode=mode,
        collateral=collateral,
        maintenance_margin_rate=0.005,
    )


BTC_LONG = _position()
ETH_LONG = _position(ETH, price=3_000.0, collateral=100_000.0)
SOL_CROSS = _position(SOL, price=100.0, size=10.0, collateral=None, mode=MarginMode.CROSS)


def _evaluated(
    *positions: Position, account: str = "main"
) -> tuple[AccountSnapshot, AccountEvaluation]:
    snapshot = AccountSnapshot("binance", 500.0, positions, NOW, account=account)
    return snapshot, evaluate_account(snapshot, SETTINGS)


def _report(
    snapshot: AccountSnapshot | None,
    *,
    account: str = "main",
    age_s: float = 0.0,
    actionable: bool = True,
    findings: tuple[Finding, ...] = (),
    outcomes: tuple[StepOutcome, ...] = (),
) -> CycleReport:
    return CycleReport(
        account, NOW_MS + int(age_s * 1000), actionable, snapshot, findings, None, outcomes
    )


def _finding(rule: str, level: Level) -> Finding:
    return Finding(
        rule, "liquidation_distance", level, "main", BTC, Side.LONG, "distance_pct", 10.0, 12.0, ""
    )


def _value(metrics: GuardMetrics, name: str, **labels: str) -> float | None:
    return metrics.registry.get_sample_value(name, labels)


def _position_value(
    metrics: GuardMetrics, name: str, symbol: str, side: str = "long"
) -> float | None:
    return _value(metrics, name, account="main", symbol=symbol, side=side)


def _observed(*positions: Position) -> tuple[GuardMetrics, AccountEvaluation]:
    snapshot, evaluation = _evaluated(*positions)
    metrics = GuardMetrics()
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)
    return metrics, evaluation


# ---------------------------------------------------------------------------- per position


def test_observe_cycle_exports_the_liquidation_figures_of_a_position() -> None:
    metrics, evaluation = _observed(BTC_LONG)

    figures = evaluation.positions[0]
    assert _position_value(metrics, "riskguard_position_distance_pct", BTC) == pytest.approx(10.0)
    assert _position_value(metrics, "riskguard_position_liquidation_price", BTC) == pytest.approx(
        90_000.0
    )
    assert _position_value(metrics, "riskguard_position_notional", BTC) == 100_000.0
    assert _position_value(metrics, "riskguard_position_sigma_distance", BTC) == pytest.approx(
        figures.sigma_distance
    )
    assert _position_value(metrics, "riskguard_position_margin_ratio", BTC) == pytest.approx(
        figures.risk.margin_ratio
    )
    assert _position_value(metrics, "riskguard_position_shortfall", BTC) == pytest.approx(
        figures.shortfall
    )
    assert figures.shortfall > 0  # the default gaps take it through its collateral


def test_observe_cycle_exports_no_liquidation_price_as_infinite_distance() -> None:
    metrics, _ = _observed(ETH_LONG)

    assert _position_value(metrics, "riskguard_position_distance_pct", ETH) == math.inf
    assert _position_value(metrics, "riskguard_position_sigma_distance", ETH) == math.inf
    assert _position_value(metrics, "riskguard_position_liquidation_price", ETH) is None
    assert _position_value(metrics, "riskguard_position_notional", ETH) == 3_000.0


def test_observe_cycle_labels_a_hedged_symbol_once_per_side() -> None:
    short = _position(side=Side.SHORT, collateral=200_000.0)

    metrics, evaluation = _observed(BTC_LONG, short)

    assert _position_value(metrics, "riskguard_position_distance_pct", BTC, "long") == (
        pytest.approx(10.0)
    )
    assert _position_value(metrics, "riskguard_position_distance_pct", BTC, "short") == (
        pytest.approx(evaluation.positions[1].risk.distance * 100)  # type: ignore[operator]
    )


@pytest.mark.parametrize("safer_first", [True, False])
def test_observe_cycle_two_legs_on_one_side_show_the_nearer_to_liquidation(
    safer_first: bool,
) -> None:
    safer = _position(collateral=50_000.0)
    legs = (safer, BTC_LONG) if safer_first else (BTC_LONG, safer)

    metrics, _ = _observed(*legs)

    assert _position_value(metrics, "riskguard_position_distance_pct", BTC) == pytest.approx(10.0)


def test_observe_cycle_removes_every_series_of_a_position_that_closed() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG, ETH_LONG)
    later, later_evaluation = _evaluated(ETH_LONG)
    metrics = GuardMetrics()
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)

    metrics.observe_cycle(_report(later), later_evaluation, 0.2)

    exported = metrics.registry.collect()
    btc_series = [
        s
        for family in exported
        if family.name.startswith("riskguard_position_")
        for s in family.samples
        if s.labels.get("symbol") == BTC
    ]
    assert btc_series == []
    assert _position_value(metrics, "riskguard_position_notional", ETH) == 3_000.0


def test_observe_cycle_removes_the_liquidation_price_once_there_is_none() -> None:
    risky = _position(ETH, price=3_000.0, collateral=300.0)
    snapshot, evaluation = _evaluated(risky)
    later, later_evaluation = _evaluated(ETH_LONG)
    metrics = GuardMetrics()
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)
    assert _position_value(metrics, "riskguard_position_liquidation_price", ETH) is not None

    metrics.observe_cycle(_report(later), later_evaluation, 0.2)

    assert _position_value(metrics, "riskguard_position_liquidation_price", ETH) is None


def test_observe_cycle_never_exports_nan_and_drops_the_series_instead() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG)
    metrics = GuardMetrics()
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)
    broken = replace(
        evaluation, positions=(replace(evaluation.positions[0], sigma_distance=math.nan),)
    )

    metrics.observe_cycle(_report(snapshot), broken, 0.2)

    assert _position_value(metrics, "riskguard_position_sigma_distance", BTC) is None
    assert _position_value(metrics, "riskguard_position_distance_pct", BTC) == pytest.approx(10.0)


# ---------------------------------------------------------------------------- per account


def test_observe_cycle_exports_account_equity_shortfall_and_actionability() -> None:
    metrics, evaluation = _observed(BTC_LONG, SOL_CROSS)

    assert _value(metrics, "riskguard_account_equity", account="main") == pytest.approx(
        evaluation.risk.equity
    )
    assert _value(metrics, "riskguard_account_potential_shortfall", account="main") == (
        pytest.approx(evaluation.potential_shortfall)
    )
    assert _value(metrics, "riskguard_account_actionable", account="main") == 1.0
    assert _value(metrics, "riskguard_account_data_age_seconds", account="main") == 0.0


def test_observe_cycle_on_stale_data_keeps_the_last_figures_and_reports_their_age() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG)
    metrics = GuardMetrics()
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)

    metrics.observe_cycle(_report(snapshot, age_s=95.5, actionable=False), None, 3.0)

    assert _value(metrics, "riskguard_account_actionable", account="main") == 0.0
    assert _value(metrics, "riskguard_account_data_age_seconds", account="main") == 95.5
    assert _position_value(metrics, "riskguard_position_distance_pct", BTC) == pytest.approx(10.0)


def test_observe_cycle_without_any_snapshot_reports_infinite_data_age() -> None:
    metrics = GuardMetrics()

    metrics.observe_cycle(_report(None, actionable=False), None, 5.0)

    assert _value(metrics, "riskguard_account_data_age_seconds", account="main") == math.inf
    assert _value(metrics, "riskguard_account_equity", account="main") is None


def test_observe_cycle_counts_findings_by_rule_and_level_across_cycles() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG)
    metrics = GuardMetrics()
    findings = (_finding("distance", Level.ACT), _finding("shortfall", Level.WARN))

    metrics.observe_cycle(_report(snapshot, findings=findings), evaluation, 0.2)
    metrics.observe_cycle(_report(snapshot, findings=findings[:1]), evaluation, 0.2)

    assert (
        _value(metrics, "riskguard_findings_total", account="main", rule="distance", level="act")
        == 2.0
    )
    assert (
        _value(metrics, "riskguard_findings_total", account="main", rule="shortfall", level="warn")
        == 1.0
    )


def test_observe_cycle_counts_step_outcomes_by_kind_and_status() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG)
    metrics = GuardMetrics()
    outcomes = (
        StepOutcome(ActionKind.REDUCE, BTC, "filled", filled_contracts=0.3),
        StepOutcome(ActionKind.REDUCE, BTC, "filled", filled_contracts=0.1),
        StepOutcome(ActionKind.PLACE_STOP, BTC, "failed", error="rejected"),
    )

    metrics.observe_cycle(_report(snapshot, outcomes=outcomes), evaluation, 0.2)

    def actions(kind: str, status: str) -> float | None:
        return _value(metrics, "riskguard_actions_total", account="main", kind=kind, status=status)

    assert actions("reduce", "filled") == 2.0
    assert actions("place_stop", "failed") == 1.0
    assert actions("reduce", "failed") is None


def test_observe_cycle_puts_durations_into_buckets_from_10_ms_to_10_s() -> None:
    snapshot, evaluation = _evaluated(BTC_LONG)
    metrics = GuardMetrics()

    for duration_s in (0.005, 0.04, 0.3, 12.0):
        metrics.observe_cycle(_report(snapshot), evaluation, duration_s)

    def bucket(le: str) -> float | None:
        return _value(metrics, "riskguard_cycle_seconds_bucket", account="main", le=le)

    assert bucket("0.01") == 1.0
    assert bucket("0.05") == 2.0
    assert bucket("0.5") == 3.0
    assert bucket("10.0") == 3.0
    assert bucket("+Inf") == 4.0
    assert _value(metrics, "riskguard_cycle_seconds_sum", account="main") == pytest.approx(12.345)


# ---------------------------------------------------------------------------- between cycles


def test_set_data_age_updates_the_gauge_and_drops_it_for_nan() -> None:
    metrics = GuardMetrics()

    metrics.set_data_age("main", 42.0)
    assert _value(metrics, "riskguard_account_data_age_seconds", account="main") == 42.0
    metrics.set_data_age("main", math.nan)

    assert _value(metrics, "riskguard_account_data_age_seconds", account="main") is None


@pytest.mark.parametrize("action", ["retry", "skip", "stop"])
def test_count_api_error_counts_by_class_and_action(action: str) -> None:
    metrics = GuardMetrics()

    metrics.count_api_error("main", "RequestTimeout", action)
    metrics.count_api_error("main", "RequestTimeout", action)

    assert (
        _value(
            metrics,
            "riskguard_api_errors_total",
            account="main",
            error_class="RequestTimeout",
            action=action,
        )
        == 2.0
    )


def test_count_api_error_refuses_an_unknown_action() -> None:
    metrics = GuardMetrics()

    with pytest.raises(ValueError, match="action must be one of retry, skip, stop"):
        metrics.count_api_error("main", "RequestTimeout", "ignore")


def test_heartbeat_alert_only_and_info_are_exported() -> None:
    metrics = GuardMetrics(version="9.8.7")

    metrics.heartbeat(1_735_689_600.5)
    metrics.set_alert_only("main", True)
    metrics.set_alert_only("spare", False)

    assert _value(metrics, "riskguard_heartbeat_timestamp_seconds") == 1_735_689_600.5
    assert _value(metrics, "riskguard_account_alert_only", account="main") == 1.0
    assert _value(metrics, "riskguard_account_alert_only", account="spare") == 0.0
    assert _value(metrics, "riskguard_info", version="9.8.7") == 1.0


def test_forget_account_removes_its_series_and_keeps_the_others() -> None:
    metrics = GuardMetrics()
    for account in ("main", "spare"):
        snapshot, evaluation = _evaluated(BTC_LONG, account=account)
        metrics.observe_cycle(_report(snapshot, account=account), evaluation, 0.2)
        metrics.count_api_error(account, "NetworkError", "retry")

    metrics.forget_account("main")

    samples = [s for family in metrics.registry.collect() for s in family.samples]
    assert not [s for s in samples if s.labels.get("account") == "main"]
    assert [s for s in samples if s.labels.get("account") == "spare"]


def test_forget_account_then_observe_again_starts_clean() -> None:
    metrics = GuardMetrics()
    snapshot, evaluation = _evaluated(BTC_LONG, ETH_LONG)
    metrics.observe_cycle(_report(snapshot), evaluation, 0.2)
    metrics.forget_account("main")
    later, later_evaluation = _evaluated(BTC_LONG)

    metrics.observe_cycle(_report(later), later_evaluation, 0.2)

    assert _position_value(metrics, "riskguard_position_notional", BTC) == 100_000.0
    assert _position_value(metrics, "riskguard_position_notional", ETH) is None


def test_guard_metrics_use_their_own_registry_so_two_instances_do_not_clash() -> None:
    first = GuardMetrics()
    second = GuardMetrics()

    first.heartbeat(1.0)
    second.heartbeat(2.0)

    assert first.registry is not second.registry
    assert _value(first, "riskguard_heartbeat_timestamp_seconds") == 1.0
    assert REGISTRY.get_sample_value("riskguard_heartbeat_timestamp_seconds") is None


# ---------------------------------------------------------------------------- the endpoint


def test_metrics_server_serves_the_registry_on_loopback_and_closes() -> None:
    metrics, _ = _observed(BTC_LONG, ETH_LONG)
    metrics.heartbeat(1_735_689_600.0)
    server = start_metrics_server(metrics, port=0)
    try:
        assert server.server.server_address[0] == "127.0.0.1"
        with httpx.Client() as client:
            response = client.get(f"http://127.0.0.1:{server.port}/metrics")
    finally:
        server.close()

    assert response.status_code == 200
    families = {f.name: f for f in text_string_to_metric_families(response.text)}
    distances = {
        s.labels["symbol"]: s.value for s in families["riskguard_position_distance_pct"].samples
    }
    assert distances[BTC] == pytest.approx(10.0)
    assert distances[ETH] == math.inf
    assert families["riskguard_heartbeat_timestamp_seconds"].samples[0].value == 1_735_689_600.0
    assert not server.thread.is_alive()
    with pytest.raises(httpx.ConnectError), httpx.Client() as client:
        client.get(f"http://127.0.0.1:{server.port}/metrics")


def test_metrics_server_unpacks_as_server_and_thread() -> None:
    server, thread = start_metrics_server(GuardMetrics(), port=0)

    try:
        assert thread.is_alive()
        assert thread.daemon
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5.0)

    assert not thread.is_alive()


def test_alert_messages_are_counted_per_sink_and_outcome_and_unknown_outcomes_refused() -> None:
    from prometheus_client import generate_latest

    from riskguard.daemon.metrics import GuardMetrics

    metrics = GuardMetrics()
    metrics.count_alert_message("slack", "delivered")
    metrics.count_alert_message("slack", "retry")
    metrics.count_alert_message("slack", "retry")
    metrics.set_outbox_pending(3)

    text = generate_latest(metrics.registry).decode()
    assert 'riskguard_alert_messages_total{outcome="retry",sink="slack"} 2.0' in text
    assert "riskguard_alert_outbox_pending 3.0" in text
    with pytest.raises(ValueError, match="outcome must be one of delivered, retry, dead"):
        metrics.count_alert_message("slack", "lost")
