"""Signal evaluation: hand-computed books, and statistics checked against plain reference code."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.analytics import signal_evaluation as SE
from axion_pipeline.ml import metrics as M

TICKERS = list("ABCDEFGHIJ")
DAYS = pd.bdate_range("2024-01-01", periods=6)


def _long(scores: dict[int, list[float]], fwd: dict[int, list[float]], folds=None) -> pd.DataFrame:
    rows = []
    for d, day in enumerate(DAYS):
        for i, t in enumerate(TICKERS):
            rows.append({"date": day, "ticker": t, "s": scores[d][i], "fwd_return": fwd[d][i]})
    frame = pd.DataFrame(rows)
    if folds is not None:
        frame["fold"] = frame["date"].map(dict(zip(DAYS, folds)))
    return frame


@pytest.fixture
def book_frame() -> pd.DataFrame:
    """10 names, h = 2, 5 quantiles (2 names a bucket); folds f1 = d0..d3, f2 = d4..d5, so the
    books are formed on d0, d2 (f1) and d4 (f2).
    d0: top {I, J}, bottom {A, B}; returns I .04, J .02, A -.01, B .01 -> gross .03.
    d2: top {H, J} (I replaced by H), bottom {A, B}; H .05, J .01, A .02, B 0 -> gross .02.
    d4: top {A, B}, bottom {I, J}; A 0, B -.02, I .01, J .03 -> gross -.03."""
    up = [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]
    scores = {0: up, 1: up, 2: [1, 2, 3, 4, 5, 6, 7, 10, 8, 9], 3: up, 4: up[::-1], 5: up}
    zero = [0.0] * 10
    fwd = {
        0: [-0.01, 0.01, 0, 0, 0, 0, 0, 0, 0.04, 0.02],
        1: [0.0, 0.01, 0.02, 0.03, 0.04, 0.05, 0.06, 0.07, 0.08, 0.09],
        2: [0.02, 0.0, 0, 0, 0, 0, 0, 0.05, 0, 0.01],
        3: zero,
        4: [0.0, -0.02, 0, 0, 0, 0, 0, 0, 0.01, 0.03],
        5: zero,
    }
    return _long(scores, fwd, folds=["f1", "f1", "f1", "f1", "f2", "f2"])


def test_long_short_book_hand_computed(book_frame):
    periods = SE.long_short_periods(book_frame, "s", horizon=2, cost_per_turnover=0.001)
    assert list(periods["date"]) == [DAYS[0], DAYS[2], DAYS[4]]
    assert list(periods["fold"]) == ["f1", "f1", "f2"]
    assert periods["gross"].tolist() == pytest.approx([0.03, 0.02, -0.03])
    # d0 built from zero (1.0); d2 swaps one long name (0.5 out of I, 0.5 into H: 0.5 one-way);
    # d4 opens fold f2, built from zero again.
    assert periods["turnover"].tolist() == pytest.approx([1.0, 0.5, 1.0])
    assert periods["net"].tolist() == pytest.approx([0.029, 0.0195, -0.031])

    table = SE.evaluate_signals(book_frame, ["s"], horizon=2, n_bootstrap=50).set_index("fold")
    f1, f2, total = table.loc["f1"], table.loc["f2"], table.loc["all"]
    assert f1["n_periods"] == 2 and f2["n_periods"] == 1 and total["n_periods"] == 3
    assert f1["ls_return_mean"] == pytest.approx(0.025)
    assert f1["ls_return_ann"] == pytest.approx(0.025 * 126)
    assert f1["ls_sharpe_ann"] == pytest.approx(0.025 / np.std([0.03, 0.02], ddof=1) * np.sqrt(126))
    assert f1["turnover"] == pytest.approx(0.75)
    assert f1["ls_return_net_mean"] == pytest.approx((0.029 + 0.0195) / 2)
    assert f1["ls_return_net_ann"] == pytest.approx((0.029 + 0.0195) / 2 * 126)
    assert np.isnan(f2["ls_sharpe_ann"])  # one period: no dispersion
    assert total["ls_return_mean"] == pytest.approx(0.02 / 3)
    assert total["turnover"] == pytest.approx(2.5 / 3)


def test_full_replacement_of_both_legs_is_two(book_frame):
    # Without folds the d4 book (top {A, B}, bottom {I, J}) follows the d2 book (top {H, J},
    # bottom {A, B}): A -.5 -> +.5, B -.5 -> +.5, H +.5 -> 0, J +.5 -> -.5, I 0 -> -.5.
    periods = SE.long_short_periods(book_frame, "s", fold_col=None, horizon=2)
    assert periods["turnover"].tolist() == pytest.approx([1.0, 0.5, 2.0])
    assert set(periods["fold"]) == {"all"}


def _reference_book(frame, signal, horizon, q, cost):
    """Loop over folds and rebalance dates; buckets from pandas' rank(method="first")."""
    frame = frame.sort_values(["date", "ticker"])
    out = []
    for _, fold in frame.groupby("fold", sort=False):
        previous: dict[str, float] = {}
        for day in sorted(fold["date"].unique())[::horizon]:
            cs = fold[fold["date"] == day].dropna(subset=[signal, "fwd_return"])
            if len(cs) < q:
                continue
            bucket = np.ceil(cs[signal].rank(method="first", pct=True) * q).clip(1, q)
            top, bottom = cs[bucket == q], cs[bucket == 1]
            weights = {t: 1 / len(top) for t in top["ticker"]}
            for t in bottom["ticker"]:
                weights[t] = -1 / len(bottom)
            names = set(weights) | set(previous)
            turnover = 0.5 * sum(abs(weights.get(t, 0.0) - previous.get(t, 0.0)) for t in names)
            gross = top["fwd_return"].mean() - bottom["fwd_return"].mean()
            out.append((day, gross, turnover, gross - cost * turnover))
            previous = weights
    return pd.DataFrame(out, columns=["date", "gross", "turnover", "net"])


