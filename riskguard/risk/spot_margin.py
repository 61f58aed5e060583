"""Spot margin accounts (borrowing): margin level, the move to liquidation, the shortfall past it.

A spot margin account holds assets and owes loans (borrowed amount plus accrued interest), all
valued in the account's quote asset (USDT). Nothing here does I/O; prices are given.

    held_i      free + locked units of asset i              (what the venue can sell)
    owed_i      borrowed_i + interest_i                     (what must be repaid, in units of i)
    net_i       held_i - owed_i

How each venue turns that into its ratio (a :class:`MarginVenueRule`, data, one per venue):

- Binance cross and isolated margin, *margin level* (higher is safer)::

      level = sum(held_i * p_i) / sum(owed_i * p_i)

  Cross (classic, 3x): margin call at level <= 1.3, liquidation at <= 1.1. Isolated: each pair is
  its own account; the liquidation level is the pair's tier's ``liquidationRiskRatio``
  (``GET /sapi/v1/margin/isolatedMarginTier``, e.g. 1.05 for a 10x tier), given by the caller.
  Collateral ratios (haircuts) change Binance's *collateral* margin level, which limits borrowing
  and transfers, not the margin level that liquidates: they are not applied here.
  https://www.binance.com/en/support/faq/binance-margin-level-and-margin-call-360030493931
  https://binance.com/en/support/faq/binance-cross-margin-trading-guide-360041505471
- OKX (spot and margin, cross or isolated), *margin ratio* (higher is safer, liquidation at
  <= 100%)::

      ratio = equity / (maintenance margin + fees)
      equity = sum(net_i * p_i * (haircut_i if net_i > 0 else 1))
      requirement = sum(owed_i * p_i * ((1 + mmr_i) * (1 + fee) - 1))

  which is OKX's own liquidation condition ``assets = liabilities * (1 + MMR) * (1 + taker fee)``
  (its estimated liquidation price formula) when every haircut is 1.
  https://supdljgzdhc.okx.com/hc/en-us/articles/10665080281997-V-Quick-Margin-Mode
  https://www.okx.com/help/iv-multi-currency-margin-mode-cross-margin-trading
- Bybit unified account (cross margin), *account maintenance margin rate* (lower is safer,
  liquidation when it reaches 100%)::

      MM rate = requirement / margin balance        (the inverse of OKX's ratio, without fees)

  https://www.bybit.com/en/help-center/article/UTA-Trading-Rules
  https://bybit-exchange.github.io/docs/v5/account/wallet-balance

Internally every rule is read as a *health* ``h = numerator / denominator`` that falls towards
liquidation; both terms are linear in every price, so ``h = h_liq`` has a closed-form solution
for one price, or for one common move of every non-quote price. Bybit's rate is reported in its own
units (``1 / h``) wherever a level leaves this module.

The shortfall is what the user would owe past bankruptcy: ``max(0, sum(owed * p) - sum(held * p))``
at market value, no haircut and no fee.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from enum import StrEnum

from riskguard.errors import InputError

_BINANCE_LEVEL = (
    "https://www.binance.com/en/support/faq/binance-margin-level-and-margin-call-360030493931"
)
_BINANCE_GUIDE = (
    "https://binance.com/en/support/faq/binance-cross-margin-trading-guide-360041505471"
)
_BINANCE_TIERS = (
    "https://developers.binance.com/docs/margin_trading/market-data/Query-Isolated-Margin-Tier-Data"
)
_OKX_QUICK = "https://supdljgzdhc.okx.com/hc/en-us/articles/10665080281997-V-Quick-Margin-Mode"
_OKX_MULTI = "https://www.okx.com/help/iv-multi-currency-margin-mode-cross-margin-trading"
_BYBIT_LIQ = "https://www.bybit.com/en/help-center/article/UTA-Trading-Rules"
_BYBIT_WALLET = "https://bybit-exchange.github.io/docs/v5/account/wallet-balance"


class RatioKind(StrEnum):
    """How a venue defines the ratio it liquidates on."""

    ASSETS_OVER_LIABILITIES = "assets_over_liabilities"  # Binance margin level
    EQUITY_OVER_MAINTENANCE = "equity_over_maintenance"  # OKX margin ratio
    MAINTENANCE_OVER_EQUITY = "maintenance_over_equity"  # Bybit account MM rate


@dataclass(frozen=True, slots=True)
class MarginVenueRule:
    """One venue's spot-margin ratio and its thresholds, in the venue's own units.

    ``liquidation_level`` None means the level depends on the account (Binance isolated tiers):
    :func:`with_levels` gives it. For ``MAINTENANCE_OVER_EQUITY`` the levels are rates that rise
    towards liquidation (Bybit: liquidation at 1.0); for the other kinds levels fall towards it.
    """

    name: str
    venue: str
    kind: RatioKind
    ratio_name: str
    margin_call_level: float | None
    liquidation_level: float | None
    haircut_applies: bool
    fee_in_requirement: bool
    summary: str
    sources: tuple[str, ...]

    def health_threshold(self) -> float:
        """The liquidation threshold as a health (numerator / denominator, falls to it)."""
        level = self.liquidation_level
        if level is None or not math.isfinite(level) or level <= 0:
            raise InputError(
                f"{self.name}: no liquidation level; give the account's level (with_levels)"
            )
        if self.kind is RatioKind.MAINTENANCE_OVER_EQUITY:
            return 1.0 / level
        return level

    def to_venue_units(self, health: float) -> float:
        """A health as the venue reports its ratio (Bybit: the inverse; others: the same)."""
        if self.kind is not RatioKind.MAINTENANCE_OVER_EQUITY:
            return health
        if health == math.inf:
            return 0.0
        return math.inf if health <= 0 else 1.0 / health

    def to_health(self, venue_level: float) -> float:
        """A level in the venue's units as a health."""
        if self.kind is not RatioKind.MAINTENANCE_OVER_EQUITY:
            return venue_level
        return math.inf if venue_level <= 0 else 1.0 / venue_level


