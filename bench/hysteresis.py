"""What one account's cycle costs the alert center as the number of accounts grows.

Each account holds three open episodes (a position at WARN on three rules) and reports the
same three conditions every cycle (nothing new: no alert). One round feeds every account's
conditions to the real ``AlertCenter.conditions``. The reference, in the same run, is
``hysteresis.track`` handed every account's episodes at once, which is what the center did
before it kept episodes per account: its cost per account grows with the number of accounts.

Run: .venv/bin/python bench/hysteresis.py [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from riskguard.alerts.center import AlertCenter  # noqa: E402
from riskguard.alerts.config import AlertingConfig  # noqa: E402
from riskguard.alerts.hysteresis import Condition, track  # noqa: E402
from riskguard.alerts.outbox import MemoryOutbox  # noqa: E402
from riskguard.guard.rules.base import Level  # noqa: E402

RULES = ("liquidation_distance", "stop_loss", "shortfall")


def conditions(account: str) -> list[Condition]:
    return [
        Condition(
            account,
            rule,
            "finding",
            Level.WARN,
            f"{rule} warns",
            symbol="BTC/USDT:USDT",
            side="long",
            distance_pct=9.0,
        )
        for rule in RULES
    ]


def per_account_us(accounts: int, rounds: int) -> tuple[float, float]:
    names = [f"acct-{i}" for i in range(accounts)]
    now = [1_000_000]
    center = AlertCenter(MemoryOutbox(), [], AlertingConfig(), now_ms=lambda: now[0])
    for name in names:  # the first round opens the episodes (and alerts once)
        center.conditions(name, conditions(name))
    every = center.episodes
    started = time.perf_counter()
    for _ in range(rounds):
        now[0] += 1000
        for name in names:
            center.conditions(name, conditions(name))
    ours = (time.perf_counter() - started) / (rounds * accounts) * 1e6
    started = time.perf_counter()
    for _ in range(rounds):
        now[0] += 1000
        for name in names:
            _, every = track(name, conditions(name), every, now[0], 120_000)
    reference = (time.perf_counter() - started) / (rounds * accounts) * 1e6
    return ours, reference


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    # the first round's "entered" alerts are logged: not what is measured
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    lines = [
        f"# Alert center cost per account per cycle (python {platform.python_version()})",
        "",
        "| accounts | center (per account) µs | reference: all episodes at once µs |",
        "|---|---|---|",
    ]
    for accounts, rounds in ((10, 200), (100, 50), (1000, 5)):
        ours, reference = per_account_us(accounts, rounds)
        lines.append(f"| {accounts} | {ours:.1f} | {reference:.1f} |")
        print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