@pytest.fixture
def random_frame() -> pd.DataFrame:
    """80 dates x 30 names, three folds, a signal with planted skill and missing values, a tied one."""
    rng = np.random.default_rng(7)
    days = pd.bdate_range("2023-01-02", periods=80)
    frame = pd.MultiIndex.from_product([days, [f"T{i:02d}" for i in range(30)]], names=["date", "ticker"])
    frame = frame.to_frame(index=False)
    n = len(frame)
    frame["fwd_return"] = rng.normal(0, 0.05, n)
    frame.loc[rng.random(n) < 0.05, "fwd_return"] = np.nan
    frame["good"] = frame["fwd_return"].fillna(0) + rng.normal(0, 0.1, n)
    frame.loc[rng.random(n) < 0.1, "good"] = np.nan
    frame["tied"] = rng.integers(0, 4, n).astype(float)
    frame["noise"] = rng.normal(size=n)
    frame["fold"] = np.where(frame["date"] < days[30], "w1", np.where(frame["date"] < days[55], "w2", "w3"))
    return frame.sample(frac=1.0, random_state=1).reset_index(drop=True)  # row order must not matter


@pytest.mark.parametrize("signal", ["good", "tied"])
def test_book_matches_reference_loop(random_frame, signal):
    got = SE.long_short_periods(random_frame, signal, horizon=5, cost_per_turnover=0.002)
    want = _reference_book(random_frame, signal, 5, 5, 0.002)
    assert list(got["date"]) == list(want["date"])
    for col in ("gross", "turnover", "net"):
        np.testing.assert_allclose(got[col], want[col], rtol=1e-12, atol=1e-15)


def _nw_tstat_statsmodels(x: np.ndarray, lags: int) -> float:
    sm = pytest.importorskip("statsmodels.api")
    fit = sm.OLS(x, np.ones(len(x))).fit(cov_type="HAC", cov_kwds={"maxlags": lags, "use_correction": False})
    return float(fit.tvalues[0])