BINANCE_CROSS = MarginVenueRule(
    name="binance_cross",
    venue="binance",
    kind=RatioKind.ASSETS_OVER_LIABILITIES,
    ratio_name="margin level",
    margin_call_level=1.3,
    liquidation_level=1.1,
    haircut_applies=False,
    fee_in_requirement=False,
    summary="Binance cross margin (classic): total asset value / (borrowed + interest); "
    "margin call at 1.3, liquidation at 1.1 (read the account's own bars from "
    "marginTradeCoeffVo / tradeCoeff when available)",
    sources=(_BINANCE_LEVEL, _BINANCE_GUIDE),
)
BINANCE_ISOLATED = MarginVenueRule(
    name="binance_isolated",
    venue="binance",
    kind=RatioKind.ASSETS_OVER_LIABILITIES,
    ratio_name="margin level",
    margin_call_level=None,
    liquidation_level=None,
    haircut_applies=False,
    fee_in_requirement=False,
    summary="Binance isolated margin, per pair: (base + quote assets) / (base + quote owed); "
    "liquidation at the pair tier's liquidationRiskRatio (e.g. 1.05), given per account",
    sources=(_BINANCE_LEVEL, _BINANCE_TIERS),
)
OKX_MARGIN = MarginVenueRule(
    name="okx_margin",
    venue="okx",
    kind=RatioKind.EQUITY_OVER_MAINTENANCE,
    ratio_name="margin ratio",
    margin_call_level=None,
    liquidation_level=1.0,
    haircut_applies=True,
    fee_in_requirement=True,
    summary="OKX spot margin: equity / (maintenance margin + fees); liquidation at 100%",
    sources=(_OKX_QUICK, _OKX_MULTI),
)
BYBIT_UTA = MarginVenueRule(
    name="bybit_uta",
    venue="bybit",
    kind=RatioKind.MAINTENANCE_OVER_EQUITY,
    ratio_name="account MM rate",
    margin_call_level=None,
    liquidation_level=1.0,
    haircut_applies=True,
    fee_in_requirement=False,
    summary="Bybit unified account (cross): maintenance margin / margin balance; "
    "liquidation when it reaches 100%",
    sources=(_BYBIT_LIQ, _BYBIT_WALLET),
)

MARGIN_RULES: dict[str, MarginVenueRule] = {
    r.name: r for r in (BINANCE_CROSS, BINANCE_ISOLATED, OKX_MARGIN, BYBIT_UTA)
}


def with_levels(
    rule: MarginVenueRule, *, liquidation: float, margin_call: float | None = None
) -> MarginVenueRule:
    """The rule with an account's own levels (a Binance isolated tier, a cross account's bars)."""
    if not math.isfinite(liquidation) or liquidation <= 0:
        raise InputError(f"{rule.name}: liquidation level must be positive, got {liquidation}")
    return replace(rule, liquidation_level=liquidation, margin_call_level=margin_call)


