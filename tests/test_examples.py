"""The scripts in examples/ run and print their figures."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_evaluate_account_example_prints_each_position_and_a_safe_size() -> None:
    run = subprocess.run(  # noqa: S603
        [sys.executable, str(EXAMPLES / "evaluate_account.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    assert "BTC/USDT:USDT" in run.stdout
    assert "ETH/USDT:USDT" in run.stdout
    assert "survives a 30% drop" in run.stdout


def test_pretrade_bot_example_allows_small_entries_and_denies_the_one_the_guard_would_cut() -> None:
    run = subprocess.run(  # noqa: S603
        [sys.executable, str(EXAMPLES / "pretrade_bot.py")],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )

    assert run.returncode == 0, run.stderr
    verdicts = [line.split(";")[0] for line in run.stdout.splitlines() if line.startswith("buy")]
    assert verdicts == ["buy 0.2 BTC: warn", "buy 0.6 BTC: warn", "buy 1.4 BTC: deny"]


@pytest.mark.shared_data
def test_replay_crash_example_prints_each_run_and_writes_the_report(tmp_path: Path) -> None:
    crash = EXAMPLES.parents[1] / "shared" / "data" / "crashes" / "btcusdt-perp-2020-03-12.csv"
    if not crash.exists():
        pytest.skip(f"shared crash data not found at {crash}: ../shared/data is absent")

    run = subprocess.run(  # noqa: S603
        [sys.executable, str(EXAMPLES / "replay_crash.py"), str(tmp_path / "report")],
        capture_output=True,
        text=True,
        check=False,
        timeout=300,
    )

    assert run.returncode == 0, run.stderr
    lines = run.stdout.splitlines()
    assert lines[0].startswith("guard        liquidated=False shortfall=     0.00")
    assert lines[1].startswith("none         liquidated=True")
    assert any(line.startswith("guard vs none: +") for line in lines)
    assert (tmp_path / "report" / "index.html").is_file()
    assert list((tmp_path / "report").glob("*.png"))