def test_ic_statistics_match_references(random_frame):
    h = 5
    table = SE.evaluate_signals(random_frame, ["good", "noise"], horizon=h, n_bootstrap=200)
    for (name, fold), row in table.set_index(["signal", "fold"]).iterrows():
        sub = random_frame if fold == "all" else random_frame[random_frame["fold"] == fold]
        sub = sub.sort_values(["date", "ticker"])
        ic = []
        for _, cs in sub.groupby("date"):
            cs = cs.dropna(subset=[name, "fwd_return"])
            ic.append(stats.spearmanr(cs[name], cs["fwd_return"]).statistic)
        ic = np.array(ic)
        assert row["n_dates"] == len(ic)
        assert row["ic_mean"] == pytest.approx(ic.mean())
        assert row["ic_std"] == pytest.approx(ic.std(ddof=1))
        assert row["icir"] == pytest.approx(ic.mean() / ic.std(ddof=1))
        assert row["hit_rate"] == pytest.approx((ic > 0).mean())
        t = _nw_tstat_statsmodels(ic, h - 1)
        assert row["ic_tstat_nw"] == pytest.approx(t)
        assert row["ic_pvalue_nw"] == pytest.approx(2 * stats.t.sf(abs(t), len(ic) - 1))
        known = sub.dropna(subset=[name, "fwd_return"])
        spread = M.quantile_spread(known[name], known["fwd_return"], known["date"], 5)
        assert row["spread_mean"] == pytest.approx(spread.mean())
        assert row["ic_ci_low"] < row["ic_mean"] < row["ic_ci_high"]
    good = table.set_index(["signal", "fold"]).loc[("good", "all")]
    assert good["ic_mean"] > 0.3 and good["ic_pvalue_nw"] < 1e-6 and good["ic_ci_low"] > 0.2


def test_spread_breaks_ties_by_ticker_like_quantile_spread(random_frame):
    table = SE.evaluate_signals(random_frame, ["tied"], fold_col=None, horizon=5, n_bootstrap=10)
    known = random_frame.dropna(subset=["tied", "fwd_return"]).sort_values(["date", "ticker"])
    spread = M.quantile_spread(known["tied"], known["fwd_return"], known["date"], 5)
    assert list(table["fold"]) == ["all"]
    assert table.loc[0, "spread_mean"] == pytest.approx(spread.mean(), rel=1e-12)


def test_block_bootstrap_matches_explicit_resampling():
    rng = np.random.default_rng(3)
    x = rng.normal(size=23)
    b, n_res, seed = 4, 300, 11
    low, high = SE.block_bootstrap_ci(x, b, n_res, seed)
    # The same draws, resamples built by indexing the circle: blocks of 4, 6 blocks, last one cut to 3.
    starts = np.random.default_rng(seed).integers(0, 23, size=(n_res, 6))
    means = []
    for row in starts:
        idx = np.concatenate([(s + np.arange(b)) % 23 for s in row])[:23]
        means.append(x[idx].mean())
    assert (low, high) == pytest.approx(tuple(np.quantile(means, [0.025, 0.975])), rel=1e-12)


def test_block_bootstrap_widens_for_autocorrelated_series():
    rng = np.random.default_rng(0)
    overlapping = np.convolve(rng.normal(size=520), np.ones(20) / 20, mode="valid")  # like 20-day overlap
    lo1, hi1 = SE.block_bootstrap_ci(overlapping, 1, 2000, 0)
    lo20, hi20 = SE.block_bootstrap_ci(overlapping, 20, 2000, 0)
    assert (hi20 - lo20) > 2.5 * (hi1 - lo1)
    # iid data: close to the normal interval mean +- 1.96 sd / sqrt(n)
    iid = rng.normal(size=1000)
    lo, hi = SE.block_bootstrap_ci(iid, 1, 2000, 0)
    assert hi - lo == pytest.approx(2 * 1.96 * iid.std(ddof=1) / np.sqrt(1000), rel=0.08)
    assert SE.block_bootstrap_ci(iid[:7], 4) == (pytest.approx(np.nan, nan_ok=True),) * 2


def test_too_little_data_gives_nan_not_an_exception():
    frame = pd.DataFrame(
        {
            "date": pd.to_datetime(["2024-01-02"] * 2 + ["2024-01-03"] * 2),
            "ticker": ["A", "B"] * 2,
            "s": [1.0, 2.0, np.nan, np.nan],
            "empty": np.nan,
            "fwd_return": [0.01, 0.02, np.nan, 0.0],
        }
    )
    table = SE.evaluate_signals(frame, ["s", "empty"], horizon=21)
    assert len(table) == 2 and (table["n_dates"] == 0).all() and (table["n_periods"] == 0).all()
    numeric = table.drop(columns=["signal", "fold", "start", "end", "n_dates", "n_periods"])
    assert numeric.isna().all().all()
    paired = SE.paired_ic_test(frame, "s", ["empty"])
    assert paired.loc[0, "n_dates"] == 0 and np.isnan(paired.loc[0, "diff_mean"])
    assert np.isnan(paired.loc[0, "fold_win_rate"])
    assert np.isnan(SE.signal_exposures(frame, ["s"], ["empty"]).loc[0, "empty"])


