"""Smoke test of bench/scale.py: a tiny run prints its figures (no timing is asserted)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "bench" / "scale.py"


def test_scale_bench_with_three_accounts_prints_the_table_and_both_verdicts() -> None:
    # Arrange: 3 accounts measured for 0.8 s after a 0.2 s warm-up, no bisection.
    command = [
        sys.executable,
        str(SCRIPT),
        "--ladder",
        "3",
        "--warmup",
        "0.2",
        "--duration",
        "0.8",
        "--bisect",
        "0",
        "--synchronous",
        "normal",
        "--rss-accounts",
        "3",
    ]

    # Act
    env = {**os.environ, "PYTHONPATH": str(REPO)}  # this checkout's riskguard, not an install
    done = subprocess.run(  # noqa: S603 - our own interpreter and script
        command, capture_output=True, text=True, timeout=60, check=False, env=env
    )

    # Assert
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "| accounts | journal | age p50 s | age p99 s |" in out
    assert "|     3 | writer |" in out
    assert "largest N with p99 data age < 1.5 s:" in out
    assert "accounts kept fresh (target >= 1000)" in out
    assert "peak RSS with 3 accounts on one exchange" in out
