"""Judging a spot margin account: how far its prices can move before the venue liquidates it,
what it would owe past its assets in a gap, and the repayment that restores a safe distance.

Pure: a :class:`~riskguard.exchange.margin_account.MarginAccountReading`'s account and rule in,
a :class:`MarginVerdict` out. The distance is the common move of every non-quote price that
brings the account to the venue's liquidation level (:func:`~riskguard.risk.liquidation_move`),
so a long on two coins is judged as the crash that takes both. Levels:

- ``WARN`` below ``warn_distance_pct``;
- ``ACT`` below ``act_distance_pct``: repay until the distance is ``target_distance_pct``;
- ``CRITICAL`` at or past the venue's liquidation level, or when the account would owe more
  than its assets in the configured gap (``gap_pct``): repay as far as the loan allows.

The remedy is sized by bisection on the traded amount against the distance itself (not on a
level, whose units differ by venue), capped by what is held (a sell) and what is owed.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from riskguard.config import SpotMarginRuleConfig
from riskguard.guard.rules.base import Level
from riskguard.risk import (
    MarginLoanAccount,
    MarginVenueRule,
    after_buy_to_repay,
    after_sell_to_repay,
    assess,
    liquidation_move,
    shortfall_scenarios,
)

BISECTION_STEPS = 48


@dataclass(frozen=True, slots=True)
class MarginSettings:
    """Thresholds of the spot margin rule (percent of the current prices)."""

    warn_distance_pct: float = 25.0
    act_distance_pct: float = 15.0
    target_distance_pct: float = 30.0
    gap_pct: float = 30.0
    cost_rate: float = 0.002
    """Fee and slippage assumed on the remedy's trade, as a rate of its value."""

    def __post_init__(self) -> None:
        if not 0 < self.act_distance_pct <= self.warn_distance_pct:
            raise ValueError("act_distance_pct must be positive and at most warn_distance_pct")
        if self.target_distance_pct <= self.act_distance_pct:
            raise ValueError("target_distance_pct must be above act_distance_pct")
        if not 0 < self.gap_pct < 100:
            raise ValueError("gap_pct must be within (0, 100)")
        if not 0 <= self.cost_rate < 0.1:
            raise ValueError("cost_rate must be within [0, 0.1)")


def settings_from(rule: SpotMarginRuleConfig) -> MarginSettings:
    """The judge's settings from a config's ``guard.spot_margin`` section."""
    return MarginSettings(
        warn_distance_pct=rule.warn_distance_pct,
        act_distance_pct=rule.act_distance_pct,
        target_distance_pct=rule.target_distance_pct,
        gap_pct=rule.gap_pct,
        cost_rate=rule.cost_rate_pct / 100.0,
    )


@dataclass(frozen=True, slots=True)
class Remedy:
    """One repaying trade: ``sell`` a held asset (proceeds repay the quote loan) or ``buy`` back
    a borrowed one. ``amount`` in the asset; ``distance_after_pct`` the distance it leaves."""

    side: str
    asset: str
    amount: float
    quote_value: float
    distance_after_pct: float | None
    reaches_target: bool


@dataclass(frozen=True, slots=True)
class MarginVerdict:
    """What the rule found, with its figures, and the remedy where it acts."""

    level: Level
    message: str
    margin_level: float
    liquidation_level: float | None
    distance_pct: float | None
    direction: str | None
    gap_shortfall: float
    remedy: Remedy | None

    def figures(self) -> dict[str, float | str | None]:
        """The numbers behind the verdict, for the journal and the alert."""
        return {
            "margin_level": self.margin_level,
            "liquidation_level": self.liquidation_level,
            "distance_pct": self.distance_pct,
            "direction": self.direction,
            "gap_shortfall": self.gap_shortfall,
        }


def distance(account: MarginLoanAccount, rule: MarginVenueRule) -> tuple[float | None, str | None]:
    """(percent, "fall" | "rise") of the common price move to liquidation; (0, None) when the
    account is already there; (None, None) when no move reaches it (nothing owed)."""
    move = liquidation_move(account, rule)
    if move.already:
        return 0.0, None
    if not move.reachable or move.move is None:
        return None, None
    return abs(move.move) * 100.0, "fall" if move.move < 0 else "rise"