def test_input_contract_is_enforced(book_frame):
    with pytest.raises(ValueError, match="duplicate"):
        SE.evaluate_signals(pd.concat([book_frame, book_frame.head(1)]), ["s"])
    bad = book_frame.copy()
    bad.loc[0, "fold"] = "f2"
    with pytest.raises(ValueError, match="one label per date"):
        SE.evaluate_signals(bad, ["s"])
    with pytest.raises(ValueError, match="lacks columns"):
        SE.evaluate_signals(book_frame, ["missing"])


def _ic_frame(model_sign: dict[int, int], base_sign: dict[int, int], folds) -> pd.DataFrame:
    """3 names a date; a signal with sign +1 ranks like the outcome (IC 1), -1 reversed (IC -1)."""
    rows = []
    days = pd.bdate_range("2024-01-01", periods=len(folds))
    for d, day in enumerate(days):
        for i, t in enumerate("XYZ"):
            rows.append(
                {
                    "date": day,
                    "ticker": t,
                    "fwd_return": float(i),
                    "model": model_sign[d] * i if d in model_sign else np.nan,
                    "base": base_sign[d] * i if d in base_sign else np.nan,
                    "fold": folds[d],
                }
            )
    return pd.DataFrame(rows)


def test_paired_test_hand_computed():
    # Dates 0..5; the baseline has no IC on date 5. d_t = 2 (model 1, base -1), 0 or -2.
    model = {0: 1, 1: 1, 2: 1, 3: -1, 4: 1, 5: 1}
    base = {0: -1, 1: 1, 2: -1, 3: 1, 4: 1}
    frame = _ic_frame(model, base, ["a", "a", "b", "b", "c", "c"])
    row = SE.paired_ic_test(frame, "model", ["base"], horizon=2).iloc[0]
    d = np.array([2.0, 0.0, 2.0, -2.0, 0.0])
    assert row["n_dates"] == 5
    assert row["diff_mean"] == pytest.approx(0.4)
    assert row["model_ic_mean"] == pytest.approx(0.6) and row["baseline_ic_mean"] == pytest.approx(0.2)
    t = _nw_tstat_statsmodels(d, 1)
    assert row["diff_tstat_nw"] == pytest.approx(t)
    assert row["diff_pvalue_nw"] == pytest.approx(2 * stats.t.sf(abs(t), 4))
    # fold a: model 1 vs base 0 (win); b: 0 vs 0 (no win); c (common date 4 only): 1 vs 1 (no win)
    assert row["n_folds"] == 3 and row["fold_win_rate"] == pytest.approx(1 / 3)


def test_paired_test_same_rows():
    # Outcome 0..3; the baseline misses name W (the model's only error), so on common rows both are perfect.
    frame = pd.DataFrame(
        {
            "date": pd.Timestamp("2024-01-02"),
            "ticker": list("WXYZ"),
            "fwd_return": [0.0, 1.0, 2.0, 3.0],
            "model": [5.0, 1.0, 2.0, 3.0],
            "base": [np.nan, 1.0, 2.0, 3.0],
        }
    )
    own = SE.paired_ic_test(frame, "model", ["base"], fold_col=None).iloc[0]
    assert own["model_ic_mean"] == pytest.approx(stats.spearmanr([5, 1, 2, 3], [0, 1, 2, 3]).statistic)
    same = SE.paired_ic_test(frame, "model", ["base"], fold_col=None, same_rows=True).iloc[0]
    assert same["model_ic_mean"] == pytest.approx(1.0) and same["diff_mean"] == pytest.approx(0.0)


