"""Properties every venue profile must satisfy (RISK_MATH.md, last section), with Hypothesis.

The oracle here is written from RISK_MATH.md alone and never calls the solver: a position's
liquidation threshold at price ``P`` is the maintenance margin ``q * V * rate_k - cum_k`` of the
tier ``k`` that applies (``V`` the mark-to price, or the entry for Bybit isolated; the tier chosen
by ``q * V``, or by ``q`` for size tiers), plus ``q * P * taker_fee`` on OKX and Gate. Equity is
``collateral + s * q * (P - E)``, plus the rest of the account for cross.

Generated margin data: notional tiers with increasing rates and continuous maintenance amounts
(``with_cumulative_amounts``), as the venues publish them; Hyperliquid margin tables; OKX size
tiers without a deduction; and flat rates that may carry a bracket's cum larger than
``rate x value`` (the margin is then charged as zero, never negative). Size tiers *with* a
deduction are left to the two xfail examples in test_stress.py and test_venue_cases.py.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from datetime import UTC, datetime

import pytest
from hypothesis import assume, example, given, settings
from hypothesis import strategies as st

from riskguard.domain import AccountSnapshot, MarginMode, Position, Side, Tier, TierUnit
from riskguard.risk import (
    PROFILES,
    EquityFloor,
    EwmaVolatility,
    Leg,
    MarginBasis,
    ReduceMarginPolicy,
    assess_account,
    assess_isolated,
    cross_backing,
    ewma_sigma,
    get_profile,
    largest_safe_size,
    legs_liquidation,
    liquidation_distances,
    per_sqrt_second,
    schedule_for,
    single_leg_liquidation,
    span_scenarios,
    tiers_from_max_leverage,
    touch_probability,
    with_cumulative_amounts,
)

VENUES = tuple(sorted(PROFILES))
MARK_BASIS_VENUES = tuple(
    v
    for v in VENUES
    if MarginBasis.ENTRY not in (PROFILES[v].isolated_basis, PROFILES[v].cross_basis)
)
FEE_IN_THRESHOLD = frozenset(v for v in VENUES if PROFILES[v].fee_in_threshold)
TAKEN_AT = datetime(2025, 1, 1, tzinfo=UTC)
INF = math.inf

PROPERTY = settings(max_examples=150, deadline=None)
SLOW_PROPERTY = settings(max_examples=200, deadline=None)


# --- The first-principles oracle ----------------------------------------------------------------


def margin_tiers(position: Position) -> tuple[Tier, ...]:
    """What the position says its maintenance margin is (RISK_MATH: tiers, a rate, or max lev.)."""
    if position.tiers:
        return position.tiers
    if position.maintenance_margin_rate is not None:
        return (Tier(0.0, INF, position.maintenance_margin_rate, position.maintenance_amount),)
    assert position.max_leverage is not None
    return (Tier(0.0, INF, 1.0 / (2.0 * position.max_leverage)),)


def threshold(venue: str, position: Position, size: float, price: float) -> float:
    """Maintenance margin (+ fee to close where the profile counts it) of ``size`` at ``price``."""
    isolated = position.margin_mode is MarginMode.ISOLATED
    entry_basis = PROFILES[venue].basis(isolated) is MarginBasis.ENTRY
    charged = position.entry_price if entry_basis else price
    tiers = margin_tiers(position)
    selector = size if tiers[0].unit is TierUnit.SIZE else size * charged
    tier = tiers[0]
    for candidate in tiers:
        if candidate.min_bound <= selector:
            tier = candidate
    mm = max(0.0, size * charged * tier.maintenance_margin_rate - tier.maintenance_amount)
    fee = size * price * position.taker_fee if venue in FEE_IN_THRESHOLD else 0.0
    return mm + fee


def pnl(position: Position, price: float, size: float | None = None) -> float:
    q = position.size if size is None else size
    return position.side.sign * q * (price - position.entry_price)


def bisect_root(f: Callable[[float], float], good: float, bad: float) -> float:
    """The crossing between ``good`` (f > 0) and ``bad`` (f <= 0), to full float precision."""
    for _ in range(2_000):
        mid = (good + bad) / 2
        if mid in (good, bad):
            break
        if f(mid) > 0:
            good = mid
        else:
            bad = mid
    return (good + bad) / 2


def scan_crossing(f: Callable[[float], float], mark: float, direction: int) -> float | None:
    """First price from ``mark`` (f(mark) > 0) in ``direction`` where f <= 0, or None.

    Valid for concave f (equity is linear and every maintenance margin convex in the price), which
    has at most one crossing on each side of a point where it is positive: doubling the step can
    jump over nothing.
    """
    previous = mark
    probes = [mark * 2.0 ** (direction * k) for k in range(1, 200)]
    if direction < 0:
        probes = [*probes[:80], 0.0]
    for probe in probes:
        if f(probe) <= 0:
            return bisect_root(f, previous, probe)
        previous = probe
    return None


# --- Strategies -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Margin:
    """How a generated position describes its margin, and the largest rate it can be charged."""

    fields: dict[str, object]
    max_rate: float


@st.composite
def rates(draw: st.DrawFn, count: int) -> list[float]:
    first = draw(st.floats(0.001, 0.03))
    steps = draw(st.lists(st.floats(0.0005, 0.03), min_size=count - 1, max_size=count - 1))
    out = [first]
    for step in steps:
        out.append(out[-1] + step)
    return out


@st.composite
def margins(draw: st.DrawFn, venue: str, size: float, price: float) -> Margin:
    """Flat rate, notional tiers around the position's value, size tiers (OKX), or a table."""
    kinds = ["flat", "notional"] + (["size"] if venue == "okx" else [])
    kinds += ["max_leverage", "table"] if venue == "hyperliquid" else []
    kind = draw(st.sampled_from(kinds))
    count = draw(st.integers(1, 4))
    # Tier floors from 0.2x the position's value (or size) up, each at least 10% above the last.
    first_cut = draw(st.floats(0.2, 1.5))
    growth = draw(st.lists(st.floats(1.1, 3.0), min_size=count - 1, max_size=count - 1))
    cuts = [first_cut * math.prod(growth[:i]) for i in range(count - 1)]
    if kind == "flat":
        # A bracket's rate and cum, possibly given for a position below the bracket (MM <= 0: 0).
        rate = draw(st.floats(0.001, 0.1))
        amount = rate * size * price * draw(st.sampled_from([0.0, 0.0, 0.5, 0.9, 1.5]))
        return Margin({"maintenance_margin_rate": rate, "maintenance_amount": amount}, rate)
    if kind == "max_leverage":
        max_leverage = draw(st.floats(3.0, 100.0))
        return Margin({"max_leverage": max_leverage}, 1.0 / (2.0 * max_leverage))
    if kind == "table":
        levs = sorted(
            draw(st.lists(st.floats(3.0, 100.0), min_size=count, max_size=count)), reverse=True
        )
        bounds = [0.0] + [c * size * price for c in cuts]
        tiers = tiers_from_max_leverage(list(zip(bounds, levs, strict=True)))
        return Margin({"tiers": tiers}, max(t.maintenance_margin_rate for t in tiers))
    unit = TierUnit.SIZE if kind == "size" else TierUnit.NOTIONAL
    scale = size if unit is TierUnit.SIZE else size * price
    bounds = [0.0] + [c * scale for c in cuts] + [INF]
    table = [
        Tier(bounds[i], bounds[i + 1], rate, unit=unit) for i, rate in enumerate(draw(rates(count)))
    ]
    # Size tiers (OKX) carry no deduction; notional tiers get continuous ones.
    tiers = tuple(table) if unit is TierUnit.SIZE else with_cumulative_amounts(table)
    return Margin({"tiers": tiers}, max(t.maintenance_margin_rate for t in tiers))