def _check(name: str, value: float, *, positive: bool = False) -> None:
    if not math.isfinite(value) or value < 0 or (positive and value == 0):
        need = "positive" if positive else "zero or more"
        raise InputError(f"{name}: must be a finite number, {need}; got {value!r}")


@dataclass(frozen=True, slots=True)
class MarginAsset:
    """One asset of a margin account, amounts in units of the asset, price in the quote.

    ``haircut`` is the venue's collateral ratio (1.0 = full value), applied to a positive net on
    venues whose rule applies it. ``maintenance_rate`` is the venue's maintenance margin rate on
    this asset's loan (OKX, Bybit); Binance does not use it.
    """

    asset: str
    held: float
    borrowed: float = 0.0
    interest: float = 0.0
    price: float = 1.0
    haircut: float = 1.0
    maintenance_rate: float = 0.0

    def __post_init__(self) -> None:
        if not self.asset:
            raise InputError("asset: empty asset name")
        for name in ("held", "borrowed", "interest", "maintenance_rate"):
            _check(f"{self.asset}.{name}", getattr(self, name))
        _check(f"{self.asset}.price", self.price, positive=True)
        if not 0.0 <= self.haircut <= 1.0:
            raise InputError(f"{self.asset}.haircut: must be within [0, 1], got {self.haircut!r}")

    @property
    def owed(self) -> float:
        """Borrowed plus accrued interest, in units of the asset."""
        return self.borrowed + self.interest

    @property
    def net(self) -> float:
        """Held less owed (negative: the account is short this asset)."""
        return self.held - self.owed


@dataclass(frozen=True, slots=True)
class MarginLoanAccount:
    """A spot margin account (cross, or one isolated pair) valued in its quote asset.

    The quote asset, when listed, must have price 1. ``closing_fee_rate`` is the taker fee the
    venue charges to close (OKX counts it in the requirement).
    """

    quote: str
    assets: tuple[MarginAsset, ...]
    closing_fee_rate: float = 0.0
    label: str = "cross"

    def __post_init__(self) -> None:
        names = [a.asset for a in self.assets]
        if len(set(names)) != len(names):
            raise InputError(f"assets: an asset is listed twice in {names}")
        _check("closing_fee_rate", self.closing_fee_rate)
        quote = self.get(self.quote)
        if quote is not None and quote.price != 1.0:
            raise InputError(f"{self.quote}.price: the quote asset's price must be 1")

    def get(self, asset: str) -> MarginAsset | None:
        """The asset's row, or None."""
        return next((a for a in self.assets if a.asset == asset), None)

    def at_prices(self, prices: Mapping[str, float]) -> MarginLoanAccount:
        """The same account with some prices replaced (the quote keeps price 1)."""
        unknown = set(prices) - {a.asset for a in self.assets}
        if unknown:
            raise InputError(f"prices: no such asset in the account: {sorted(unknown)}")
        rows = tuple(replace(a, price=prices.get(a.asset, a.price)) for a in self.assets)
        return replace(self, assets=rows)

    def moved(self, move: float, asset: str | None = None) -> MarginLoanAccount:
        """Prices moved by the fraction ``move``: one asset, or every non-quote asset."""
        if move <= -1.0:
            raise InputError(f"move: a price cannot fall by {move:.0%} or more")
        rows = tuple(
            replace(a, price=a.price * (1.0 + move))
            if a.asset != self.quote and (asset is None or a.asset == asset)
            else a
            for a in self.assets
        )
        return replace(self, assets=rows)


# --- the ratio as two linear terms ----------------------------------------------------------


def _coefficients(
    account: MarginLoanAccount, rule: MarginVenueRule
) -> dict[str, tuple[float, float]]:
    """Per asset, (numerator, denominator) per unit of its price: each term is sum(coef * p)."""
    coefs: dict[str, tuple[float, float]] = {}
    fee = account.closing_fee_rate if rule.fee_in_requirement else 0.0
    for a in account.assets:
        if rule.kind is RatioKind.ASSETS_OVER_LIABILITIES:
            coefs[a.asset] = (a.held, a.owed)
        else:
            weight = a.haircut if (rule.haircut_applies and a.net > 0) else 1.0
            requirement = (1.0 + a.maintenance_rate) * (1.0 + fee) - 1.0
            if a.owed > 0 and requirement <= 0:
                raise InputError(
                    f"{a.asset}.maintenance_rate: {rule.name} needs the venue's rate on this loan"
                )
            coefs[a.asset] = (a.net * weight, a.owed * requirement)
    return coefs


