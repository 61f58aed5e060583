"""Export journal entries for a post-mortem or an accountant: CSV for spreadsheets, JSON for tools.

- ``json``: one JSON array, one object per entry: ``seq``, ``time`` (ISO-8601 UTC with
  milliseconds, ``2026-11-20T12:00:00.000Z``), ``time_ms``, ``kind``, ``account``, ``payload``.
  The output is strict JSON: infinite and NaN numbers are written as the journal stores them, as
  the strings ``"inf"``, ``"-inf"`` and ``"nan"`` (:func:`riskguard.daemon.journal.encode_json`).
- ``csv``: header ``seq,time,time_ms,kind,account,symbol,rule,level,message,payload``; ``symbol``,
  ``rule``, ``level`` and ``message`` are copied out of the payload when it has them (empty
  otherwise), and ``payload`` is the whole payload as compact JSON.

Entries are streamed in ``seq`` order, so weeks of journal export in constant memory from a
:class:`~riskguard.daemon.journal.SqliteJournal`; any other
:class:`~riskguard.guard.enforce.journal.Journal` (the in-memory one of a replay) is filtered here.

:func:`parse_since` turns the CLI's ``--since``/``--until`` text (an ISO-8601 date or time, or a
duration back from now) into epoch milliseconds.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any, Final, Literal, TextIO

from riskguard.clock import iso8601
from riskguard.daemon.journal import SqliteJournal, encode_json
from riskguard.errors import InputError
from riskguard.guard.enforce.journal import Journal, JournalEntry

ExportFormat = Literal["csv", "json"]

CSV_HEADER: Final = (
    "seq",
    "time",
    "time_ms",
    "kind",
    "account",
    "symbol",
    "rule",
    "level",
    "message",
    "payload",
)
_PAYLOAD_COLUMNS: Final = ("symbol", "rule", "level", "message")
_DURATION = re.compile(r"^(\d+(?:\.\d+)?)\s*([smhdw])$")
_UNIT_S: Final = {"s": 1, "m": 60, "h": 3_600, "d": 86_400, "w": 604_800}
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)


def export_entries(
    journal: Journal,
    out: TextIO,
    *,
    fmt: ExportFormat,
    since_ms: int | None = None,
    until_ms: int | None = None,
    kind: str | None = None,
    account: str | None = None,
) -> int:
    """Write the matching entries to ``out`` as ``fmt``; return how many were written.

    ``since_ms`` is inclusive, ``until_ms`` exclusive, on each entry's ``time_ms``.
    """
    if fmt not in ("csv", "json"):
        raise InputError(f"--format: expected csv or json, got {fmt!r}")
    entries = _select(journal, kind, account, since_ms, until_ms)
    if fmt == "csv":
        return _write_csv(entries, out)
    return _write_json(entries, out)


def _select(
    journal: Journal,
    kind: str | None,
    account: str | None,
    since_ms: int | None,
    until_ms: int | None,
) -> Iterator[JournalEntry]:
    if isinstance(journal, SqliteJournal):
        yield from journal.iter_entries(kind, account, since_ms=since_ms, until_ms=until_ms)
        return
    for entry in journal.entries(kind, account):
        if (since_ms is None or entry.time_ms >= since_ms) and (
            until_ms is None or entry.time_ms < until_ms
        ):
            yield entry


def _write_csv(entries: Iterable[JournalEntry], out: TextIO) -> int:
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(CSV_HEADER)
    written = 0
    for entry in entries:
        pulled = [_cell(entry.payload.get(column)) for column in _PAYLOAD_COLUMNS]
        writer.writerow(
            [
                entry.seq,
                iso8601(entry.time_ms),
                entry.time_ms,
                entry.kind,
                entry.account,
                *pulled,
                encode_json(entry.payload),
            ]
        )
        written += 1
    return written


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return encode_json(value)


def _write_json(entries: Iterable[JournalEntry], out: TextIO) -> int:
    written = 0
    out.write("[")
    for entry in entries:
        record = {
            "seq": entry.seq,
            "time": iso8601(entry.time_ms),
            "time_ms": entry.time_ms,
            "kind": entry.kind,
            "account": entry.account,
            "payload": json.loads(encode_json(entry.payload)),
        }
        out.write(",\n" if written else "\n")
        out.write(json.dumps(record, ensure_ascii=False, allow_nan=False))
        written += 1
    out.write("\n]\n" if written else "]\n")
    return written


def parse_since(text: str, now_ms: int, *, option: str = "--since") -> int:
    """Epoch milliseconds for ``text``: an ISO-8601 date or time, or a duration before ``now_ms``.

    Dates are midnight UTC (``2026-11-20``); times without an offset are UTC
    (``2026-11-20T12:00:00``, same as ``...Z``); durations are a number and one of ``s m h d w``
    (``90m``, ``24h``, ``7d``, ``1.5h``). Anything else raises :class:`InputError` naming
    ``option``.
    """
    value = text.strip()
    match = _DURATION.match(value)
    if match is not None:
        seconds = float(match.group(1)) * _UNIT_S[match.group(2)]
        return now_ms - round(seconds * 1000)
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise InputError(
            f"{option}: expected an ISO-8601 date or time (2026-11-20, 2026-11-20T12:00:00Z) "
            f"or a duration (90m, 24h, 7d), got {text!r}"
        ) from None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // timedelta(milliseconds=1)
