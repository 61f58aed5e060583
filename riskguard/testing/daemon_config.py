"""The config document of a daemon guarding paper accounts through a crash (for ``riskguard run``).

A decoded YAML document: write it with ``yaml.safe_dump`` and give the file to ``riskguard run``,
``check`` or ``riskguard.config.load_config``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from riskguard.testing.paper import paper_section


def paper_daemon_config(
    journal: Path | str,
    *,
    leverage: float = 20,
    crash_pct: float = -30,
    accounts: int = 1,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A whole config file: ``accounts`` paper accounts ``acct0``, ``acct1``, ... each with one
    isolated BTC long, guarded by the default rules, journalled to ``journal``.

    Each paper account holds 10,000 and a long of 40,000 notional at ``leverage``. The market
    has Binance's first two BTC brackets (0.4% to 50,000, then 0.5%) and a seeded jump-diffusion
    feed from 100,000 (2% a day, 120 one-minute bars) that moves ``crash_pct`` percent over bars
    10 to 40; the clock is paced at 600 simulated seconds per wall second. The guard polls every
    5 s; metrics are off and logs are JSON lines at ``warning``. ``extra`` replaces or adds
    top-level sections (``rules``, ``alerts``, ``daemon``, ...).
    """
    ids = [f"acct{i}" for i in range(accounts)]
    document: dict[str, Any] = {
        "accounts": [{"id": i, "exchange": "paper"} for i in ids],
        "guard": {"poll_interval_s": 5},
        "journal": {"path": str(journal), "synchronous": "normal", "snapshot_every_s": 30},
        "metrics": {"enabled": False},
        "logging": {"level": "warning", "json_lines": True},
        "paper": paper_section(
            accounts=ids,
            balance=10000,
            leverage=leverage,
            notional=40000,
            clock={"mode": "paced", "speed": 600},
            market={
                "tiers": [
                    {"min_notional": 0, "max_notional": 50000, "maintenance_margin_rate": 0.004},
                    {"min_notional": 50000, "maintenance_margin_rate": 0.005},
                ],
                "amount_step": 0.001,
                "min_amount": 0.001,
                "feed": {
                    "jump_diffusion": {
                        "start_price": 100000,
                        "start": "2024-01-01T00:00:00Z",
                        "daily_volatility_pct": 2,
                        "bars": 120,
                        "seed": 3,
                        "crash_at_bar": 10,
                        "crash_pct": crash_pct,
                        "crash_bars": 30,
                    }
                },
            },
        ),
    }
    document.update(extra or {})
    return document
