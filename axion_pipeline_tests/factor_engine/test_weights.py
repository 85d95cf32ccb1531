"""Regime weights, momentum overlay, weights_series and long-short category returns."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.factor_engine.regime import MarketRegime
from axion_pipeline.factor_engine.weights import (
    CATEGORIES,
    DEFAULT_WEIGHTS,
    REGIME_WEIGHTS,
    AdaptiveWeightManager,
    long_short_returns,
)

REGIME_VALUES = [r.value for r in MarketRegime]


def top_two(weights: dict[str, float]) -> set[str]:
    return set(sorted(weights, key=weights.get, reverse=True)[:2])


def random_returns(seed: int, n: int = 120, columns=CATEGORIES, nan_share: float = 0.1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    values = rng.normal(0.0, 0.01, (n, len(columns))) + rng.normal(0.0, 0.003, len(columns))
    values[rng.random(values.shape) < nan_share] = np.nan
    return pd.DataFrame(values, index=pd.bdate_range("2020-01-01", periods=n), columns=list(columns))


# --- regime weight tables ---------------------------------------------------------------------


def test_default_weights_are_neutral_and_tables_sum_to_one():
    assert list(DEFAULT_WEIGHTS) == CATEGORIES
    assert all(w == pytest.approx(1 / 6) for w in DEFAULT_WEIGHTS.values())
    assert set(REGIME_WEIGHTS) == set(MarketRegime)
    for weights in REGIME_WEIGHTS.values():
        assert list(weights) == CATEGORIES
        assert sum(weights.values()) == pytest.approx(1.0, abs=1e-12)
        assert min(weights.values()) > 0


def test_regime_tables_emphasise_the_right_categories():
    assert top_two(REGIME_WEIGHTS[MarketRegime.BULL]) == {"momentum", "growth"}
    assert top_two(REGIME_WEIGHTS[MarketRegime.BEAR]) == {"quality", "volatility"}
    crisis = REGIME_WEIGHTS[MarketRegime.CRISIS]
    assert max(crisis, key=crisis.get) == "quality"
    assert all(crisis["quality"] > REGIME_WEIGHTS[r]["quality"] for r in MarketRegime if r is not MarketRegime.CRISIS)
    sideways = REGIME_WEIGHTS[MarketRegime.SIDEWAYS]
    assert max(abs(sideways[c] - 1 / 6) for c in CATEGORIES) <= 0.04


@pytest.mark.parametrize("regime", list(MarketRegime) + REGIME_VALUES)
def test_without_overlay_the_table_is_returned(regime):
    expected = REGIME_WEIGHTS[MarketRegime(regime)]
    returns = random_returns(0)
    assert AdaptiveWeightManager().get_weights(regime) == pytest.approx(expected, abs=1e-15)
    off = AdaptiveWeightManager(use_momentum_overlay=False)
    assert off.get_weights(regime, returns) == pytest.approx(expected, abs=1e-15)


# --- momentum overlay -------------------------------------------------------------------------


def test_overlay_hand_computed():
    # momentum: mean 0.02, std 0.01*sqrt(2), n 2 -> t = 2; value: -t; quality: constant positive
    returns = pd.DataFrame(
        {"momentum": [0.01, 0.03], "value": [-0.01, -0.03], "quality": [0.001, 0.001]},
        index=pd.bdate_range("2021-03-01", periods=2),
    )
    mgr = AdaptiveWeightManager(overlay_strength=0.5, min_weight=0.0)
    base = REGIME_WEIGHTS[MarketRegime.SIDEWAYS]
    mult = dict.fromkeys(CATEGORIES, 1.0)
    mult.update(momentum=np.exp(0.5 * np.tanh(2.0)), value=np.exp(-0.5 * np.tanh(2.0)), quality=np.exp(0.5))
    raw = {c: base[c] * mult[c] for c in CATEGORIES}
    expected = {c: raw[c] / sum(raw.values()) for c in CATEGORIES}
    assert mgr.get_weights("sideways", returns) == pytest.approx(expected, rel=1e-12)


def test_overlay_tilts_toward_positive_return_categories():
    rng = np.random.default_rng(3)
    n = 63
    returns = pd.DataFrame(
        {
            "momentum": 0.004 + rng.normal(0, 0.01, n),
            "growth": -0.004 + rng.normal(0, 0.01, n),
            "quality": np.zeros(n),
        },
        index=pd.bdate_range("2021-01-01", periods=n),
    )
    mgr = AdaptiveWeightManager()
    for regime in MarketRegime:
        base = REGIME_WEIGHTS[regime]
        w = mgr.get_weights(regime, returns)
        ratio = {c: w[c] / base[c] for c in CATEGORIES}
        assert ratio["momentum"] > ratio["value"] > ratio["growth"]
        # categories without returns (or with all-zero returns) keep their relative weights
        untilted = [ratio[c] for c in ("value", "quality", "volatility", "technical")]
        assert max(untilted) - min(untilted) < 1e-12


def test_only_the_lookback_window_matters():
    returns = random_returns(4, n=200, nan_share=0.0)
    mgr = AdaptiveWeightManager(lookback_days=63)
    changed = returns.copy()
    changed.iloc[: 200 - 63] = -changed.iloc[: 200 - 63] + 0.05
    assert mgr.get_weights("bull", changed) == mgr.get_weights("bull", returns)
    changed.iloc[-1] += 0.05
    assert mgr.get_weights("bull", changed) != mgr.get_weights("bull", returns)


def test_floor_is_respected_under_extreme_tilts():
    returns = pd.DataFrame(
        {"growth": [-0.05] * 10, "momentum": [-0.04] * 10},
        index=pd.bdate_range("2021-01-01", periods=10),
    )
    mgr = AdaptiveWeightManager(overlay_strength=5.0, min_weight=0.03)
    w = mgr.get_weights("crisis", returns)
    assert w["growth"] == pytest.approx(0.03, abs=1e-15)
    assert w["momentum"] == pytest.approx(0.03, abs=1e-15)
    assert sum(w.values()) == pytest.approx(1.0, abs=1e-12)
    base = REGIME_WEIGHTS[MarketRegime.CRISIS]
    free = ["value", "quality", "volatility", "technical"]  # untilted: base proportions rescaled to 0.94
    for c in free:
        assert w[c] == pytest.approx(base[c] * 0.94 / sum(base[f] for f in free), rel=1e-12)


@st.composite
def returns_frames(draw) -> pd.DataFrame:
    """Daily long-short returns for a random subset of categories, in basis points, with gaps."""
    cols = draw(st.lists(st.sampled_from(CATEGORIES), unique=True, max_size=6))
    n = draw(st.integers(min_value=0, max_value=40))
    cells = draw(st.lists(st.none() | st.integers(-800, 800), min_size=n * len(cols), max_size=n * len(cols)))
    values = np.array([np.nan if v is None else v / 1e4 for v in cells]).reshape(n, len(cols))
    return pd.DataFrame(values, index=pd.bdate_range("2020-01-01", periods=n), columns=cols)


@settings(max_examples=150, deadline=None)
@given(
    returns=returns_frames(),
    regime=st.sampled_from(list(MarketRegime)),
    strength=st.floats(min_value=0.0, max_value=4.0),
    min_weight=st.floats(min_value=0.0, max_value=0.16),
    lookback=st.integers(min_value=2, max_value=100),
)
def test_weights_sum_to_one_and_respect_the_floor(returns, regime, strength, min_weight, lookback):
    mgr = AdaptiveWeightManager(overlay_strength=strength, lookback_days=lookback, min_weight=min_weight)
    w = mgr.get_weights(regime, returns)
    assert list(w) == CATEGORIES
    assert abs(sum(w.values()) - 1.0) <= 1e-12
    assert all(v >= 0.0 and v >= min_weight - 1e-15 for v in w.values())


def test_invalid_arguments_are_refused():
    with pytest.raises(ValueError, match="min_weight"):
        AdaptiveWeightManager(min_weight=0.2)
    with pytest.raises(ValueError, match="lookback_days"):
        AdaptiveWeightManager(lookback_days=1)
    with pytest.raises(ValueError, match="overlay_strength"):
        AdaptiveWeightManager(overlay_strength=-1.0)
    with pytest.raises(ValueError, match="unknown regime"):
        AdaptiveWeightManager().get_weights("boom")


# --- weights_series ---------------------------------------------------------------------------


def per_date(mgr: AdaptiveWeightManager, regimes: pd.Series, returns: pd.DataFrame | None) -> pd.DataFrame:
    rows = [mgr.get_weights(r, None if returns is None else returns.loc[:t]) for t, r in regimes.items()]
    return pd.DataFrame(rows, index=regimes.index, columns=CATEGORIES)


@pytest.mark.parametrize("lookback", [2, 20, 63])
def test_weights_series_equals_per_date_get_weights(lookback):
    returns = random_returns(7, n=150, columns=["value", "momentum", "growth", "technical"], nan_share=0.2)
    returns.iloc[30:45, 1] = np.nan  # a gap longer than the shortest lookback
    # regime dates start before the returns, skip some return dates and run past their end
    dates = pd.bdate_range("2019-12-20", periods=180)[::2]
    regimes = pd.Series(np.random.default_rng(8).choice(REGIME_VALUES, len(dates)), index=dates)
    mgr = AdaptiveWeightManager(overlay_strength=1.5, lookback_days=lookback, min_weight=0.05)
    vectorised = mgr.weights_series(regimes, returns)
    expected = per_date(mgr, regimes, returns)
    assert list(vectorised.columns) == CATEGORIES
    np.testing.assert_allclose(vectorised.to_numpy(), expected.to_numpy(), rtol=0, atol=1e-12)
    np.testing.assert_allclose(vectorised.sum(axis=1), 1.0, rtol=0, atol=1e-12)
    before = regimes.loc[: returns.index[0] - pd.Timedelta(days=1)]
    assert len(before) == 4  # no returns known yet: untilted (but floored) tables
    for t, r in before.items():
        assert vectorised.loc[t].to_dict() == pytest.approx(mgr.get_weights(r), abs=1e-15)


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(0, 99), shock=st.floats(-0.05, 0.05))
def test_weights_series_is_point_in_time(seed, cut, shock):
    returns = random_returns(seed, n=100)
    regimes = pd.Series(np.random.default_rng(seed).choice(list(MarketRegime), 100), index=returns.index)
    changed = returns.copy()
    changed.iloc[cut + 1 :] += shock
    mgr = AdaptiveWeightManager()
    a = mgr.weights_series(regimes, returns)
    b = mgr.weights_series(regimes, changed)
    pd.testing.assert_frame_equal(a.iloc[: cut + 1], b.iloc[: cut + 1])
    t = returns.index[cut]
    assert a.loc[t].to_dict() == pytest.approx(mgr.get_weights(regimes[t], returns.loc[:t]), abs=1e-12)


def test_weights_series_without_returns_is_the_table():
    regimes = pd.Series(["bull", "crisis"], index=pd.bdate_range("2021-01-01", periods=2))
    out = AdaptiveWeightManager().weights_series(regimes)
    assert out.loc[regimes.index[1]].to_dict() == pytest.approx(REGIME_WEIGHTS[MarketRegime.CRISIS], abs=1e-15)
    assert out.index.name == "date"


# --- long_short_returns -----------------------------------------------------------------------

TICKERS = list("ABCDEF")
# daily simple returns close t-1 -> t; D has no close on day 2, hence no return on days 2 and 3
RETURNS = {
    1: [0.01, 0.02, -0.01, 0.00, -0.02, 0.03],
    2: [-0.02, 0.01, 0.04, np.nan, 0.04, -0.01],
    3: [0.03, -0.01, 0.02, np.nan, 0.01, 0.05],
}
VALUE_SCORES = {
    0: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    1: [0.6, 0.5, 0.4, 0.3, 0.2, 0.1],
    2: [0.5, np.nan, 0.9, 0.1, 0.3, 0.7],
    3: [0.9, 0.1, 0.2, 0.3, 0.4, 0.5],  # day 3 scores earn nothing within the frame
}
MOMENTUM_SCORES = {
    0: [0.5] * 6,  # all tied: no top or bottom leg
    1: [0.2, 0.2, 0.5, 0.6, 0.9, 0.9],
    2: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6],
    3: [0.5] * 6,
}


def hand_frames() -> tuple[pd.DataFrame, pd.DataFrame]:
    dates = pd.bdate_range("2022-03-01", periods=4)
    close = pd.DataFrame(100.0, index=dates, columns=TICKERS)
    for d in (1, 2, 3):
        close.iloc[d] = close.iloc[d - 1].to_numpy() * (1.0 + np.nan_to_num(RETURNS[d]))
    close.loc[dates[2], "D"] = np.nan
    scores = pd.DataFrame(
        [
            {"date": dates[d], "ticker": t, "value": VALUE_SCORES[d][i], "momentum": MOMENTUM_SCORES[d][i]}
            for d in range(4)
            for i, t in enumerate(TICKERS)
        ]
    )
    return scores, close


def test_long_short_returns_hand_computed_quintiles():
    scores, close = hand_frames()
    out = long_short_returns(scores, close, n_quantiles=5)
    assert list(out.columns) == ["value", "momentum"]
    assert out.index.equals(close.index) and out.index.name == "date"
    assert out.iloc[0].isna().all()
    # day 1: 6 names, legs of floor(6/5) = 1; day-0 value scores: top F, bottom A
    assert out["value"].iloc[1] == pytest.approx(0.03 - 0.01, abs=1e-12)
    # day 2: D has no return -> 5 names; day-1 value scores: top A (0.6), bottom F (0.1)
    assert out["value"].iloc[2] == pytest.approx(-0.02 - (-0.01), abs=1e-12)
    # day 3: B has no score, D no return -> 4 names < 5 quantiles
    assert np.isnan(out["value"].iloc[3])
    # momentum: tied day-0 scores -> empty legs; day 2: A and B tie at rank 1.5 > 5/5 -> no bottom leg
    assert np.isnan(out["momentum"].iloc[1]) and np.isnan(out["momentum"].iloc[2])
    # day 3: 5 names (D has no return): top F, bottom A
    assert out["momentum"].iloc[3] == pytest.approx(0.05 - 0.03, abs=1e-12)


def test_long_short_returns_hand_computed_terciles():
    scores, close = hand_frames()
    out = long_short_returns(scores, close, n_quantiles=3)
    # day 1: legs of 2: top E, F; bottom A, B
    assert out["value"].iloc[1] == pytest.approx((-0.02 + 0.03) / 2 - (0.01 + 0.02) / 2, abs=1e-12)
    # day 2: 5 names, N/3 = 1.67 -> legs of 1: top A, bottom F
    assert out["value"].iloc[2] == pytest.approx(-0.02 - (-0.01), abs=1e-12)
    # day 3: 4 names A, C, E, F with day-2 scores 0.5, 0.9, 0.3, 0.7 -> top C, bottom E
    assert out["value"].iloc[3] == pytest.approx(0.02 - 0.01, abs=1e-12)
    # momentum day 2: ranks A 1.5, B 1.5, C 3, E 4.5, F 4.5 -> bottom A, B; top E, F
    assert out["momentum"].iloc[2] == pytest.approx((0.04 - 0.01) / 2 - (-0.02 + 0.01) / 2, abs=1e-12)


def test_long_short_returns_refuses_bad_input():
    scores, close = hand_frames()
    with pytest.raises(ValueError, match="category columns"):
        long_short_returns(scores[["date", "ticker"]], close)
    with pytest.raises(ValueError, match="duplicated"):
        long_short_returns(pd.concat([scores, scores.iloc[:1]]), close)
    with pytest.raises(ValueError, match="lacks"):
        long_short_returns(scores.drop(columns="ticker"), close)


def random_panel(seed: int, n_days: int = 12, n_tickers: int = 15) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2022-01-03", periods=n_days)
    tickers = [f"T{i:02d}" for i in range(n_tickers)]
    close = pd.DataFrame(100 * np.cumprod(1 + rng.normal(0, 0.02, (n_days, n_tickers)), axis=0), dates, tickers)
    close = close.where(rng.random(close.shape) > 0.05)
    idx = pd.MultiIndex.from_product([dates, tickers], names=["date", "ticker"])
    scores = pd.DataFrame({c: rng.random(len(idx)) for c in ("quality", "growth")}, index=idx).reset_index()
    scores.loc[rng.random(len(scores)) < 0.05, "quality"] = np.nan
    return scores, close


@settings(max_examples=40, deadline=None)
@given(seed=st.integers(0, 10_000), cut=st.integers(1, 10), n_quantiles=st.sampled_from([2, 3, 5]))
def test_long_short_returns_point_in_time_and_antisymmetric(seed, cut, n_quantiles):
    scores, close = random_panel(seed)
    out = long_short_returns(scores, close, n_quantiles)
    t = close.index[cut]
    later_close = close.copy()
    later_close.loc[close.index > t] *= 1.5
    later_scores = scores.copy()
    later_scores.loc[later_scores["date"] >= t, ["quality", "growth"]] = 1.0 - later_scores["quality"].fillna(0.5)
    changed = long_short_returns(later_scores, later_close, n_quantiles)
    pd.testing.assert_frame_equal(out.loc[:t], changed.loc[:t])
    flipped = scores.assign(quality=-scores["quality"], growth=-scores["growth"])
    pd.testing.assert_frame_equal(long_short_returns(flipped, close, n_quantiles), -out, atol=1e-15, rtol=0)
    assert out.iloc[1:].notna().any().all()
