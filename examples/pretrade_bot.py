"""A ccxt-style bot that asks riskguard before every entry.

The bot talks to its exchange through ccxt (here the paper venue, which has the same methods, so
this runs without keys or network). Before each entry it builds the account snapshot from what
ccxt returns and calls `pre_trade_check` with the guard's rules: it skips entries the guard would
act against (deny), and goes ahead with a warning otherwise.

Run: .venv/bin/python examples/pretrade_bot.py
"""

from __future__ import annotations

import asyncio
from pathlib import Path

from riskguard.clock import to_datetime
from riskguard.config import load_config
from riskguard.domain import MarginMode
from riskguard.exchange.ccxt_account import snapshot_from_ccxt, tiers_from_ccxt
from riskguard.guard import guard_risk_settings
from riskguard.guard.pretrade import Decision, ProposedOrder, pre_trade_check
from riskguard.guard.rules.registry import build_rules
from riskguard.paper.config import build_paper

CONFIG = Path(__file__).resolve().parents[1] / "config" / "guard-paper.yaml"
SYMBOL = "BTC/USDT:USDT"


async def main() -> None:
    config = load_config(CONFIG)
    if config.paper is None:
        raise SystemExit(f"{CONFIG}: needs a paper section")
    setup = build_paper(config.paper, CONFIG.parent)
    setup.venue.add_account("bot", 10_000.0)  # a fresh account for the bot
    exchange = setup.client("bot", label="bot")  # a ccxt exchange object in a real bot
    await exchange.set_leverage(20, SYMBOL)
    rules = build_rules(config.rules)
    markets = await exchange.load_markets()
    tiers = {SYMBOL: tiers_from_ccxt(await exchange.fetch_market_leverage_tiers(SYMBOL))}

    settings = guard_risk_settings(config.guard, {}, config.guard.poll_interval_s + 1.0)
    for size in (0.2, 0.6, 1.4):  # the entries the bot's strategy wants, in BTC
        snapshot = snapshot_from_ccxt(
            account="bot",
            venue="binance",
            balance=await exchange.fetch_balance(),
            positions=await exchange.fetch_positions(),
            markets=markets,
            tiers=tiers,
            taken_at=to_datetime(exchange.milliseconds()),
        )
        price = (await exchange.fetch_ticker(SYMBOL))["last"]
        order = ProposedOrder(
            SYMBOL,
            "buy",
            size,
            price,
            margin_mode=MarginMode.CROSS,
            leverage=20,
            tiers=tiers[SYMBOL],
            taker_fee=markets[SYMBOL]["taker"],
        )
        verdict = pre_trade_check(
            snapshot,
            order,
            rules,
            now=snapshot.taken_at,
            horizon_s=settings.horizon_s,
            settings=settings,
        )
        distance = "n/a" if verdict.distance_pct is None else f"{verdict.distance_pct:.1f}%"
        print(
            f"buy {size} BTC: {verdict.decision.value}; liquidation "
            f"{verdict.liquidation_price or 0:,.0f} ({distance} away), "
            f"shortfall {verdict.shortfall:,.2f}"
        )
        for finding in verdict.objections:
            print(f"    {finding.rule}: {finding.message}")
        if verdict.decision is Decision.DENY:
            print("    skipped: the guard would act against this position")
            continue
        await exchange.create_order(SYMBOL, "market", "buy", size / markets[SYMBOL]["contractSize"])


if __name__ == "__main__":
    asyncio.run(main())
