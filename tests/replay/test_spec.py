"""The replay's options: each parsed value, and one clear line for each bad one."""

from __future__ import annotations

from pathlib import Path

import pytest

from riskguard.errors import InputError
from riskguard.replay.spec import (
    OpenSpec,
    parse_baselines,
    parse_open,
    parse_prices,
    parse_time,
)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("BTC/USDT:USDT,long,20x,isolated", OpenSpec("BTC/USDT:USDT", "long", 20.0)),
        ("BTC/USDT:USDT,short,5x", OpenSpec("BTC/USDT:USDT", "short", 5.0)),
        ("ETH/USDT:USDT,LONG,3,cross", OpenSpec("ETH/USDT:USDT", "long", 3.0, "cross")),
        (
            "ETH/USDT:USDT,long,10x,cross,25000",
            OpenSpec("ETH/USDT:USDT", "long", 10.0, "cross", 25_000.0),
        ),
        ("SOL/USDT:USDT,short,2.5x,1500", OpenSpec("SOL/USDT:USDT", "short", 2.5, notional=1500)),
    ],
)
def test_open_specs_parse(text: str, expected: OpenSpec) -> None:
    assert parse_open(text) == expected


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("BTC/USDT:USDT,long", "expected SYMBOL,SIDE,LEVERAGEx"),
        ("BTC/USDT:USDT,up,20x", "side must be long or short, got 'up'"),
        ("BTC/USDT:USDT,long,twentyx", "leverage 'twenty' is not a number"),
        ("BTC/USDT:USDT,long,0.5x", "leverage must be at least 1x"),
        ("BTC/USDT:USDT,long,20x,isolated,-5", "notional must be positive"),
        ("BTC/USDT:USDT,long,20x,hedged", "notional 'hedged' is not a number"),
        (",long,20x", "the symbol is empty"),
        ("BTC/USDT:USDT,long,infx", "leverage 'inf' is not a finite number"),
    ],
)
def test_bad_open_specs_say_what_is_wrong_in_one_line(text: str, message: str) -> None:
    with pytest.raises(InputError, match="--open") as caught:
        parse_open(text)
    assert message in str(caught.value)
    assert "\n" not in str(caught.value)


def test_prices_are_symbol_equals_file() -> None:
    assert parse_prices("BTC/USDT:USDT=data/btc.csv") == ("BTC/USDT:USDT", Path("data/btc.csv"))
    with pytest.raises(InputError, match="expected SYMBOL=FILE"):
        parse_prices("data/btc.csv")


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("2020-03-12T10:00Z", 1_584_007_200_000),
        ("2020-03-12T10:00:00+00:00", 1_584_007_200_000),
        ("2020-03-12T11:00+01:00", 1_584_007_200_000),
        ("2020-03-12 10:00", 1_584_007_200_000),
        ("1584007200000", 1_584_007_200_000),
    ],
)
def test_times_are_iso_in_utc_or_epoch_ms(text: str, ms: int) -> None:
    assert parse_time(text, "--from") == ms


def test_a_bad_time_names_the_option() -> None:
    with pytest.raises(InputError, match=r"--to 'yesterday': not a time"):
        parse_time("yesterday", "--to")


def test_baselines_keep_their_report_order_and_refuse_unknown_ones() -> None:
    assert parse_baselines("static-stop,none") == ("none", "static-stop")
    assert parse_baselines("") == ()
    with pytest.raises(InputError, match="unknown baseline 'trailing'"):
        parse_baselines("none,trailing")