@dataclass(frozen=True)
class Case:
    venue: str
    position: Position
    collateral: float


@st.composite
def cases(
    draw: st.DrawFn,
    venues: Sequence[str] = VENUES,
    mode: MarginMode = MarginMode.ISOLATED,
    opened: bool = False,
    side: Side | None = None,
) -> Case:
    """A position opened with initial margin above its threshold at entry (leverage > 1).

    ``opened``: marked at its entry; otherwise the mark has moved up to 20% either way.
    """
    venue = draw(st.sampled_from(list(venues)))
    side = side or draw(st.sampled_from(list(Side)))
    size = draw(st.floats(0.001, 1_000.0))
    entry = draw(st.floats(1.0, 200_000.0))
    mark = entry if opened else entry * draw(st.floats(0.8, 1.25))
    margin = draw(margins(venue, size, entry))
    fee = draw(st.sampled_from([0.0, 0.0002, 0.0005, 0.00075, 0.001]))
    # Leverage below 1 / (max rate + fee): collateral above any threshold at entry.
    ceiling = 1.0 / (margin.max_rate + fee)
    leverage = 1.0 + draw(st.floats(0.02, 0.98)) * (ceiling - 1.0)
    collateral = size * entry / leverage
    position = Position(
        symbol="BTC/USDT:USDT",
        side=side,
        size=size,
        entry_price=entry,
        mark_price=mark,
        margin_mode=mode,
        collateral=collateral if mode is MarginMode.ISOLATED else None,
        taker_fee=fee,
        **margin.fields,  # type: ignore[arg-type]
    )
    return Case(venue, position, collateral)


def assess(case: Case) -> tuple[float | None, float | None, float]:
    """(liquidation price, bankruptcy price, margin ratio): isolated, or cross on its own."""
    if case.position.margin_mode is MarginMode.ISOLATED:
        risk = assess_isolated(case.position, get_profile(case.venue))
    else:
        snapshot = AccountSnapshot(case.venue, case.collateral, (case.position,), TAKEN_AT)
        risk = assess_account(snapshot).positions[0]
    return risk.liquidation_price, risk.bankruptcy_price, risk.margin_ratio


