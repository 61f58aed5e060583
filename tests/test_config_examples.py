"""The example configs in config/ validate, and the guard example does what its comments say."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from riskguard.cli.main import main
from riskguard.config import load_config
from riskguard.guard.cycle import Guard, GuardAccount
from riskguard.guard.enforce.journal import MemoryJournal
from riskguard.guard.rules.registry import RULE_TYPES, build_rules
from riskguard.paper.config import build_paper

CONFIG = Path(__file__).resolve().parents[1] / "config"


def test_guard_example_validates_and_configures_every_rule_type() -> None:
    assert main(["validate", str(CONFIG / "guard-paper.yaml")]) == 0

    config = load_config(CONFIG / "guard-paper.yaml")

    assert {r.type for r in config.rules} == RULE_TYPES


def test_guard_example_keeps_its_20x_long_alive_through_the_crash() -> None:
    config = load_config(CONFIG / "guard-paper.yaml")
    assert config.paper is not None
    setup = build_paper(config.paper, CONFIG)
    journal = MemoryJournal()
    guard = Guard(
        config.guard,
        build_rules(config.rules),
        journal=journal,
        clock=setup.clock,
        alert=lambda *_: None,
    )
    acct = GuardAccount("main", setup.client("main", label="guard"), "paper", "binance")

    async def replay() -> None:
        end = setup.venue.end_ms
        while setup.venue.now_ms < end:
            await guard.cycle(acct)
            step = int(config.guard.poll_interval_s * 1000)
            setup.clock.advance_to(min(end, setup.venue.now_ms + step))  # type: ignore[union-attr]

    asyncio.run(replay())

    assert setup.venue.liquidations == []
    assert journal.entries("order_sent")


@pytest.mark.parametrize("name", ["paper-demo.yaml", "live-example.yaml"])
def test_daemon_examples_validate(name: str) -> None:
    assert main(["validate", str(CONFIG / name)]) == 0


def test_live_example_names_its_keys_by_environment_variable_only() -> None:
    config = load_config(CONFIG / "live-example.yaml")
    assert {a.exchange for a in config.accounts} == {"binanceusdm", "bybit", "okx"}
    assert all(a.api_key_env and a.secret_env for a in config.accounts)
    assert config.guard.dry_run


def test_the_demo_runs_paced_and_stops_by_itself_with_an_alert_only_control_account() -> None:
    config = load_config(CONFIG / "paper-demo.yaml")
    assert config.paper is not None
    assert config.paper.clock.mode == "paced"
    assert config.daemon.run_for_s is not None
    assert config.daemon.run_for_s <= 90
    assert [a.id for a in config.accounts if a.alert_only] == ["unguarded"]
