"""The risk core: pure functions from positions and accounts to liquidation and shortfall figures.

Nothing here does I/O, and it imports nothing of riskguard but the shared ground values
(:mod:`riskguard.domain`, :mod:`riskguard.errors`): every other package may build on it. Typical
use::

    from riskguard.risk import assess_account, evaluate_account, get_profile

    evaluation = evaluate_account(snapshot)          # venue profile from snapshot.venue
    for p in evaluation.positions:
        print(p.risk.symbol, p.risk.liquidation_price, p.risk.distance, p.shortfall)
"""

from riskguard.risk.account import (
    AccountRisk,
    PositionRisk,
    assess_account,
    assess_isolated,
    closed_part_equity,
    isolated_collateral,
)
from riskguard.risk.batch import liquidation_distances
from riskguard.risk.distance import distance_fraction, sigma_distance, touch_probability
from riskguard.risk.evaluation import (
    AccountEvaluation,
    PositionEvaluation,
    RiskSettings,
    default_scenarios,
    evaluate_account,
    evaluate_position,
)
from riskguard.risk.liquidation import (
    Leg,
    bankruptcy_price,
    legs_liquidation,
    single_leg_liquidation,
)
from riskguard.risk.margin import (
    Schedule,
    schedule_for,
    tiers_for,
    tiers_from_max_leverage,
    with_cumulative_amounts,
)
from riskguard.risk.scenarios import DEFAULT_GAPS, Scenario, gap_scenarios, span_scenarios
from riskguard.risk.shortfall import (
    CrossBacking,
    EquityFloor,
    ScenarioOutcome,
    StressResult,
    cross_backing,
    largest_safe_size,
    position_shortfall,
    stress_account,
)
from riskguard.risk.spot_margin import (
    BINANCE_CROSS,
    BINANCE_ISOLATED,
    BYBIT_UTA,
    MARGIN_RULES,
    OKX_MARGIN,
    MarginAssessment,
    MarginAsset,
    MarginLoanAccount,
    MarginVenueRule,
    RatioKind,
    ShortfallOutcome,
    ShortfallReport,
    ThresholdMove,
    assess,
    bankruptcy_move,
    liquidation_move,
    margin_call_move,
    margin_level,
    shortfall_at,
    shortfall_price_scenarios,
    shortfall_scenarios,
    with_levels,
)
from riskguard.risk.spot_margin_remedy import (
    RemedySize,
    after_buy_to_repay,
    after_sell_to_repay,
    buy_to_repay,
    sell_to_repay,
)
from riskguard.risk.venues import (
    PROFILES,
    MarginBasis,
    ReduceMarginPolicy,
    VenueProfile,
    get_profile,
)
from riskguard.risk.volatility import EwmaVolatility, daily, ewma_sigma, per_sqrt_second

__all__ = [
    "BINANCE_CROSS",
    "BINANCE_ISOLATED",
    "BYBIT_UTA",
    "DEFAULT_GAPS",
    "MARGIN_RULES",
    "OKX_MARGIN",
    "PROFILES",
    "AccountEvaluation",
    "AccountRisk",
    "CrossBacking",
    "EquityFloor",
    "EwmaVolatility",
    "Leg",
    "MarginAssessment",
    "MarginAsset",
    "MarginBasis",
    "MarginLoanAccount",
    "MarginVenueRule",
    "PositionEvaluation",
    "PositionRisk",
    "RatioKind",
    "ReduceMarginPolicy",
    "RemedySize",
    "RiskSettings",
    "Scenario",
    "ScenarioOutcome",
    "Schedule",
    "ShortfallOutcome",
    "ShortfallReport",
    "StressResult",
    "ThresholdMove",
    "VenueProfile",
    "after_buy_to_repay",
    "after_sell_to_repay",
    "assess",
    "assess_account",
    "assess_isolated",
    "bankruptcy_move",
    "bankruptcy_price",
    "buy_to_repay",
    "closed_part_equity",
    "cross_backing",
    "daily",
    "default_scenarios",
    "distance_fraction",
    "evaluate_account",
    "evaluate_position",
    "ewma_sigma",
    "gap_scenarios",
    "get_profile",
    "isolated_collateral",
    "largest_safe_size",
    "legs_liquidation",
    "liquidation_distances",
    "liquidation_move",
    "margin_call_move",
    "margin_level",
    "per_sqrt_second",
    "position_shortfall",
    "schedule_for",
    "sell_to_repay",
    "shortfall_at",
    "shortfall_price_scenarios",
    "shortfall_scenarios",
    "sigma_distance",
    "single_leg_liquidation",
    "span_scenarios",
    "stress_account",
    "tiers_for",
    "tiers_from_max_leverage",
    "touch_probability",
    "with_cumulative_amounts",
    "with_levels",
]