def with_collateral(case: Case, collateral: float) -> Case:
    isolated = case.position.margin_mode is MarginMode.ISOLATED
    position = replace(case.position, collateral=collateral) if isolated else case.position
    return Case(case.venue, position, collateral)


def _tolerance(position: Position, price: float) -> float:
    """Absolute slack for money compared near zero: 1e-9 of the notionals involved."""
    return 1e-9 * position.size * max(price, position.entry_price)


# --- At LP the threshold is met; at bankruptcy equity is zero ------------------------------------


@PROPERTY
@given(case=st.one_of(cases(mode=MarginMode.ISOLATED), cases(mode=MarginMode.CROSS)))
def test_equity_equals_threshold_at_the_liquidation_price(case: Case) -> None:
    lp, _, _ = assess(case)

    assert lp is not None  # leverage > 1: a long can be wiped out, a short always can
    equity = case.collateral + pnl(case.position, lp)
    expected = threshold(case.venue, case.position, case.position.size, lp)
    assert equity == pytest.approx(expected, rel=1e-9, abs=_tolerance(case.position, lp))


@PROPERTY
@given(case=cases())
def test_margin_ratio_is_one_when_marked_at_the_liquidation_price(case: Case) -> None:
    lp, _, _ = assess(case)
    assert lp is not None
    # Where the margin is charged as zero, LP is the bankruptcy price and the ratio is 0 / 0.
    assume(threshold(case.venue, case.position, case.position.size, lp) > 0)

    at_lp = assess_isolated(replace(case.position, mark_price=lp), get_profile(case.venue))

    assert at_lp.margin_ratio == pytest.approx(1.0, rel=1e-7)


@PROPERTY
@given(case=st.one_of(cases(mode=MarginMode.ISOLATED), cases(mode=MarginMode.CROSS)))
def test_equity_is_zero_at_the_bankruptcy_price(case: Case) -> None:
    _, bp, _ = assess(case)

    assert bp is not None
    equity = case.collateral + pnl(case.position, bp)
    assert equity == pytest.approx(0.0, abs=_tolerance(case.position, bp))


@PROPERTY
@given(case=st.one_of(cases(opened=True), cases(mode=MarginMode.CROSS, opened=True)))
def test_liquidation_lies_between_entry_and_bankruptcy_for_a_fresh_position(case: Case) -> None:
    lp, bp, ratio = assess(case)

    assert ratio < 1.0
    assert lp is not None
    assert bp is not None
    entry = case.position.entry_price
    # Liquidation meets bankruptcy only where the margin is charged as zero (rate x value < cum).
    if case.position.side is Side.LONG:
        assert bp <= lp < entry
    else:
        assert entry < lp <= bp
    if threshold(case.venue, case.position, case.position.size, bp) > 0:
        assert lp != bp


# --- Monotone in collateral and leverage ---------------------------------------------------------


@PROPERTY
@given(
    case=st.one_of(cases(mode=MarginMode.ISOLATED), cases(mode=MarginMode.CROSS)),
    extra=st.floats(0.01, 2.0),
)
def test_more_collateral_moves_the_liquidation_price_away_from_the_entry(
    case: Case, extra: float
) -> None:
    richer = with_collateral(case, case.collateral * (1.0 + extra))

    lp, _, _ = assess(case)
    lp_richer, _, _ = assess(richer)

    assert lp is not None
    if case.position.side is Side.LONG:
        # A long with more margin liquidates lower, or never (fully paid: None).
        assert lp_richer is None or lp_richer < lp
    else:
        assert lp_richer is not None
        assert lp_richer > lp


@PROPERTY
@given(case=cases(opened=True), factor=st.floats(1.05, 20.0))
def test_higher_leverage_moves_the_liquidation_price_towards_the_entry(
    case: Case, factor: float
) -> None:
    position = case.position
    leverage = position.size * position.entry_price / case.collateral
    ceiling = 1.0 / (max(t.maintenance_margin_rate for t in margin_tiers(position)) + 0.001)
    higher = min(leverage * factor, (leverage + ceiling) / 2)
    assume(higher > leverage * 1.001)
    profile = get_profile(case.venue)

    low = assess_isolated(replace(position, collateral=None, leverage=leverage), profile)
    high = assess_isolated(replace(position, collateral=None, leverage=higher), profile)

    assert low.liquidation_price is not None
    assert high.liquidation_price is not None
    entry = position.entry_price
    assert abs(high.liquidation_price - entry) < abs(low.liquidation_price - entry)
    assert high.collateral < low.collateral


# --- Long and short mirror each other --------------------------------------------------------


