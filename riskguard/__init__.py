"""riskguard: an independent guard against liquidation and negative equity on leveraged accounts.

The public API is what this module and :mod:`riskguard.risk` export; everything else may change.
"""

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.errors import ConfigError, InputError, RiskguardError, UnsupportedError

__version__ = "0.1.0"

__all__ = [
    "AccountSnapshot",
    "ConfigError",
    "InputError",
    "MarginMode",
    "Position",
    "RiskguardError",
    "Side",
    "Tier",
    "TierUnit",
    "UnsupportedError",
    "__version__",
]
