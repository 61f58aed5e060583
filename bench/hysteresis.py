"""What one account's cycle costs the alert center as the number of accounts grows.

Tracking: each account holds three open episodes (a position at WARN on three rules) and reports
the same three conditions every cycle (nothing new: no alert). One round feeds every account's
conditions to the real ``AlertCenter.conditions``. The reference, in the same run, is
``hysteresis.track`` handed every account's episodes at once, which is what the center did
before it kept episodes per account: its cost per account grows with the number of accounts.

Tracking and saving: every account holds three episodes, and each measured cycle changes the
account's episodes (a second position warns, then clears, alternately), so each cycle saves. The
save goes to a real SQLite journal (``synchronous="normal"``: the work, not the disk's fsync).
New: the account's own row ``(account, alert_episodes)`` via ``put_states``. Old (the reference,
what the daemon did before): the one row ``("*", alert_episodes)`` holding every account's
episodes. Bytes are the JSON handed to the journal per save.

Run: .venv/bin/python bench/hysteresis.py [--out FILE]
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import structlog  # noqa: E402

from riskguard.alerts.center import LEGACY_STATE_ACCOUNT, STATE_KEY, AlertCenter  # noqa: E402
from riskguard.alerts.config import AlertingConfig  # noqa: E402
from riskguard.alerts.hysteresis import Condition, episodes_to_json, track  # noqa: E402
from riskguard.alerts.outbox import MemoryOutbox  # noqa: E402
from riskguard.daemon.journal import SqliteJournal  # noqa: E402
from riskguard.daemon.journal.codec import encode_json  # noqa: E402
from riskguard.guard.rules.base import Level  # noqa: E402

RULES = ("liquidation_distance", "stop_loss", "shortfall")
SAVED_CYCLES = 200
"""Account cycles measured with a save, per number of accounts (spread over the accounts)."""


def conditions(account: str, symbol: str = "BTC/USDT:USDT") -> list[Condition]:
    return [
        Condition(
            account,
            rule,
            "finding",
            Level.WARN,
            f"{rule} warns",
            symbol=symbol,
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


Save = Callable[[SqliteJournal, AlertCenter, str], int]


def save_row_per_account(journal: SqliteJournal, center: AlertCenter, account: str) -> int:
    """What the daemon does now: the account's own row, with its state (bytes written)."""
    values = {STATE_KEY: center.take_state(account)}
    journal.put_states(account, values)
    return len(encode_json(values[STATE_KEY]))


def save_one_blob(journal: SqliteJournal, center: AlertCenter, account: str) -> int:  # noqa: ARG001
    """What the daemon did before: every account's episodes in one row (bytes written)."""
    center.take_changed()
    value = episodes_to_json(center.episodes)
    journal.put_state(LEGACY_STATE_ACCOUNT, STATE_KEY, value)
    return len(encode_json(value))


def save_cost(accounts: int, save: Save, folder: Path) -> tuple[float, float]:
    """µs per account cycle (track and save) and bytes per save, with ``accounts`` accounts."""
    names = [f"acct-{i}" for i in range(accounts)]
    now = [1_000_000]
    center = AlertCenter(MemoryOutbox(), [], AlertingConfig(), now_ms=lambda: now[0])
    path = folder / f"{save.__name__}-{accounts}.sqlite"
    with SqliteJournal(path, synchronous="normal") as journal:
        for name in names:
            center.conditions(name, conditions(name))
            save(journal, center, name)
        measured = min(SAVED_CYCLES, accounts)
        chosen = [names[i * accounts // measured] for i in range(measured)]
        rounds = max(1, SAVED_CYCLES // len(chosen))
        written = saves = 0
        started = time.perf_counter()
        for r in range(rounds):
            now[0] += 1000
            for name in chosen:
                found = conditions(name)
                if r % 2 == 0:  # a second position warns too; next cycle it clears
                    found += conditions(name, "ETH/USDT:USDT")
                center.conditions(name, found)
                if not center.changed(name):
                    raise SystemExit(f"{name}: the cycle changed nothing; the bench is wrong")
                written += save(journal, center, name)
                saves += 1
        elapsed = time.perf_counter() - started
    return elapsed / saves * 1e6, written / saves


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path)
    args = parser.parse_args(argv)
    # the first round's "entered" alerts are logged: not what is measured
    structlog.configure(logger_factory=structlog.ReturnLoggerFactory())
    lines = [
        f"# Alert center cost per account per cycle (python {platform.python_version()})",
        "",
        "## Tracking (no change, no save)",
        "",
        "| accounts | center (per account) µs | reference: all episodes at once µs |",
        "|---|---|---|",
    ]
    for accounts, rounds in ((10, 200), (100, 50), (1000, 5)):
        ours, reference = per_account_us(accounts, rounds)
        lines.append(f"| {accounts} | {ours:.1f} | {reference:.1f} |")
        print(lines[-1], flush=True)
    lines += [
        "",
        "## Tracking and saving (every measured cycle changes the account's episodes)",
        "",
        "| accounts | row per account µs | bytes per save | reference: one row of all µs "
        "| bytes per save |",
        "|---|---|---|---|---|",
    ]
    with tempfile.TemporaryDirectory() as tmp:
        for accounts in (10, 100, 1000):
            ours_us, ours_bytes = save_cost(accounts, save_row_per_account, Path(tmp))
            blob_us, blob_bytes = save_cost(accounts, save_one_blob, Path(tmp))
            lines.append(
                f"| {accounts} | {ours_us:.0f} | {ours_bytes:,.0f} | {blob_us:.0f} "
                f"| {blob_bytes:,.0f} |"
            )
            print(lines[-1], flush=True)
    if args.out is not None:
        args.out.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