@PROPERTY
@given(case=cases(side=Side.LONG))
def test_long_and_short_bankruptcy_prices_mirror_around_the_entry(case: Case) -> None:
    short = replace(case, position=replace(case.position, side=Side.SHORT))

    _, bp_long, _ = assess(case)
    _, bp_short, _ = assess(short)

    # E - C/q and E + C/q
    assert bp_long is not None
    assert bp_short is not None
    assert bp_long + bp_short == pytest.approx(2 * case.position.entry_price, rel=1e-12)


@PROPERTY
@given(
    case=cases(venues=MARK_BASIS_VENUES, side=Side.LONG),
    rate=st.floats(0.001, 0.1),
)
def test_long_and_short_liquidation_mirror_under_a_flat_rate(case: Case, rate: float) -> None:
    # Flat rate r (+ fee f on OKX/Gate), rho = r + f: LP_long (1 - rho) = E - C/q and
    # LP_short (1 + rho) = E + C/q, so (1 - rho) LP_long + (1 + rho) LP_short = 2E.
    flat = replace(
        case.position,
        tiers=(),
        max_leverage=None,
        maintenance_margin_rate=rate,
        maintenance_amount=0.0,
    )
    long_case = Case(case.venue, flat, case.collateral)
    short_case = Case(case.venue, replace(flat, side=Side.SHORT), case.collateral)
    rho = rate + (flat.taker_fee if case.venue in FEE_IN_THRESHOLD else 0.0)

    lp_long, _, _ = assess(long_case)
    lp_short, _, _ = assess(short_case)

    assert lp_long is not None
    assert lp_short is not None
    mirrored = (1 - rho) * lp_long + (1 + rho) * lp_short
    assert mirrored == pytest.approx(2 * flat.entry_price, rel=1e-9)


@PROPERTY
@given(case=cases(venues=["bybit"], side=Side.LONG))
def test_bybit_isolated_long_and_short_liquidation_mirror_around_the_entry(case: Case) -> None:
    # Margin on the entry value does not move with the price: LP = E -+ (C - MM)/q.
    short = replace(case, position=replace(case.position, side=Side.SHORT))

    lp_long, _, _ = assess(case)
    lp_short, _, _ = assess(short)

    assert lp_long is not None
    assert lp_short is not None
    assert lp_long + lp_short == pytest.approx(2 * case.position.entry_price, rel=1e-9)


@PROPERTY
@given(case=cases(venues=MARK_BASIS_VENUES, side=Side.LONG, opened=True))
def test_short_cushion_never_exceeds_the_long_cushion_when_margin_grows_with_price(
    case: Case,
) -> None:
    # q * |LP - E| = C - threshold(LP) on both sides, and the threshold grows with the price.
    short = replace(case, position=replace(case.position, side=Side.SHORT))

    lp_long, _, _ = assess(case)
    lp_short, _, _ = assess(short)

    assert lp_long is not None
    assert lp_short is not None
    entry = case.position.entry_price
    assert lp_short - entry <= (entry - lp_long) * (1 + 1e-12)


# --- Cross with one position agrees with isolated --------------------------------------------


@PROPERTY
@given(case=cases(venues=MARK_BASIS_VENUES))
def test_cross_account_with_one_position_agrees_with_isolated(case: Case) -> None:
    profile = get_profile(case.venue)
    cross = replace(case.position, margin_mode=MarginMode.CROSS, collateral=None)
    snapshot = AccountSnapshot(case.venue, case.collateral, (cross,), TAKEN_AT)

    isolated = assess_isolated(case.position, profile)
    in_cross = assess_account(snapshot, profile).positions[0]

    assert in_cross.liquidation_price == pytest.approx(isolated.liquidation_price, rel=1e-12)
    assert in_cross.bankruptcy_price == pytest.approx(isolated.bankruptcy_price, rel=1e-12)
    assert in_cross.equity == pytest.approx(isolated.equity, rel=1e-12)
    assert in_cross.requirement == pytest.approx(isolated.requirement, rel=1e-12)
    assert in_cross.margin_ratio == pytest.approx(isolated.margin_ratio, rel=1e-12)
    assert in_cross.distance == pytest.approx(isolated.distance, rel=1e-12)


@PROPERTY
@given(case=cases(venues=["bybit"]))
def test_bybit_cross_agrees_with_isolated_except_for_the_margin_basis(case: Case) -> None:
    # Bybit's isolated formula charges MM on the entry value, its unified cross account on the
    # mark value: equity and bankruptcy agree, the liquidation price follows each one's basis.
    cross_position = replace(case.position, margin_mode=MarginMode.CROSS, collateral=None)
    cross_case = Case("bybit", cross_position, case.collateral)

    lp_iso, bp_iso, _ = assess(case)
    lp_cross, bp_cross, _ = assess(cross_case)

    assert bp_cross == pytest.approx(bp_iso, rel=1e-12)
    assert lp_iso is not None
    assert lp_cross is not None
    for subject, lp in ((case, lp_iso), (cross_case, lp_cross)):
        equity = subject.collateral + pnl(subject.position, lp)
        expected = threshold("bybit", subject.position, subject.position.size, lp)
        assert equity == pytest.approx(expected, rel=1e-9, abs=_tolerance(subject.position, lp))


