"""The durable journal: one SQLite file per daemon, written before anything is sent or alerted.

Holds the schema and its migrations, the append-only entries, the orders' lifecycle, the rules'
saved state, account snapshots, the alert outbox's rows and retention. It may import the shared
ground and the ports it implements (:mod:`riskguard.guard.enforce.journal`,
:mod:`riskguard.alerts.outbox`).

Modules: :mod:`.store` (:class:`SqliteJournal`, opening the file), :mod:`.writer`
(:class:`GroupCommitJournal`, the daemon's: one writer thread, many writes per commit, and the
``durable()`` barrier), :mod:`.connection` (the shared connection and the ways to use it),
:mod:`.schema`, :mod:`.codec`, :mod:`.entries`, :mod:`.orders`, :mod:`.state`, :mod:`.outbox_rows`,
:mod:`.retention` and :mod:`.errors`.
"""

from riskguard.daemon.journal.codec import decode_json, encode_json
from riskguard.daemon.journal.errors import JournalFileError, JournalWriteError
from riskguard.daemon.journal.orders import PENDING_STATUSES, OrderRecord
from riskguard.daemon.journal.schema import MIGRATIONS, SCHEMA_VERSION, Migration, migrate
from riskguard.daemon.journal.store import SqliteJournal
from riskguard.daemon.journal.writer import CommitStats, GroupCommitJournal

__all__ = [
    "MIGRATIONS",
    "PENDING_STATUSES",
    "SCHEMA_VERSION",
    "CommitStats",
    "GroupCommitJournal",
    "JournalFileError",
    "JournalWriteError",
    "Migration",
    "OrderRecord",
    "SqliteJournal",
    "decode_json",
    "encode_json",
    "migrate",
]