def test_exposures_hand_computed():
    # Two dates, 8 names in sectors X (a, b, c, d) and Y (e, f, g, h).
    sectors = list("XXXXYYYY")
    char = [1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0]
    neutral = [1.0, 4.0, 5.0, 8.0, 2.0, 3.0, 6.0, 7.0]  # sector mean ranks 4.5 and 4.5: R^2 = 0
    interleaved = [1.0, 3.0, 5.0, 7.0, 2.0, 4.0, 6.0, 8.0]  # means 4 and 5: R^2 = 8 * 0.25 / 42
    rows = []
    for d, day in enumerate(pd.bdate_range("2024-01-01", periods=2)):
        for i, t in enumerate("abcdefgh"):
            rows.append(
                {
                    "date": day,
                    "ticker": t,
                    "sector": sectors[i],
                    "size": char[i] if d == 0 else -char[i],
                    "neutral": neutral[i],
                    "interleaved": interleaved[i],
                    "sector_bet": 1.0 if sectors[i] == "Y" else 0.0,
                    "fold": "only",
                }
            )
    frame = pd.DataFrame(rows)
    table = SE.signal_exposures(frame, ["neutral", "interleaved", "sector_bet"], ["size"], "sector")
    table = table.set_index(["signal", "fold"])
    rho = stats.spearmanr(neutral, char).statistic  # +rho on date 0, -rho on date 1
    assert table.loc[("neutral", "all"), "size"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc[("interleaved", "only"), "size"] == pytest.approx(0.0, abs=1e-12)
    assert rho != 0
    assert table.loc[("neutral", "all"), "sector_r2"] == pytest.approx(0.0, abs=1e-12)
    assert table.loc[("interleaved", "all"), "sector_r2"] == pytest.approx(2.0 / 42.0)
    assert table.loc[("sector_bet", "all"), "sector_r2"] == pytest.approx(1.0)
    one_date = SE.signal_exposures(frame[frame["date"] == frame["date"].min()], ["neutral"], ["size"], "sector")
    assert one_date.set_index("fold").loc["all", "size"] == pytest.approx(rho)


def test_exposures_match_scipy_per_date(random_frame):
    random_frame = random_frame.assign(sector=lambda f: f["ticker"].str[-1].astype(int) % 3)
    table = SE.signal_exposures(random_frame, ["good"], ["noise"], "sector").set_index("fold")
    for fold, sub in random_frame.groupby("fold"):
        rho, r2 = [], []
        for _, cs in sub.groupby("date"):
            both = cs.dropna(subset=["good", "noise"])
            rho.append(stats.spearmanr(both["good"], both["noise"]).statistic)
            g = cs.dropna(subset=["good"])
            r = g["good"].rank()
            fit = r.groupby(g["sector"]).transform("mean")
            r2.append(((fit - r.mean()) ** 2).sum() / ((r - r.mean()) ** 2).sum())
        assert table.loc[fold, "noise"] == pytest.approx(np.mean(rho))
        assert table.loc[fold, "sector_r2"] == pytest.approx(np.mean(r2))


def test_ic_by_date_and_markdown(random_frame):
    ic = SE.ic_by_date(random_frame, ["good"])
    known = random_frame.dropna(subset=["good", "fwd_return"])
    ref = M.per_date_ic(known["good"], known["fwd_return"], known["date"])
    np.testing.assert_allclose(ic["good"].loc[ref.index].to_numpy(), ref.to_numpy(), rtol=1e-12)
    table = SE.evaluate_signals(random_frame, ["good"], horizon=5, n_bootstrap=10)
    text = SE.evaluation_markdown(table, ["signal", "fold", "ic_mean", "turnover"])
    assert text.splitlines()[0] == "| signal | fold | ic_mean | turnover |"
    assert f"| good | all | {table.iloc[-1]['ic_mean']:.4f} |" in text


def test_a_constant_signal_has_no_buckets_and_no_book(book_frame):
    """Equal scores carry no ranking: no IC, no spread and no long-short period (the ticker order
    would otherwise pick the book)."""
    frame = book_frame.assign(flat=0.5)
    table = SE.evaluate_signals(frame, ["flat", "s"], horizon=2, n_bootstrap=10).set_index(["signal", "fold"])
    flat = table.loc[("flat", "all")]
    assert flat["n_dates"] == 0 and np.isnan(flat["spread_mean"]) and flat["n_periods"] == 0
    assert np.isnan(flat["ls_return_mean"]) and table.loc[("s", "all"), "n_periods"] == 3
    assert SE.long_short_periods(frame, "flat", horizon=2).empty