@st.composite
def cross_pairs(draw: st.DrawFn) -> tuple[str, float, Position, Position]:
    """Two symbols in one cross account whose wallet is the sum of their would-be collaterals."""
    venue = draw(st.sampled_from(VENUES))
    first = draw(cases(venues=[venue], mode=MarginMode.CROSS))
    second = draw(cases(venues=[venue], mode=MarginMode.CROSS))
    other = replace(second.position, symbol="ETH/USDT:USDT")
    return venue, first.collateral + second.collateral, first.position, other


@PROPERTY
@given(pair=cross_pairs())
def test_cross_threshold_is_met_at_each_symbols_liquidation_price(
    pair: tuple[str, float, Position, Position],
) -> None:
    # Two symbols share one wallet; each one's LP holds the other at its mark.
    venue, wallet, a, b = pair

    account = assess_account(AccountSnapshot(venue, wallet, (a, b), TAKEN_AT), get_profile(venue))

    for mine, other, risk in ((a, b, account.positions[0]), (b, a, account.positions[1])):
        lp = risk.liquidation_price
        if lp is None:
            continue
        equity = wallet + pnl(mine, lp) + pnl(other, other.mark_price)
        required = threshold(venue, mine, mine.size, lp) + threshold(
            venue, other, other.size, other.mark_price
        )
        slack = _tolerance(mine, lp) + _tolerance(other, other.mark_price)
        assert equity == pytest.approx(required, rel=1e-9, abs=slack)


# --- Solver entry points agree with each other and with a brute-force scan ---------------------


@st.composite
def batches(draw: st.DrawFn) -> tuple[str, list[Position]]:
    venue = draw(st.sampled_from(VENUES))
    batch = draw(st.lists(cases(venues=[venue]), min_size=1, max_size=6))
    return venue, [c.position for c in batch]


@PROPERTY
@given(batch=batches())
def test_batch_distances_equal_assess_isolated_exactly(batch: tuple[str, list[Position]]) -> None:
    venue, positions = batch
    profile = get_profile(venue)

    result = liquidation_distances(positions, profile)

    expected = []
    for p in positions:
        risk = assess_isolated(p, profile)
        expected.append((risk.liquidation_price, risk.distance))
    assert result == expected


@PROPERTY
@given(case=st.one_of(cases(mode=MarginMode.ISOLATED), cases(mode=MarginMode.CROSS)))
def test_legs_liquidation_with_one_leg_equals_single_leg_liquidation(case: Case) -> None:
    p = case.position
    schedule = schedule_for(p, get_profile(case.venue))
    leg = Leg(p.side.sign, p.size, p.entry_price, schedule)

    one = legs_liquidation(case.collateral, [leg], p.mark_price)
    single = single_leg_liquidation(
        case.collateral, p.side.sign, p.size, p.entry_price, p.mark_price, schedule
    )

    assert one == single


@st.composite
def hedges(draw: st.DrawFn) -> tuple[str, float, Position, Position]:
    """A cross account holding a long and a short leg of one symbol, safe at the mark."""
    venue = draw(st.sampled_from(VENUES))
    long_case = draw(cases(venues=[venue], mode=MarginMode.CROSS, side=Side.LONG, opened=True))
    short_case = draw(cases(venues=[venue], mode=MarginMode.CROSS, side=Side.SHORT, opened=True))
    mark = long_case.position.entry_price * draw(st.floats(0.8, 1.25))
    long_leg = replace(long_case.position, mark_price=mark)
    short_leg = replace(
        short_case.position,
        entry_price=mark * draw(st.floats(0.8, 1.25)),
        # Near-balanced hedges (ratio ~0.85-1) on thin wallets can be liquidated either way.
        size=long_leg.size * draw(st.one_of(st.floats(0.1, 2.0), st.floats(0.85, 1.0))),
        mark_price=mark,
    )
    upnl = pnl(long_leg, mark) + pnl(short_leg, mark)
    required = threshold(venue, long_leg, long_leg.size, mark) + threshold(
        venue, short_leg, short_leg.size, mark
    )
    notional = (long_leg.size + short_leg.size) * mark
    cushion = draw(st.one_of(st.floats(0.002, 1.0), st.floats(0.0002, 0.02)))
    wallet = required - upnl + cushion * notional
    return venue, wallet, long_leg, short_leg


