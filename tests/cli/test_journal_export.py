"""Journal export: JSON arrays and spreadsheet-ready CSV, and the --since/--until time parser."""

from __future__ import annotations

import csv
import io
import json
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from riskguard.cli.journal_export import CSV_HEADER, export_entries, parse_since
from riskguard.daemon.journal import SqliteJournal
from riskguard.errors import InputError
from riskguard.guard.enforce.journal import Journal, MemoryJournal

T0 = 1_763_640_000_000  # 2025-11-20T12:00:00.000Z
NOW = 1_795_176_000_000  # 2026-11-20T12:00:00.000Z


def _fill(journal: Journal) -> None:
    journal.append(
        "finding",
        "main",
        T0,
        {
            "rule": "liquidation_distance",
            "level": "ACT",
            "symbol": "BTC/USDT:USDT",
            "message": "BTC long 4.1% from liquidation, act below 5%",
            "figures": {"distance_pct": 4.1, "sigma": math.inf},
        },
    )
    journal.append("order_sent", "main", T0 + 1_234, {"client_id": "rg1", "order_id": "7"})
    journal.append("alert", "alt", T0 + 60_000, {"level": "WARN", "message": 'says "hi", twice'})


@pytest.fixture(params=["sqlite", "memory"])
def journal(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Journal]:
    if request.param == "memory":
        memory = MemoryJournal()
        _fill(memory)
        yield memory
        return
    with SqliteJournal(tmp_path / "journal.sqlite") as sqlite:
        _fill(sqlite)
        yield sqlite


def _export(journal: Journal, fmt: str, **query: Any) -> tuple[int, str]:
    out = io.StringIO()
    written = export_entries(journal, out, fmt=fmt, **query)  # type: ignore[arg-type]
    return written, out.getvalue()


# ------------------------------------------------------------------------------ JSON


def test_json_export_is_an_array_of_entries_with_utc_times(journal: Journal) -> None:
    written, text = _export(journal, "json")

    records = json.loads(text)
    assert written == len(records) == 3
    assert records[1] == {
        "seq": 2,
        "time": "2025-11-20T12:00:01.234Z",
        "time_ms": T0 + 1_234,
        "kind": "order_sent",
        "account": "main",
        "payload": {"client_id": "rg1", "order_id": "7"},
    }


def test_json_export_writes_infinity_as_a_string_so_it_stays_strict_json(
    journal: Journal,
) -> None:
    _, text = _export(journal, "json", kind="finding")

    records = json.loads(text, parse_constant=lambda token: pytest.fail(f"non-JSON {token}"))
    assert records[0]["payload"]["figures"] == {"distance_pct": 4.1, "sigma": "inf"}


def test_json_export_of_nothing_is_an_empty_array(journal: Journal) -> None:
    written, text = _export(journal, "json", account="nobody")

    assert written == 0
    assert json.loads(text) == []


def test_export_filters_by_time_kind_and_account(journal: Journal) -> None:
    def seqs(**query: Any) -> list[int]:
        return [r["seq"] for r in json.loads(_export(journal, "json", **query)[1])]

    assert seqs(since_ms=T0 + 1) == [2, 3]
    assert seqs(until_ms=T0 + 60_000) == [1, 2]
    assert seqs(since_ms=T0 + 1, until_ms=T0 + 60_000) == [2]
    assert seqs(kind="alert") == [3]
    assert seqs(account="main") == [1, 2]


# ------------------------------------------------------------------------------ CSV


def test_csv_export_pulls_symbol_rule_level_and_message_out_of_the_payload(
    journal: Journal,
) -> None:
    written, text = _export(journal, "csv")

    rows = list(csv.reader(io.StringIO(text)))
    assert written == 3
    assert tuple(rows[0]) == CSV_HEADER
    assert rows[1][:9] == [
        "1",
        "2025-11-20T12:00:00.000Z",
        str(T0),
        "finding",
        "main",
        "BTC/USDT:USDT",
        "liquidation_distance",
        "ACT",
        "BTC long 4.1% from liquidation, act below 5%",
    ]
    assert json.loads(rows[1][9])["figures"]["sigma"] == "inf"


def test_csv_export_leaves_missing_columns_empty_and_quotes_commas(journal: Journal) -> None:
    _, text = _export(journal, "csv")

    rows = list(csv.reader(io.StringIO(text)))
    assert rows[2][5:9] == ["", "", "", ""]
    assert rows[2][9] == '{"client_id":"rg1","order_id":"7"}'
    assert rows[3][7:9] == ["WARN", 'says "hi", twice']


def test_csv_export_writes_non_text_column_values_as_json() -> None:
    journal = MemoryJournal()
    journal.append("alert", "main", T0, {"level": 3, "symbol": ["A", "B"]})

    _, text = _export(journal, "csv")

    row = list(csv.reader(io.StringIO(text)))[1]
    assert row[5:8] == ['["A","B"]', "", "3"]


def test_csv_export_of_nothing_is_the_header_alone(journal: Journal) -> None:
    written, text = _export(journal, "csv", kind="nothing")

    assert written == 0
    assert text == ",".join(CSV_HEADER) + "\n"


def test_unknown_export_format_is_refused_naming_the_option(journal: Journal) -> None:
    with pytest.raises(InputError, match=r"^--format: expected csv or json, got 'xlsx'$"):
        _export(journal, "xlsx")


# ------------------------------------------------------------------------------ --since


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2026-11-20", NOW - 12 * 3_600_000),
        ("2026-11-20T12:00:00Z", NOW),
        ("2026-11-20T12:00:00", NOW),
        ("2026-11-20T14:00:00+02:00", NOW),
        ("2026-11-20T12:00:00.250Z", NOW + 250),
        (" 2026-11-20T12:00Z ", NOW),
    ],
)
def test_since_accepts_iso_dates_and_times_as_utc(text: str, expected: int) -> None:
    assert parse_since(text, 0) == expected


@pytest.mark.parametrize(
    ("text", "back_ms"),
    [
        ("30s", 30_000),
        ("90m", 90 * 60_000),
        ("24h", 24 * 3_600_000),
        ("1.5h", 90 * 60_000),
        ("7d", 7 * 86_400_000),
        ("2w", 14 * 86_400_000),
        ("0m", 0),
        ("15 m", 15 * 60_000),
    ],
)
def test_since_accepts_durations_back_from_now(text: str, back_ms: int) -> None:
    assert parse_since(text, NOW) == NOW - back_ms


@pytest.mark.parametrize("text", ["yesterday", "", "-5m", "5y", "7 days", "2026-13-01", "1e3h"])
def test_since_refuses_anything_else_in_one_line_naming_the_option(text: str) -> None:
    with pytest.raises(InputError) as caught:
        parse_since(text, NOW)

    message = str(caught.value)
    assert message.startswith("--since: expected an ISO-8601 date or time")
    assert repr(text) in message
    assert "\n" not in message


def test_since_parser_names_the_option_it_parses() -> None:
    with pytest.raises(InputError, match=r"^--until: "):
        parse_since("soon", NOW, option="--until")
