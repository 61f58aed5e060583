"""Every asset is where the venue's ledger says, after any mix of borrows, trades, repayments,
interest and liquidations: held = deposits + borrowed - repaid + market - fees, owed = borrowed
- repaid principal + interest - repaid interest - written off."""

from __future__ import annotations

import random

import ccxt.async_support as ccxt
import pytest

from riskguard.paper.market import SlippageModel
from riskguard.paper.spot_margin.rules import MarginRules

from .kit import venue


@pytest.mark.parametrize("bad_debt", ["user", "risk_fund"])
@pytest.mark.parametrize("seed", range(6))
def test_the_ledger_accounts_for_every_asset_after_random_activity(
    seed: int, bad_debt: str
) -> None:
    rng = random.Random(seed)
    closes = [100.0]
    for i in range(1500):
        shock = -0.35 if i in (400, 900) else rng.gauss(0, 0.01)
        closes.append(max(1.0, closes[-1] * (1 + shock)))
    v = venue(
        closes,
        frictionless=False,
        range_pct=0.5,
        slippage=SlippageModel(0.0005, 0.001, 0.5),
        rules=MarginRules(
            interest_per_hour={"USDT": 0.001, "BTC": 0.0005},
            bad_debt_paid_by=bad_debt,  # type: ignore[arg-type]
        ),
    )
    for name in ("x", "y"):
        v.add_account(name, {"USDT": 1000, "BTC": 1})
    v.create_order("x", "BTC/USDT", "market", "buy", 30, side_effect="MARGIN_BUY")
    v.create_order("y", "BTC/USDT", "market", "sell", 15, side_effect="MARGIN_BUY")
    effects = ["NO_SIDE_EFFECT", "MARGIN_BUY", "AUTO_REPAY", "AUTO_BORROW_REPAY"]
    for _ in range(300):
        v.advance_to(v.now_ms + rng.randrange(1, 600_000))
        name = rng.choice(["x", "y"])
        try:
            match rng.randrange(4):
                case 0:
                    v.borrow(name, rng.choice(["USDT", "BTC"]), rng.uniform(1, 500))
                case 1:
                    asset = rng.choice(["USDT", "BTC"])
                    v.repay(name, asset, rng.uniform(0.1, 1) * v.accounts[name].asset(asset).debt)
                case _:
                    kind = rng.choice(["market", "limit"])
                    price = v.last_price("BTC/USDT") * rng.uniform(0.95, 1.05)
                    v.create_order(
                        name, "BTC/USDT", kind, rng.choice(["buy", "sell"]),
                        rng.uniform(0.01, 20), price if kind == "limit" else None,
                        side_effect=rng.choice(effects),
                    )  # fmt: skip
        except (ccxt.BadRequest, ccxt.InsufficientFunds, ccxt.InvalidOrder):
            pass

        for asset in ("USDT", "BTC"):
            held = sum(acc.asset(asset).held for acc in v.accounts.values())
            owed = sum(acc.asset(asset).debt for acc in v.accounts.values())
            assert held == pytest.approx(v.ledger.expected_held(asset), abs=1e-6)
            assert owed == pytest.approx(v.ledger.expected_owed(asset), abs=1e-6)
    assert v.liquidations  # the two 35% shocks liquidate the long
