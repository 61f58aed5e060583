"""The guard sizes for the symbol's own one-minute tail: learned from the bars before now, used
when larger than the configured gaps, and carried into the journal and the findings."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.guard.cycle import CycleReport, Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.base import ActionKind
from riskguard.guard.rules.registry import build_rules, default_rule_configs
from riskguard.paper.config import PaperSetup, build_paper, parse_paper_config

NEAR = "NEAR/USDT:USDT"
MINUTE = 60_000
T0 = 1_704_067_200_000  # 2024-01-01T00:00:00Z


def _prices(path: Path, spike_pct: float) -> Path:
    """Three hours of calm minutes at 5.00, one of which falls ``spike_pct`` and recovers."""
    lines = ["timestamp_ms,open,high,low,close,volume"]
    for i in range(180):
        low = 5.0 * (1 - spike_pct / 100) if i == 60 else 4.995
        lines.append(f"{T0 + i * MINUTE},5.00,5.005,{low:.4f},5.00,100")
    path.write_text("\n".join(lines) + "\n")
    return path


def _setup(tmp_path: Path, spike_pct: float) -> PaperSetup:
    position = {
        "symbol": NEAR,
        "side": "long",
        "leverage": 5,
        "margin_mode": "isolated",
        "notional": 5_000,
    }
    config = parse_paper_config(
        {
            "venue": "binance",
            "start": "2024-01-01T02:00:00Z",  # the spike at 01:00 is history
            "markets": [
                {
                    "symbol": NEAR,
                    "maintenance_margin_rate": 0.01,
                    "amount_step": 0.1,
                    "min_amount": 0.1,
                    "price_tick": 0.0001,
                    "feed": {"csv": str(_prices(tmp_path / "near.csv", spike_pct))},
                }
            ],
            "accounts": [{"id": "main", "balance": 10_000, "positions": [position]}],
        }
    )
    return build_paper(config)


def _cycle(setup: PaperSetup, config: GuardConfig) -> tuple[CycleReport, MemoryJournal]:
    journal = MemoryJournal()
    guard = Guard(
        config,
        build_rules(default_rule_configs()),
        journal=journal,
        clock=setup.clock,
        alert=lambda level, message, payload: None,
    )
    acct = GuardAccount(
        account="main",
        port=setup.client("main", label="guard"),
        exchange_id="paper",
        venue="binance",
        default_margin_mode=MarginMode.ISOLATED,
    )
    return asyncio.run(guard.cycle(acct)), journal


def _shortfall_reduce(report: CycleReport) -> Any:
    assert report.plan is not None
    return next(
        (s for s in report.plan.steps if s.action.rule == "shortfall" and s.kind is not None),
        None,
    )


def test_a_past_one_minute_spike_larger_than_the_configured_gap_sizes_the_position_down(
    tmp_path: Path,
) -> None:
    # 5x isolated long: it survives the configured -12% gap, not a 1.5 x 20% = -30% one.
    report, journal = _cycle(_setup(tmp_path, spike_pct=20.0), GuardConfig(poll_interval_s=15))

    [noted] = journal.entries("tail_move")
    assert noted.payload["symbol"] == NEAR
    assert noted.payload["fall_pct"] < -29.9
    assert noted.payload["source"].startswith("learned tail: learned from 120 1-minute bars")
    [finding] = [f for f in report.findings if f.rule == "shortfall"]
    facts = dict(finding.figures)
    assert facts["worst_scenario"] == "learned tail fall"
    assert facts["tail_move_pct"] == noted.payload["fall_pct"]
    assert str(facts["tail_source"]).startswith("learned tail")
    assert "under 'learned tail fall' (a -3" in finding.message
    assert "learned from 120 1-minute bars" in finding.message
    step = _shortfall_reduce(report)
    assert step is not None
    assert step.kind is ActionKind.REDUCE
    assert step.size_after < step.size_before
    assert dict(step.action.figures)["tail_move_pct"] == noted.payload["fall_pct"]


def test_without_bars_to_learn_from_the_configured_gaps_apply_and_the_journal_says_why(
    tmp_path: Path,
) -> None:
    config = GuardConfig(poll_interval_s=15, tail_lookback_bars=0)

    report, journal = _cycle(_setup(tmp_path, spike_pct=20.0), config)

    [noted] = journal.entries("tail_move")
    assert (noted.payload["fall_pct"], noted.payload["rise_pct"]) == (-12.0, 12.0)
    assert noted.payload["source"] == "configured gaps (tail_lookback_bars is 0)"
    assert not [f for f in report.findings if f.rule == "shortfall"]


def test_a_calm_history_changes_nothing(tmp_path: Path) -> None:
    report, journal = _cycle(_setup(tmp_path, spike_pct=0.2), GuardConfig(poll_interval_s=15))

    [noted] = journal.entries("tail_move")
    assert noted.payload["fall_pct"] == -12.0
    assert noted.payload["source"].startswith("configured gaps (learned -")
    assert not [f for f in report.findings if f.rule == "shortfall"]


def test_the_journal_notes_a_move_again_only_when_it_changes(tmp_path: Path) -> None:
    setup = _setup(tmp_path, spike_pct=20.0)
    journal = MemoryJournal()
    guard = Guard(
        GuardConfig(poll_interval_s=15, tail_refresh_s=60),
        [],
        journal=journal,
        clock=setup.clock,
        alert=lambda level, message, payload: None,
    )
    acct = GuardAccount(
        account="main",
        port=setup.client("main", label="guard"),
        exchange_id="paper",
        venue="binance",
        default_margin_mode=MarginMode.ISOLATED,
    )

    async def cycles() -> None:
        for _ in range(12):  # three minutes: the bars are fetched again three times
            await guard.cycle(acct)
            setup.clock.advance_to(setup.venue.now_ms + 15_000)  # type: ignore[union-attr]

    asyncio.run(cycles())

    assert len(journal.entries("tail_move")) == 1
