"""Regime features: hand-checked values, missing inputs stay missing, trailing windows only."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.contracts import MARKET_SERIES_COLUMNS
from axion_pipeline.ml import FeatureEngineer
from axion_pipeline.ml.regime_features import REGIME_FEATURE_COLUMNS, regime_features

N = 70
DATES = pd.bdate_range("2024-01-01", periods=N)


@pytest.fixture
def market() -> pd.DataFrame:
    """S&P 500 alternating +1% / -1%; constant rates and spreads; advance_decline = i / 100."""
    steps = np.where(np.arange(N) % 2 == 1, 1.01, 0.99)
    steps[0] = 1.0
    return pd.DataFrame(
        {
            "date": DATES,
            "sp500_close": 4000 * np.cumprod(steps),
            "vix": 20.0,
            "vix_3m": 22.0,
            "yield_3m": 5.0,
            "yield_2y": 4.0,
            "yield_10y": 4.5,
            "hy_spread": 3.5,
            "ig_spread": 1.2,
            "advance_decline": np.arange(N) / 100,
            "pct_above_200sma": np.linspace(0.3, 0.7, N),
            "put_call_ratio": np.nan,
        }
    )[MARKET_SERIES_COLUMNS]


def test_hand_checked_values(market):
    f = FeatureEngineer().create_regime_features(market)
    assert list(f.columns) == REGIME_FEATURE_COLUMNS and f.index.equals(DATES)
    last = f.iloc[-1]  # row 69: an odd row, so the last 20 returns alternate, 10 up and 10 down
    assert last["sp500_return_20d"] == pytest.approx((1.01 * 0.99) ** 10 - 1, rel=1e-9)
    assert last["sp500_return_60d"] == pytest.approx((1.01 * 0.99) ** 30 - 1, rel=1e-9)
    returns = np.array([0.01, -0.01] * 10)
    assert last["sp500_volatility_20d"] == pytest.approx(np.std(returns, ddof=1) * np.sqrt(252), rel=1e-6)
    assert last["vix_level"] == 20.0 and last["vix_term_structure"] == pytest.approx(0.1)
    assert last["yield_curve_10y_2y"] == pytest.approx(0.5) and last["credit_spread_hy_ig"] == pytest.approx(2.3)
    assert last["advance_decline_10d"] == pytest.approx((69 - 4.5) / 100)
    assert last["pct_above_200sma"] == pytest.approx(0.7)
    assert f["put_call_ratio"].isna().all()  # missing in the source: stays missing
    # Trailing windows need their full history: 20 returns, 60 days, 10 breadth values.
    assert f["sp500_return_20d"].first_valid_index() == DATES[20]
    assert f["sp500_volatility_20d"].first_valid_index() == DATES[20]
    assert f["sp500_return_60d"].first_valid_index() == DATES[60]
    assert f["advance_decline_10d"].first_valid_index() == DATES[9]


def test_missing_sources_give_nan_never_invented(market):
    sparse = market.drop(columns=["vix_3m", "put_call_ratio"]).assign(ig_spread=np.nan)
    f = regime_features(sparse.rename(columns={"sp500_close": "sp500"}).set_index("date"))
    assert f[["vix_term_structure", "credit_spread_hy_ig", "put_call_ratio"]].isna().all().all()
    assert f["yield_curve_10y_2y"].notna().all() and f["sp500_return_20d"].notna().sum() == N - 20
    holes = market.copy()
    holes.loc[30, "advance_decline"] = np.nan
    ad = regime_features(holes)["advance_decline_10d"]
    assert ad.iloc[30:40].isna().all() and ad.iloc[40:].notna().all()
    with pytest.raises(ValueError, match="sp500_close"):
        regime_features(market.drop(columns="sp500_close"))


def test_target_date_row_equals_all_dates_row_and_ignores_later_rows(market):
    eng = FeatureEngineer()
    full = eng.create_regime_features(market)
    for t in DATES[[0, 19, 20, 60, 65, N - 1]]:
        one = eng.create_regime_features(market, target_date=t)
        pd.testing.assert_frame_equal(one, full.loc[[t]], check_exact=True)
        changed = market.copy()
        later = changed["date"] > t
        changed.loc[later, ["sp500_close", "vix", "advance_decline"]] *= 3.0
        pd.testing.assert_frame_equal(eng.create_regime_features(changed, t), one, check_exact=True)
        pd.testing.assert_frame_equal(eng.create_regime_features(changed).loc[[t]], one, check_exact=True)
    with pytest.raises(ValueError, match="no row"):
        eng.create_regime_features(market, target_date="2023-06-01")
