"""Residual reversal: the factor model's residual of the last month, reversed (prices only)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.factors.residual_reversal import residual_reversal, residual_reversal_of_returns


def _closes(n_dates=300, n_names=40, seed=0) -> pd.DataFrame:
    """Returns driven by three common factors plus noise."""
    rng = np.random.default_rng(seed)
    factors = rng.normal(0, 0.01, (n_dates, 3))
    loadings = rng.normal(1, 0.5, (3, n_names))
    returns = factors @ loadings + rng.normal(0, 0.01, (n_dates, n_names))
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    return pd.DataFrame(
        100 * np.cumprod(1 + returns, axis=0), index=dates, columns=[f"T{i:02d}" for i in range(n_names)]
    )


def _reference(close: pd.DataFrame, t: int, k: int = 5) -> np.ndarray:
    """The definition with a plain SVD of the window's demeaned returns."""
    r = close.pct_change().to_numpy()[t - 251 : t + 1]
    r = np.nan_to_num(r) - np.nan_to_num(r).mean(axis=0)
    u = np.linalg.svd(r, full_matrices=False)[0][:, :k]
    e = r - u @ (u.T @ r)
    return -e[-21:].sum(axis=0) / e.std(axis=0, ddof=1)


@pytest.mark.parametrize("n_names", [40, 300])  # fewer names than days, and more: each solves its smaller side
def test_equals_the_svd_definition_and_needs_a_full_window(n_names):
    close = _closes(n_names=n_names)
    out = residual_reversal(close)
    # a window of 252 returns ends at the 253rd close at the earliest (the 252nd holds 251 returns:
    # every name still has the 240 it needs)
    assert out.iloc[:251].isna().all().all() and out.iloc[251].notna().all()
    for t in (252, 280, 299):
        np.testing.assert_allclose(out.iloc[t].to_numpy(), _reference(close, t), rtol=1e-8, atol=1e-10)


def test_a_date_reads_no_later_close():
    close = _closes()
    t = close.index[270]
    before = residual_reversal(close, [t])
    changed = close.copy()
    changed.iloc[271:] *= 1.5  # a later shock
    pd.testing.assert_frame_equal(residual_reversal(changed, [t]), before)
    pd.testing.assert_frame_equal(residual_reversal(close.iloc[:271], [t]), before)


def test_an_idiosyncratic_fall_scores_high_and_a_factor_driven_one_does_not():
    close = _closes(seed=3)
    t = len(close) - 1
    loser = close.copy()
    # one name drifts down 1% a day on its own over the last 15 days (a fall spread over days: one
    # large jump would be a principal component of its own)
    loser.iloc[t - 14 :, 7] *= np.cumprod(np.full(15, 0.99))
    assert residual_reversal(loser, [close.index[t]]).iloc[0].idxmax() == "T07"
    # a common factor falls over the last 15 days: the names loaded on it fall most, so raw
    # reversal ranks them by loading; the residual does not
    rng = np.random.default_rng(5)
    n_dates, n_names = 300, 60
    factor = rng.normal(0, 0.01, n_dates)
    factor[-15:] = -0.01
    loading = np.linspace(0.2, 2.0, n_names)
    returns = factor[:, None] * loading + rng.normal(0, 0.01, (n_dates, n_names))
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    panel = pd.DataFrame(100 * np.cumprod(1 + returns, axis=0), index=dates)
    raw = -(panel.iloc[-1] / panel.iloc[-22] - 1)
    residual = residual_reversal(panel, [dates[-1]]).iloc[0]
    assert raw.corr(pd.Series(loading), method="spearman") > 0.8
    assert abs(residual.corr(pd.Series(loading), method="spearman")) < 0.3


def test_names_short_of_history_are_missing_not_guessed():
    close = _closes()
    close.iloc[:100, 3] = np.nan  # listed late: 199 returns in the last window
    close.iloc[200:215, 5] = np.nan  # 15 missing closes = 16 missing returns: 236 left
    close.iloc[200:205, 6] = np.nan  # 6 missing returns: 246 left, still scored
    row = residual_reversal(close, [close.index[-1]]).iloc[0]
    assert np.isnan(row["T03"]) and np.isnan(row["T05"]) and np.isfinite(row["T06"])
    assert row.drop(["T03", "T05"]).notna().all()


def test_bad_requests_are_refused():
    close = _closes(n_dates=260)
    with pytest.raises(ValueError, match="no returns"):
        residual_reversal(close, [pd.Timestamp("1999-01-04")])
    with pytest.raises(ValueError, match="sorted"):
        residual_reversal(close.iloc[::-1])
    with pytest.raises(ValueError, match="horizon"):
        residual_reversal(close, horizon=300)


def test_returns_give_what_their_closes_give():
    close = _closes(n_dates=270)
    returns = close.pct_change(fill_method=None)
    pd.testing.assert_frame_equal(residual_reversal_of_returns(returns), residual_reversal(close))