def _gap_shortfall(account: MarginLoanAccount, direction: str | None, gap_pct: float) -> float:
    moves = [-gap_pct / 100.0] if direction == "fall" else [gap_pct / 100.0]
    if direction is None:
        moves = [-gap_pct / 100.0, gap_pct / 100.0]
    return shortfall_scenarios(account, moves).worst.shortfall


def _largest(account: MarginLoanAccount, sell: bool) -> str | None:
    rows = [a for a in account.assets if a.asset != account.quote]
    if sell:
        rows = [a for a in rows if a.held > 0]
        return max(rows, key=lambda a: a.held * a.price).asset if rows else None
    rows = [a for a in rows if a.owed > 0]
    return max(rows, key=lambda a: a.owed * a.price).asset if rows else None


def size_remedy(
    account: MarginLoanAccount, rule: MarginVenueRule, direction: str, settings: MarginSettings
) -> Remedy | None:
    """The smallest repaying trade that leaves ``target_distance_pct`` to liquidation, or the
    largest the loan allows when none does. None when there is nothing to trade."""
    sell = direction == "fall"
    asset = _largest(account, sell)
    if asset is None:
        return None
    row = account.get(asset)
    quote = account.get(account.quote)
    if row is None:
        return None
    quote_owed = quote.owed if quote is not None else 0.0
    quote_held = quote.held if quote is not None else 0.0
    if sell:
        per_unit = row.price * (1.0 - settings.cost_rate)
        cap = min(row.held, quote_owed / per_unit if per_unit > 0 else 0.0)
    else:
        per_unit = row.price * (1.0 + settings.cost_rate)
        cap = min(row.owed, quote_held / per_unit if per_unit > 0 else 0.0)
    if cap <= 0:
        return None
    apply = after_sell_to_repay if sell else after_buy_to_repay

    def far_enough(amount: float) -> tuple[bool, float | None]:
        pct, _ = distance(apply(account, asset, amount, settings.cost_rate), rule)
        return pct is None or pct >= settings.target_distance_pct, pct

    reached, after = far_enough(cap)
    amount = cap
    if reached:
        low, high = 0.0, cap
        for _ in range(BISECTION_STEPS):
            middle = (low + high) / 2.0
            ok, _ = far_enough(middle)
            if ok:
                high = middle
            else:
                low = middle
        amount = high
        _, after = far_enough(amount)
    return Remedy(
        side="sell" if sell else "buy",
        asset=asset,
        amount=amount,
        quote_value=amount * per_unit,
        distance_after_pct=after,
        reaches_target=reached,
    )


def judge(
    account: MarginLoanAccount, rule: MarginVenueRule, settings: MarginSettings
) -> MarginVerdict:
    """The account's verdict and, at ACT or CRITICAL, the remedy."""
    assessment = assess(account, rule)
    pct, direction = distance(account, rule)
    gap = _gap_shortfall(account, direction, settings.gap_pct)
    if pct is None:
        level = Level.OK
        said = "nothing borrowed that a price move could liquidate"
    elif assessment.liquidating or pct == 0.0:
        level = Level.CRITICAL
        said = "at the venue's liquidation level"
    else:
        said = f"a {pct:.2f}% {direction} of every coin against {account.quote} liquidates it"
        if gap > 0:
            level = Level.CRITICAL
            said += f"; a {settings.gap_pct:g}% gap would leave {gap:,.2f} owed past its assets"
        elif pct < settings.act_distance_pct:
            level = Level.ACT
        elif pct < settings.warn_distance_pct:
            level = Level.WARN
        else:
            level = Level.OK
    remedy = None
    if level >= Level.ACT:
        move_direction = direction or _direction_now(account)
        remedy = size_remedy(account, rule, move_direction, settings)
    liquidation_level = rule.liquidation_level
    message = (
        f"{account.label} margin account: level {assessment.level:.4g} "
        f"(liquidation at {liquidation_level if liquidation_level is not None else '-'}); {said}"
    )
    return MarginVerdict(
        level=level,
        message=message,
        margin_level=assessment.level,
        liquidation_level=liquidation_level,
        distance_pct=pct,
        direction=direction,
        gap_shortfall=gap,
        remedy=remedy,
    )


def _direction_now(account: MarginLoanAccount) -> str:
    """At the liquidation level already: a fall hurts an account whose held coins outweigh its
    borrowed coins (a long), a rise the opposite."""
    net = sum(a.net * a.price for a in account.assets if a.asset != account.quote)
    return "fall" if net >= 0 or math.isnan(net) else "rise"