_NEAR_ZERO_CROSSING = (
    "hyperliquid",
    946.0,
    Position("BTC/USDT:USDT", Side.LONG, 1.0, 1419.0, 1419.0, MarginMode.CROSS, max_leverage=3.0),
    Position(
        "BTC/USDT:USDT", Side.SHORT, 1 / 3, 1419.0, 1419.0, MarginMode.CROSS, max_leverage=3.0
    ),
)
"""Found by CI: the brute-force scan crossed at 1e-13 of the mark, the solver said None."""


@SLOW_PROPERTY
@given(hedge=hedges())
@example(hedge=_NEAR_ZERO_CROSSING)
def test_hedge_mode_liquidation_matches_a_brute_force_scan(
    hedge: tuple[str, float, Position, Position],
) -> None:
    venue, wallet, long_leg, short_leg = hedge
    mark = long_leg.mark_price

    def excess(price: float) -> float:
        equity = wallet + pnl(long_leg, price) + pnl(short_leg, price)
        return equity - sum(threshold(venue, p, p.size, price) for p in (long_leg, short_leg))

    assume(excess(mark) > _tolerance(long_leg, mark) + _tolerance(short_leg, mark))
    snapshot = AccountSnapshot(venue, wallet, (long_leg, short_leg), TAKEN_AT)

    risk = assess_account(snapshot, get_profile(venue))

    # A crossing at a price of (about) zero is no liquidation price: the net long only goes at
    # a zero price (Hypothesis found one at 1e-13 of a 1,419 mark, where the solver says None).
    # Nor is one at 1e9 times the mark: a balanced hedge charged on its entry value (BitMEX cross)
    # has a constant excess, which the scan's float rounding crosses at about 4e16 x the mark.
    # The same band applies to the solver's answer: Hypothesis found a real crossing at 1.000004e9
    # x the mark (a maintenance deduction of 965,670 on a size of 1), just outside it.
    def in_band(price: float | None) -> float | None:
        return price if price is not None and mark * 1e-9 < price < mark * 1e9 else None

    crossings = [
        c for c in (in_band(scan_crossing(excess, mark, d)) for d in (-1, 1)) if c is not None
    ]
    expected = min(crossings, key=lambda c: abs(c - mark), default=None)
    for leg in risk.positions:
        if expected is None:
            assert in_band(leg.liquidation_price) is None
        else:
            assert leg.liquidation_price == pytest.approx(expected, rel=1e-9)


# --- Largest safe size -----------------------------------------------------------------------


@dataclass(frozen=True)
class Reduction:
    """A position, how it is backed, and the stress applied to it."""

    case: Case
    backing_account: AccountSnapshot | None
    floor: EquityFloor
    policy: ReduceMarginPolicy | None
    slippage: float
    cost_factor: float

    def safe_size(self, move: float) -> float:
        profile = get_profile(self.case.venue)
        backing = None
        if self.backing_account is not None:
            backing = cross_backing(self.backing_account, 0, profile)
        return largest_safe_size(
            self.case.position,
            profile,
            move,
            floor=self.floor,
            slippage=self.slippage,
            cost_factor=self.cost_factor,
            backing=backing,
            policy=self.policy,
        )

    def excess_after(self, kept: float, move: float) -> float:
        """Equity left after the move and closing what is kept, minus the floor (oracle)."""
        p = self.case.position
        s = p.side.sign
        venue = self.case.venue
        stressed = p.mark_price * (1 - s * move)
        fee_now = p.taker_fee + self.slippage
        fee_then = p.taker_fee + self.slippage * self.cost_factor
        close_then = kept * stressed * fee_then
        others_required = 0.0
        if self.policy is ReduceMarginPolicy.PROPORTIONAL:
            # The closed part's margin is released: the kept part holds C * kept / q.
            equity = self.case.collateral * kept / p.size + pnl(p, stressed, kept) - close_then
        else:
            # Retained (isolated) or cross: the closed part's PnL and fees stay behind it.
            base = self.case.collateral
            if self.backing_account is not None:
                others = self.backing_account.positions[1:]
                base = self.backing_account.wallet_balance + sum(
                    pnl(o, o.mark_price) for o in others
                )
                others_required = sum(threshold(venue, o, o.size, o.mark_price) for o in others)
            closed = p.size - kept
            equity = (
                base
                + pnl(p, p.mark_price, closed)
                - closed * p.mark_price * fee_now
                + pnl(p, stressed, kept)
                - close_then
            )
        if self.floor is EquityFloor.ZERO:
            return equity
        return equity - others_required - threshold(venue, p, kept, stressed)

    def scale(self) -> float:
        p = self.case.position
        return 1e-9 * (abs(self.case.collateral) + 3 * p.size * p.mark_price)


