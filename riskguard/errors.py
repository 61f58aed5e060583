"""The errors riskguard raises, grouped by what the caller should do next.

    RiskguardError                     base; never raised directly
     ├ InputError                      bad user input (file, field): report one line, exit 2
     │   └ ConfigError                 a configuration file is invalid: stop with a clear message
     ├ UnsupportedError                the request is understood but riskguard cannot compute it
     │                                 correctly (e.g. inverse contracts): refuse, never guess
     └ ExchangeProblem                 an exchange call failed; the subclass says what to do next
         ├ RetryLater                  transient (network, rate limit, maintenance, clock skew):
         │                             retried with backoff; if it persists, this cycle is stale
         ├ SkipCycle                   the exchange answered but the answer is unusable: no action
         │                             this cycle, alert, try again next cycle
         └ StopAccount                 will not heal by waiting (bad key, permission, suspended
                                       account, unsupported venue): stop guarding this account
                                       and say why, loudly

``riskguard.exchange.errors.translate`` maps ccxt's exception classes onto these.
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


class ExchangeProblem(RiskguardError):  # noqa: N818 - the subclasses name what to do
    """An exchange call failed; the subclass tells the daemon what to do next."""

    def __init__(self, message: str, *, method: str = "", cause: str = "") -> None:
        super().__init__(message)
        self.method = method
        self.cause = cause


class RetryLater(ExchangeProblem):
    """Transient: try again after a pause (reads are retried with backoff before this escapes)."""


class SkipCycle(ExchangeProblem):
    """The exchange answered, but not usably: take no action this cycle and alert."""


class StopAccount(ExchangeProblem):
    """Waiting will not help (credentials, permissions, suspension): stop guarding the account."""
