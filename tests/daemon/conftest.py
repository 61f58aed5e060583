"""Config files for daemon tests: a small paper book written to a temporary folder."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

BTC_TIERS = [
    {"min_notional": 0, "max_notional": 50000, "maintenance_margin_rate": 0.004},
    {"min_notional": 50000, "maintenance_margin_rate": 0.005},
]


def paper_config(
    journal: Path,
    *,
    leverage: float = 20,
    crash_pct: float = -30,
    accounts: int = 1,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """A paper daemon config: ``accounts`` accounts each with one isolated BTC long."""
    ids = [f"acct{i}" for i in range(accounts)]
    document: dict[str, Any] = {
        "accounts": [{"id": i, "exchange": "paper"} for i in ids],
        "guard": {"poll_interval_s": 5},
        "journal": {"path": str(journal), "synchronous": "normal", "snapshot_every_s": 30},
        "metrics": {"enabled": False},
        "logging": {"level": "warning", "json_lines": True},
        "paper": {
            "venue": "binance",
            "clock": {"mode": "paced", "speed": 600},
            "markets": [
                {
                    "symbol": "BTC/USDT:USDT",
                    "tiers": BTC_TIERS,
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
                }
            ],
            "accounts": [
                {
                    "id": i,
                    "balance": 10000,
                    "positions": [
                        {
                            "symbol": "BTC/USDT:USDT",
                            "side": "long",
                            "leverage": leverage,
                            "margin_mode": "isolated",
                            "notional": 40000,
                        }
                    ],
                }
                for i in ids
            ],
        },
    }
    document.update(extra or {})
    return document


def write_config(folder: Path, document: dict[str, Any]) -> Path:
    path = folder / "riskguard.yaml"
    path.write_text(yaml.safe_dump(document, sort_keys=False), encoding="utf-8")
    return path