@st.composite
def reductions(draw: st.DrawFn) -> Reduction:
    floor = draw(st.sampled_from(list(EquityFloor)))
    slippage = draw(st.sampled_from([0.0, 0.0005, 0.002]))
    cost_factor = draw(st.sampled_from([0.0, 1.0, 2.0]))
    if draw(st.booleans()):
        case = draw(cases(mode=MarginMode.ISOLATED))
        policy = draw(st.sampled_from(list(ReduceMarginPolicy)))
        return Reduction(case, None, floor, policy, slippage, cost_factor)
    case = draw(cases(mode=MarginMode.CROSS))
    other = draw(cases(venues=[case.venue], mode=MarginMode.CROSS))
    other_position = replace(other.position, symbol="ETH/USDT:USDT")
    positions = (case.position, other_position)
    wallet = case.collateral + other.collateral
    account = AccountSnapshot(case.venue, wallet, positions, TAKEN_AT)
    return Reduction(case, account, floor, None, slippage, cost_factor)


moves = st.floats(0.0, 0.9)


@PROPERTY
@given(reduction=reductions(), first=moves, second=moves)
def test_largest_safe_size_does_not_grow_with_a_bigger_adverse_move(
    reduction: Reduction, first: float, second: float
) -> None:
    smaller, bigger = sorted((first, second))

    at_smaller = reduction.safe_size(smaller)
    at_bigger = reduction.safe_size(bigger)

    assert at_bigger <= at_smaller + 1e-12 * reduction.case.position.size


@PROPERTY
@given(reduction=reductions(), move=moves)
def test_position_reduced_to_largest_safe_size_survives_the_move_with_its_floor(
    reduction: Reduction, move: float
) -> None:
    q = reduction.case.position.size

    kept = reduction.safe_size(move)

    assert 0.0 <= kept <= q
    if kept > 0.0:
        assert reduction.excess_after(kept, move) >= -reduction.scale()
    if kept < q:
        # Maximal: keeping a little more would not survive (with float slack at the root).
        more = min(q, kept + 1e-6 * q)
        assert reduction.excess_after(more, move) <= reduction.scale()


@PROPERTY
@given(reduction=reductions(), move=moves)
def test_maintenance_floor_never_allows_more_than_the_zero_floor(
    reduction: Reduction, move: float
) -> None:
    zero = replace(reduction, floor=EquityFloor.ZERO)
    maintenance = replace(reduction, floor=EquityFloor.MAINTENANCE)

    slack = 1e-12 * reduction.case.position.size
    assert maintenance.safe_size(move) <= zero.safe_size(move) + slack


# --- Touch probability -------------------------------------------------------------------------


@PROPERTY
@given(
    mark=st.floats(1.0, 1e6),
    near=st.floats(1e-6, 0.95),
    further=st.floats(1e-6, 0.95),
    sigma=st.floats(1e-6, 1e-2),
    horizon=st.floats(1.0, 86_400.0),
    below=st.booleans(),
)
def test_touch_probability_is_a_probability_falling_with_distance(
    mark: float, near: float, further: float, sigma: float, horizon: float, below: bool
) -> None:
    near, further = sorted((near, further))
    direction = -1 if below else 1

    p_near = touch_probability(mark, mark * (1 + direction * near), sigma, horizon)
    p_further = touch_probability(mark, mark * (1 + direction * further), sigma, horizon)

    assert 0.0 <= p_further <= p_near <= 1.0


@PROPERTY
@given(mark=st.floats(1.0, 1e6), sigma=st.floats(1e-6, 1e-2), horizon=st.floats(1.0, 1e5))
def test_touch_probability_is_certain_past_the_threshold_and_nil_without_one(
    mark: float, sigma: float, horizon: float
) -> None:
    past = touch_probability(mark, mark * 1.01, sigma, horizon, safe=False)
    none = touch_probability(mark, None, sigma, horizon)

    assert past == 1.0
    assert none == 0.0


# --- Volatility --------------------------------------------------------------------------------


def _gbm(seed: int, sigma: float, samples: int) -> list[tuple[float, float]]:
    """A driftless GBM mark sampled at jittered intervals (0.5 s to 1.5 s)."""
    rng = random.Random(seed)
    time, price = 0.0, 50_000.0
    path = [(time, price)]
    for _ in range(samples):
        dt = rng.uniform(0.5, 1.5)
        time += dt
        price *= math.exp(-0.5 * sigma**2 * dt + sigma * math.sqrt(dt) * rng.gauss(0.0, 1.0))
        path.append((time, price))
    return path


@pytest.mark.parametrize("seed", [7, 11, 2025])
@pytest.mark.parametrize("daily_sigma", [0.02, 0.05, 0.3])
def test_ewma_volatility_recovers_the_sigma_of_a_synthetic_gbm(
    seed: int, daily_sigma: float
) -> None:
    sigma = per_sqrt_second(daily_sigma)
    path = _gbm(seed, sigma, 20_000)  # about 20 half-lives: the seeding return has decayed

    state = ewma_sigma(path, half_life_s=1_000.0, floor_per_sqrt_s=sigma / 10)

    assert state.raw_sigma == pytest.approx(sigma, rel=0.1)
    assert state.sigma == state.raw_sigma
    assert state.floored is False
    assert state.samples == len(path)


