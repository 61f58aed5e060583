"""The JSON account-snapshot format read by ``riskguard calc``: validation and conversion.

Schema (documented in README.md): a top-level object with ``venue``, ``margin_mode``,
``wallet_balance`` (cross), ``positions`` and an optional ``risk`` section for the volatility,
horizon, slippage and gap scenarios. Every problem is reported as one line naming the field by
its path, e.g. ``positions[1].collateral: isolated position needs collateral or leverage``.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal, Self

from pydantic import Field, ValidationError, model_validator

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side
from riskguard.errors import InputError
from riskguard.risk.evaluation import DEFAULT_DAILY_VOLATILITY, DEFAULT_HORIZON_S, RiskSettings
from riskguard.risk.scenarios import DEFAULT_GAPS, gap_scenarios, span_scenarios
from riskguard.risk.shortfall import DEFAULT_SLIPPAGE
from riskguard.risk.venues import PROFILES, get_profile
from riskguard.risk.volatility import per_sqrt_second
from riskguard.validation import (
    Amount,
    Leverage,
    NonNegative,
    Positive,
    Rate,
    StrictModel,
    TierIn,
    at_least,
    load_json,
    one_line,
    read_text,
)


class PositionIn(StrictModel):
    """One position of the snapshot."""

    symbol: str = Field(min_length=1, description="ccxt unified symbol, e.g. BTC/USDT:USDT")
    side: Literal["long", "short"]
    size: Positive = Field(description="size in base units (contracts x contract size)")
    entry_price: Positive
    mark_price: Positive
    leverage: Leverage | None = None
    collateral: NonNegative | None = Field(None, description="isolated margin (isolated only)")
    margin_mode: Literal["isolated", "cross"] | None = Field(None, description="override")
    maintenance_margin_rate: Rate | None = None
    maintenance_amount: Amount = 0.0
    tiers: tuple[TierIn, ...] | None = None
    taker_fee: Annotated[float, Field(ge=0, lt=0.1)] = 0.0
    max_leverage: Leverage | None = None
    contract_size: Positive = 1.0
    inverse: bool = Field(
        False,
        description="coin-margined contract: size is the quote value (contracts x contract "
        "size in USD) and collateral, wallet and results are in the base coin",
    )

    @model_validator(mode="after")
    def _margin_source(self) -> Self:
        if self.tiers is not None and self.maintenance_margin_rate is not None:
            raise ValueError("give either tiers or maintenance_margin_rate, not both")
        if self.tiers is not None:
            if not self.tiers:
                raise ValueError("tiers: must not be empty")
            units = {t.min_size is None for t in self.tiers}
            if len(units) > 1:
                raise ValueError("tiers: all tiers must use the same kind of bound")
        return self


class RiskIn(StrictModel):
    """Optional settings for the sigma distance and the stress scenarios."""

    daily_volatility_pct: Annotated[float, Field(gt=0, le=1_000), at_least(0.001)] = Field(
        DEFAULT_DAILY_VOLATILITY * 100, description="sigma of the mark per day, in percent"
    )
    horizon_s: Annotated[float, Field(gt=0, le=604_800), at_least(0.001)] = Field(
        DEFAULT_HORIZON_S, description="reaction horizon in seconds (at most a week)"
    )
    slippage_pct: Annotated[float, Field(ge=0, lt=100)] = Field(
        DEFAULT_SLIPPAGE * 100, description="closing slippage"
    )
    gap_moves_pct: tuple[Annotated[float, Field(gt=-100, le=1_000)], ...] = Field(
        tuple(m * 100 for m in DEFAULT_GAPS), description="explicit gap scenarios in percent"
    )


class SnapshotIn(StrictModel):
    """The whole input file."""

    venue: str = Field(description="venue profile: " + ", ".join(sorted(PROFILES)))
    margin_mode: Literal["isolated", "cross"] = "isolated"
    wallet_balance: Amount | None = Field(None, description="cross wallet")
    positions: tuple[PositionIn, ...]
    taken_at: datetime | None = None
    risk: RiskIn = RiskIn()

    @model_validator(mode="after")
    def _cross_needs_wallet(self) -> Self:
        modes = [p.margin_mode or self.margin_mode for p in self.positions]
        if "cross" in modes and self.wallet_balance is None:
            raise ValueError("wallet_balance: required when any position is cross")
        return self


def parse_snapshot(data: Any, now: datetime | None = None) -> tuple[AccountSnapshot, RiskSettings]:
    """Validate decoded JSON and build the snapshot and the risk settings, or raise InputError."""
    try:
        model = SnapshotIn.model_validate(data)
    except ValidationError as exc:
        raise InputError(one_line(exc)) from None
    profile = get_profile(model.venue)
    positions = []
    for i, p in enumerate(model.positions):
        mode = MarginMode(p.margin_mode or model.margin_mode)
        if mode is MarginMode.ISOLATED and p.collateral is None and p.leverage is None:
            raise InputError(
                f"positions[{i}].collateral: isolated position needs collateral or leverage"
            )
        if (
            p.tiers is None
            and p.maintenance_margin_rate is None
            and not (profile.mmr_from_max_leverage and p.max_leverage is not None)
        ):
            raise InputError(
                f"positions[{i}]: give tiers or maintenance_margin_rate"
                + (" (or max_leverage)" if profile.mmr_from_max_leverage else "")
            )
        try:
            tiers = tuple(sorted((t.to_tier() for t in p.tiers or ()), key=lambda t: t.min_bound))
            positions.append(
                Position(
                    symbol=p.symbol,
                    side=Side(p.side),
                    size=p.size,
                    entry_price=p.entry_price,
                    mark_price=p.mark_price,
                    margin_mode=mode,
                    leverage=p.leverage,
                    collateral=p.collateral if mode is MarginMode.ISOLATED else None,
                    contract_size=p.contract_size,
                    tiers=tiers,
                    maintenance_margin_rate=p.maintenance_margin_rate,
                    maintenance_amount=p.maintenance_amount,
                    taker_fee=p.taker_fee,
                    max_leverage=p.max_leverage,
                    inverse=p.inverse,
                )
            )
        except ValueError as exc:
            raise InputError(f"positions[{i}]: {exc}") from None
    if len({p.inverse for p in model.positions}) > 1:
        raise InputError("positions: a snapshot cannot mix inverse and linear positions")
    taken_at = model.taken_at or now or datetime.now(UTC)
    if taken_at.tzinfo is None:
        taken_at = taken_at.replace(tzinfo=UTC)
    snapshot = AccountSnapshot(
        venue=profile.name,
        wallet_balance=model.wallet_balance or 0.0,
        positions=tuple(positions),
        taken_at=taken_at,
    )
    sigma = per_sqrt_second(model.risk.daily_volatility_pct / 100)
    scenarios = span_scenarios(sigma, model.risk.horizon_s) + gap_scenarios(
        tuple(m / 100 for m in model.risk.gap_moves_pct)
    )
    settings = RiskSettings(
        sigma_per_sqrt_s=sigma,
        horizon_s=model.risk.horizon_s,
        scenarios=scenarios,
        slippage=model.risk.slippage_pct / 100,
    )
    return snapshot, settings


def load_snapshot(source: str, text: str | None = None) -> tuple[AccountSnapshot, RiskSettings]:
    """Read a snapshot from a file path (or ``-`` with ``text`` already read from stdin)."""
    label = "stdin" if source == "-" else source
    if text is None:
        text = read_text(source, label)
    data = load_json(text, label)
    try:
        return parse_snapshot(data)
    except InputError as exc:
        raise InputError(f"{label}: {exc}") from None
