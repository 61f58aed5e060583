"""The errors riskguard raises, grouped by what the caller should do next.

    RiskguardError                     base; never raised directly
     ├ InputError                      bad user input (file, field): report one line, exit 2
     │   └ ConfigError                 a configuration file is invalid: stop with a clear message
     └ UnsupportedError                the request is understood but riskguard cannot compute it
                                       correctly (e.g. inverse contracts): refuse, never guess

Later layers add exchange errors (retry / skip this cycle / stop) under RiskguardError.
"""

from __future__ import annotations


class RiskguardError(Exception):
    """Base class of every error riskguard raises on purpose."""


class InputError(RiskguardError, ValueError):
    """Input data is invalid; the message names the field or file and the problem."""


class ConfigError(InputError):
    """A configuration file is invalid."""


class UnsupportedError(RiskguardError):
    """A valid request that riskguard refuses to answer rather than answer wrongly."""