@PROPERTY
@given(
    steps=st.lists(
        st.tuples(st.floats(0.01, 600.0), st.floats(-0.05, 0.05)), min_size=0, max_size=40
    ),
    floor=st.floats(0.0, 1e-3),
    half_life=st.floats(1.0, 1e5),
)
def test_ewma_volatility_never_reports_below_its_floor(
    steps: list[tuple[float, float]], floor: float, half_life: float
) -> None:
    state = EwmaVolatility(half_life_s=half_life, floor_per_sqrt_s=floor).update(0.0, 100.0)
    time, price = 0.0, 100.0
    for dt, log_return in steps:
        time += dt
        price *= math.exp(log_return)
        state = state.update(time, price)

    raw = state.raw_sigma
    assert state.sigma >= floor
    assert state.sigma == (floor if raw is None else max(raw, floor))
    assert state.floored is (raw is None or raw < floor)
    assert (raw is None) is (not steps)


def test_ewma_volatility_of_a_flat_mark_is_the_floor() -> None:
    flat = [(float(t), 100.0) for t in range(100)]

    state = ewma_sigma(flat, half_life_s=60.0, floor_per_sqrt_s=1e-4)

    assert state.raw_sigma == 0.0
    assert state.sigma == 1e-4
    assert state.floored is True


@pytest.mark.parametrize(("time_s", "price"), [(10.0, 100.0), (5.0, 100.0), (11.0, 0.0)])
def test_ewma_volatility_rejects_out_of_order_times_and_non_positive_prices(
    time_s: float, price: float
) -> None:
    state = EwmaVolatility(half_life_s=60.0, floor_per_sqrt_s=0.0).update(10.0, 100.0)

    with pytest.raises(ValueError, match=r"time order|positive"):
        state.update(time_s, price)


# --- SPAN scenarios ----------------------------------------------------------------------------


@PROPERTY
@given(
    sigma=st.floats(1e-6, 1e-2),
    horizon=st.floats(1.0, 3_600.0),
    scan=st.floats(1.0, 5.0),
    cover=st.floats(0.0, 1.0),
)
def test_span_scenarios_are_sixteen_with_the_span_structure(
    sigma: float, horizon: float, scan: float, cover: float
) -> None:
    scan_range = scan * sigma * math.sqrt(horizon)

    scenarios = span_scenarios(
        sigma, horizon, scan_sigmas=scan, extreme_multiple=3.0, extreme_cover=cover
    )

    assert len(scenarios) == 16
    assert len({s.name for s in scenarios}) == 16
    regular, extremes = scenarios[:14], scenarios[14:]
    fractions = sorted(math.log1p(s.move) / scan_range for s in regular)
    expected = sorted(2 * [0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0])
    assert fractions == pytest.approx(expected, abs=1e-9)
    # Every price move comes once with volatility up (doubled slippage) and once down.
    assert sorted(s.cost_factor for s in regular) == [1.0] * 7 + [2.0] * 7
    assert all(s.loss_weight == 1.0 for s in regular)
    for up, down in zip(regular[::2], regular[1::2], strict=True):
        assert up.move == down.move
        assert "vol up" in up.name
        assert "vol down" in down.name
    assert [math.log1p(s.move) / scan_range for s in extremes] == pytest.approx([3.0, -3.0])
    assert all(s.loss_weight == cover for s in extremes)
    assert all(s.move > -1.0 for s in scenarios)


@PROPERTY
@given(
    btc=st.floats(1e-6, 1e-3),
    eth=st.floats(1e-6, 1e-3),
    default=st.floats(0.0, 1e-3),
    horizon=st.floats(1.0, 3_600.0),
)
def test_span_scenarios_with_per_symbol_sigmas_move_each_symbol_by_its_own_range(
    btc: float, eth: float, default: float, horizon: float
) -> None:
    root = 3.0 * math.sqrt(horizon)  # the default scan range is 3 sigma over the horizon

    scenarios = span_scenarios({"BTC": btc, "ETH": eth}, horizon, default_sigma_per_sqrt_s=default)

    assert len(scenarios) == 16
    fractions = [math.log1p(s.move_for("BTC")) / (root * btc) for s in scenarios]
    expected = sorted([*(2 * [0.0, 1 / 3, -1 / 3, 2 / 3, -2 / 3, 1.0, -1.0]), 3.0, -3.0])
    assert sorted(fractions) == pytest.approx(expected, abs=1e-9)
    for scenario, fraction in zip(scenarios, fractions, strict=True):
        eth_move = math.log1p(scenario.move_for("ETH"))
        assert eth_move == pytest.approx(fraction * root * eth, rel=1e-9, abs=1e-15)
        # Symbols without their own sigma take the default one.
        other_move = math.log1p(scenario.move_for("SOL"))
        assert other_move == pytest.approx(fraction * root * default, rel=1e-9, abs=1e-15)
