"""The durable journal: one SQLite file per daemon, written before anything is sent or alerted.

Holds the schema and its migrations, the append-only entries, the orders' lifecycle, the rules'
saved state, account snapshots, the alert outbox's rows and retention. It may import the shared
ground and the ports it implements (:mod:`riskguard.guard.enforce.journal`,
:mod:`riskguard.alerts.outbox`).
"""

from riskguard.daemon.journal.store import (
    MIGRATIONS,
    PENDING_STATUSES,
    SCHEMA_VERSION,
    JournalFileError,
    JournalWriteError,
    Migration,
    OrderRecord,
    SqliteJournal,
    decode_json,
    encode_json,
    migrate,
)

__all__ = [
    "MIGRATIONS",
    "PENDING_STATUSES",
    "SCHEMA_VERSION",
    "JournalFileError",
    "JournalWriteError",
    "Migration",
    "OrderRecord",
    "SqliteJournal",
    "decode_json",
    "encode_json",
    "migrate",
]