def ratio_terms(account: MarginLoanAccount, rule: MarginVenueRule) -> tuple[float, float]:
    """The ratio's numerator and denominator (health = numerator / denominator)."""
    coefs = _coefficients(account, rule)
    prices = {a.asset: a.price for a in account.assets}
    numerator = math.fsum(n * prices[k] for k, (n, _) in coefs.items())
    denominator = math.fsum(d * prices[k] for k, (_, d) in coefs.items())
    return numerator, denominator


def _health(numerator: float, denominator: float) -> float:
    if denominator > 0:
        return numerator / denominator
    if numerator > 0:
        return math.inf
    return 0.0 if numerator == 0 else -math.inf


@dataclass(frozen=True, slots=True)
class MarginAssessment:
    """An account's values and its ratio, by one venue's rule.

    ``level`` is in the venue's units (Binance margin level, OKX margin ratio, Bybit MM rate);
    ``health`` is the same ratio oriented to fall towards liquidation (equal but for Bybit).
    ``requirement`` is the maintenance margin (plus fees) for equity-based rules, else 0.
    """

    rule: str
    assets_value: float
    liabilities_value: float
    equity: float
    collateral_equity: float
    requirement: float
    level: float
    health: float
    margin_call: bool
    liquidating: bool


def assess(account: MarginLoanAccount, rule: MarginVenueRule) -> MarginAssessment:
    """The account's assets, liabilities, equity and the venue's ratio, with its alarms."""
    assets_value = math.fsum(a.held * a.price for a in account.assets)
    liabilities_value = math.fsum(a.owed * a.price for a in account.assets)
    numerator, denominator = ratio_terms(account, rule)
    health = _health(numerator, denominator)
    level = rule.to_venue_units(health)
    call = rule.margin_call_level
    liquidation = rule.liquidation_level
    if rule.kind is RatioKind.MAINTENANCE_OVER_EQUITY:
        in_call = call is not None and level >= call
        liquidating = liquidation is not None and level >= liquidation
    else:
        in_call = call is not None and level <= call
        liquidating = liquidation is not None and level <= liquidation
    equity_based = rule.kind is not RatioKind.ASSETS_OVER_LIABILITIES
    return MarginAssessment(
        rule=rule.name,
        assets_value=assets_value,
        liabilities_value=liabilities_value,
        equity=assets_value - liabilities_value,
        collateral_equity=numerator if equity_based else assets_value - liabilities_value,
        requirement=denominator if equity_based else 0.0,
        level=level,
        health=health,
        margin_call=in_call or liquidating,
        liquidating=liquidating,
    )


def margin_level(account: MarginLoanAccount, rule: MarginVenueRule) -> float:
    """The venue's ratio for the account, in the venue's units (inf / 0 when nothing is owed)."""
    return assess(account, rule).level


# --- the move that reaches a threshold ------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ThresholdMove:
    """The price move that brings the account to a threshold, or why there is none.

    ``asset`` None: every non-quote price moved together. ``move`` is a fraction of the current
    price (-0.2 = a 20% fall); ``price`` is the asset's price there (None for a common move).
    ``reachable`` False: no positive price reaches it (``move`` and ``price`` are None).
    ``already`` True: the account is at or past the threshold now (``move`` 0).
    """

    asset: str | None
    threshold: float
    move: float | None
    price: float | None
    reachable: bool
    already: bool
    reason: str


