"""The spot margin venue's config: frozen, strict, one line per problem naming the field; and a
venue built from it holds what it says."""

from __future__ import annotations

from typing import Any

import pydantic
import pytest

from riskguard.errors import ConfigError
from riskguard.paper.spot_margin.config import build_spot_margin, parse_spot_margin_config

FEED = {"gbm": {"start_price": 100, "bars": 120, "seed": 1, "start": "2024-01-01T00:00:00Z"}}


def _doc(**changes: Any) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "markets": [{"symbol": "BTC/USDT", "feed": FEED}],
        "rules": {"interest_per_hour_pct": {"USDT": 0.01}},
        "accounts": [
            {
                "id": "a",
                "holdings": {"USDT": 1000},
                "open": [{"symbol": "BTC/USDT", "side": "buy", "quote_value": 2500}],
            }
        ],
    }
    doc.update(changes)
    return doc


def test_a_venue_built_from_the_config_holds_the_configured_account() -> None:
    setup = build_spot_margin(parse_spot_margin_config(_doc()))

    acc = setup.venue.accounts["a"]
    assert acc.assets["USDT"].borrowed == pytest.approx(1500, rel=1e-3)
    assert acc.assets["BTC"].free * setup.venue.last_price("BTC/USDT") == pytest.approx(
        2500, rel=2e-3
    )
    assert setup.venue.rules.hourly_rate("USDT") == pytest.approx(1e-4)
    assert setup.client("a").account == "a"


def test_starting_borrowed_amounts_are_owed_and_counted_in_the_holdings() -> None:
    doc = _doc(accounts=[{"id": "a", "holdings": {"USDT": 3000}, "borrowed": {"USDT": 2000}}])

    venue = build_spot_margin(parse_spot_margin_config(doc)).venue

    assert venue.margin_level("a") == pytest.approx(1.5)
    assert venue.ledger.deposits["USDT"] == 1000


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_doc(colour="blue"), "spot_margin.colour: Extra inputs are not permitted"),
        (
            _doc(rules={"liquidation_level": 1.4}),
            "spot_margin.rules.margin_call_level: must be above liquidation_level",
        ),
        (_doc(rules={"liquidation_level": 0.9}), "spot_margin.rules.liquidation_level: Input"),
        (
            _doc(rules={"interest_per_hour_pct": {"ETH": 0.01}}),
            "spot_margin.rules.interest_per_hour_pct.ETH: no market values it",
        ),
        (
            _doc(markets=[{"symbol": "BTC/EUR", "feed": FEED}]),
            "spot_margin.markets[0].symbol: must be quoted in USDT",
        ),
        (
            _doc(accounts=[{"id": "a", "holdings": {"DOGE": 1}}]),
            "spot_margin.accounts[0].holdings.DOGE: no market values it",
        ),
        (
            _doc(
                accounts=[
                    {"id": "a", "holdings": {}, "open": [{"symbol": "BTC/USDT", "side": "buy"}]}
                ]
            ),
            "spot_margin.accounts[0].open[0]: give either amount or quote_value",
        ),
    ],
)
def test_a_bad_config_fails_in_one_line_naming_the_field(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_spot_margin_config(doc)

    assert message in str(info.value)
    assert "\n" not in str(info.value)


def test_an_account_that_would_start_at_the_liquidation_level_is_refused() -> None:
    doc = _doc(accounts=[{"id": "a", "holdings": {"USDT": 2150}, "borrowed": {"USDT": 2000}}])

    with pytest.raises(ConfigError, match=r"spot_margin.accounts\[0\]: starts at margin level"):
        build_spot_margin(parse_spot_margin_config(doc))


def test_a_start_order_beyond_the_borrow_limit_is_refused_naming_it() -> None:
    doc = _doc(
        accounts=[
            {
                "id": "a",
                "holdings": {"USDT": 1000},
                "open": [{"symbol": "BTC/USDT", "side": "buy", "quote_value": 3500}],
            }
        ]
    )

    with pytest.raises(ConfigError, match=r"accounts\[0\].open\[0\]: cannot place: .*-3006"):
        build_spot_margin(parse_spot_margin_config(doc))


def test_the_config_is_frozen() -> None:
    config = parse_spot_margin_config(_doc())

    with pytest.raises(pydantic.ValidationError):
        config.quote_asset = "BTC"  # type: ignore[misc]
