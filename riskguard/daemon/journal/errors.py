"""The two errors the journal raises, and what the caller does about each.

ConfigError (riskguard.errors)
 └ JournalFileError    the file cannot be used (not SQLite, too new, not ours, cannot be
                       opened, not yet migrated for a read-only open): stop with its one line
RiskguardError (riskguard.errors)
 └ JournalWriteError   a write was not committed (disk full, read-only file): nothing after it
                       may be sent or reported as done
"""

from __future__ import annotations

from riskguard.errors import ConfigError, RiskguardError


class JournalFileError(ConfigError):
    """The journal file cannot be used (not SQLite, too new, not ours, cannot be opened)."""


class JournalWriteError(RiskguardError):
    """An append could not be committed: nothing after it may be sent or reported as done."""