def _solve_move(
    account: MarginLoanAccount,
    coefs: Mapping[str, tuple[float, float]],
    health_target: float,
    asset: str | None,
    threshold: float,
) -> ThresholdMove:
    def value(k: str) -> float:
        numerator, denominator = coefs[k]
        return numerator - health_target * denominator

    prices = {a.asset: a.price for a in account.assets}
    now = math.fsum(value(k) * prices[k] for k in coefs)
    moving = [k for k in coefs if k != account.quote and (asset is None or k == asset)]
    slope = math.fsum(value(k) * prices[k] for k in moving)

    def result(move: float | None, reason: str, *, already: bool = False) -> ThresholdMove:
        price = None
        if move is not None and asset is not None:
            price = prices[asset] * (1.0 + move)
        return ThresholdMove(
            asset, threshold, move, price, move is not None, already and move is not None, reason
        )

    if asset is not None and asset not in coefs:
        raise InputError(f"asset: {asset!r} is not in the account")
    if asset == account.quote:
        return result(None, f"{asset} is the quote asset: its price does not move")
    if not any(a.owed > 0 for a in account.assets):
        return result(None, "nothing is owed: no price move can liquidate the account")
    if now <= 0:
        return result(0.0, "the account is at or past the threshold now", already=True)
    if slope == 0 or not moving:
        return result(None, "these prices do not change the ratio")
    move = -now / slope
    if move <= -1.0:
        return result(None, "only a price at or below zero would reach it")
    direction = "fall" if move < 0 else "rise"
    return result(move, f"a {abs(move):.2%} {direction} reaches it")


def liquidation_move(
    account: MarginLoanAccount, rule: MarginVenueRule, asset: str | None = None
) -> ThresholdMove:
    """The move of one asset's price (or of every non-quote price) to the liquidation level.

    A long (held asset, borrowed quote) is liquidated by a fall, a short (borrowed asset, held
    quote) by a rise, a mixed account by whichever its net exposure gives; one move only, since
    the ratio's two terms are linear in each price.
    """
    threshold = rule.liquidation_level
    health = rule.health_threshold()
    return _solve_move(account, _coefficients(account, rule), health, asset, threshold or health)


def margin_call_move(
    account: MarginLoanAccount, rule: MarginVenueRule, asset: str | None = None
) -> ThresholdMove:
    """As :func:`liquidation_move`, to the margin-call level (InputError if the rule has none)."""
    if rule.margin_call_level is None:
        raise InputError(f"{rule.name}: no margin-call level")
    health = rule.to_health(rule.margin_call_level)
    return _solve_move(account, _coefficients(account, rule), health, asset, rule.margin_call_level)


def bankruptcy_move(account: MarginLoanAccount, asset: str | None = None) -> ThresholdMove:
    """The move at which the assets' market value equals what is owed (equity zero)."""
    coefs = {a.asset: (a.held, a.owed) for a in account.assets}
    return _solve_move(account, coefs, 1.0, asset, 1.0)


# --- the shortfall past bankruptcy ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ShortfallOutcome:
    """One stressed state: what the assets fetch, what is owed, and what is left owing."""

    label: str
    assets_value: float
    liabilities_value: float
    shortfall: float


def shortfall_at(
    account: MarginLoanAccount, prices: Mapping[str, float] | None = None, label: str = "now"
) -> ShortfallOutcome:
    """Liabilities beyond assets at the given prices (market value, no haircut); 0 if none."""
    stressed = account.at_prices(prices) if prices else account
    assets_value = math.fsum(a.held * a.price for a in stressed.assets)
    liabilities_value = math.fsum(a.owed * a.price for a in stressed.assets)
    return ShortfallOutcome(
        label, assets_value, liabilities_value, max(0.0, liabilities_value - assets_value)
    )


@dataclass(frozen=True, slots=True)
class ShortfallReport:
    """Every scenario's outcome and the worst of them (the first one on ties)."""

    outcomes: tuple[ShortfallOutcome, ...]
    worst: ShortfallOutcome = field(init=False)

    def __post_init__(self) -> None:
        if not self.outcomes:
            raise InputError("scenarios: give at least one move")
        worst = self.outcomes[0]
        for outcome in self.outcomes[1:]:
            if outcome.shortfall > worst.shortfall:
                worst = outcome
        object.__setattr__(self, "worst", worst)


def shortfall_scenarios(
    account: MarginLoanAccount, moves: Iterable[float], asset: str | None = None
) -> ShortfallReport:
    """The shortfall under each move of one asset's price, or of every non-quote price."""
    outcomes = []
    for move in moves:
        target = "all" if asset is None else asset
        label = f"{target} {move:+.2%}"
        outcomes.append(shortfall_at(account.moved(move, asset), label=label))
    return ShortfallReport(tuple(outcomes))


def shortfall_price_scenarios(
    account: MarginLoanAccount, scenarios: Sequence[Mapping[str, float]]
) -> ShortfallReport:
    """The shortfall under explicit price sets (each a mapping asset -> stressed price)."""
    return ShortfallReport(
        tuple(shortfall_at(account, s, label=f"scenario {i}") for i, s in enumerate(scenarios))
    )
