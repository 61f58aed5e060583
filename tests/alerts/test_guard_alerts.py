"""The guard's cycles through the alert center: a flapping position is not an alert per cycle."""

from __future__ import annotations

import asyncio
import itertools
from pathlib import Path

from pydantic import TypeAdapter

from riskguard.alerts.center import AlertCenter, Route
from riskguard.alerts.config import AlertingConfig
from riskguard.alerts.model import Severity
from riskguard.alerts.outbox import MemoryOutbox
from riskguard.config import GuardConfig
from riskguard.domain import MarginMode
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.registry import RuleConfig, build_rules
from riskguard.paper.config import build_paper, parse_paper_config

START_MS = 1_704_067_200_000
STEP_MS = 5_000


def _flapping_feed(path: Path) -> Path:
    """100, then 10 minutes swinging between 90 and 101 every 15 s, then 5 minutes calm at 101.

    The venue smooths its mark price, so each price is held for three 5 s ticks."""
    prices = [100.0] + [90.0 if (i // 3) % 2 == 0 else 101.0 for i in range(120)] + [101.0] * 60
    lines = [f"{START_MS + i * STEP_MS},{p}" for i, p in enumerate(prices)]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_a_position_flapping_around_the_warn_level_gives_one_warning_and_one_recovery(
    tmp_path: Path,
) -> None:
    # A 5x isolated long from 100 is liquidated near 80.4: near 90 it is ~11% away (below the
    # 15% warn level), near 101 ~20% away (clear of the level and its 20% hysteresis band).
    setup = build_paper(
        parse_paper_config(
            {
                "venue": "binance",
                "markets": [
                    {
                        "symbol": "BTC/USDT:USDT",
                        "maintenance_margin_rate": 0.005,
                        "feed": {"csv": str(_flapping_feed(tmp_path / "flap.csv"))},
                    }
                ],
                "accounts": [
                    {
                        "id": "main",
                        "balance": 10_000,
                        "positions": [
                            {
                                "symbol": "BTC/USDT:USDT",
                                "side": "long",
                                "leverage": 5,
                                "margin_mode": "isolated",
                                "notional": 10_000,
                            }
                        ],
                    }
                ],
            }
        )
    )
    outbox = MemoryOutbox()
    center = AlertCenter(
        outbox,
        [Route("ops", Severity.INFO)],
        AlertingConfig(recovery_hold_s=120),
        now_ms=setup.clock.now_ms,
        queue_ms=setup.clock.now_ms,
    )
    rule = {
        "type": "liquidation_distance",
        "warn": {"distance_pct": 15, "sigma": 0.01},
        "act": {"distance_pct": 5, "sigma": 0.005},
        "critical": {"distance_pct": 2, "sigma": 0.001},
        "target": {"distance_pct": 8, "sigma": 0.008},
    }
    guard = Guard(
        GuardConfig(poll_interval_s=5),
        build_rules([TypeAdapter(RuleConfig).validate_python(rule)]),
        journal=MemoryJournal(),
        clock=setup.clock,
        alert=center.alert_fn(),
        conditions=center.conditions,
    )
    acct = GuardAccount(
        account="main",
        port=setup.client("main", label="guard"),
        exchange_id="paper",
        venue="binance",
        default_margin_mode=MarginMode.ISOLATED,
    )
    levels: list[str] = []
    times: list[int] = []

    async def replay() -> None:
        while setup.venue.now_ms < setup.venue.end_ms:
            report = await guard.cycle(acct)
            levels.append(max((f.level.name for f in report.findings), default="OK"))
            times.append(report.time_ms)
            setup.clock.advance_to(setup.venue.now_ms + STEP_MS)  # type: ignore[attr-defined]

    asyncio.run(replay())

    alerts = [row.alert for row in outbox.outbox_rows()]
    flips = sum(1 for a, b in itertools.pairwise(levels) if a != b)
    assert flips >= 30  # it really flapped, in and out of WARN, for ten minutes
    assert [(a["kind"], a["severity"], a["rule"]) for a in alerts] == [
        ("entered", "warning", "liquidation_distance"),
        ("recovered", "info", "liquidation_distance"),
    ]
    last_warn = max(t for t, level in zip(times, levels, strict=True) if level == "WARN")
    # Recovered once the position had been clear for the 120 s hold, not before.
    assert last_warn + 120_000 <= alerts[1]["time_ms"] <= last_warn + 130_000
    assert dict(alerts[0]["figures"])["distance_pct"] < 15
