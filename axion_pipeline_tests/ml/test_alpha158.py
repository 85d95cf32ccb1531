"""Alpha158 features against a literal per-ticker transcription of Qlib's formulas, no look-ahead,
and the Qlib reference recipe (normalisation, label, LightGBM settings)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from axion_pipeline.factors.rolling import min_obs
from axion_pipeline.ml import alpha158 as A

DAYS = pd.bdate_range("2021-01-04", periods=90)


@pytest.fixture(scope="module")
def prices() -> pd.DataFrame:
    """3 tickers x 90 days: A complete, B misses day 40, C lists on day 10; random OHLCV."""
    rng = np.random.default_rng(5)
    rows = []
    for t in "ABC":
        close = 30 * np.exp(np.cumsum(rng.normal(0, 0.02, len(DAYS))))
        opens = close * np.exp(rng.normal(0, 0.01, len(DAYS)))
        high = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0, 0.01, len(DAYS))))
        low = np.minimum(opens, close) * np.exp(-np.abs(rng.normal(0, 0.01, len(DAYS))))
        volume = rng.integers(1_000, 50_000, len(DAYS)).astype(float)
        for k, day in enumerate(DAYS):
            if (t == "B" and k == 40) or (t == "C" and k < 10):
                continue
            rows.append((day, t, opens[k], high[k], low[k], close[k], volume[k]))
    frame = pd.DataFrame(rows, columns=["date", "ticker", "open", "high", "low", "close", "volume"])
    return frame.sample(frac=1.0, random_state=3)


def _reference(prices: pd.DataFrame) -> pd.DataFrame:
    """Qlib's expressions one ticker at a time with pandas (windows need min_obs(d) values)."""
    fields = ("open", "high", "low", "close", "volume")
    wide = {k: prices.pivot(index="date", columns="ticker", values=k) for k in fields}
    out = []
    for t in wide["close"].columns:
        O, H, L, C, V = (wide[k][t] for k in fields)  # noqa: E741, N806
        W = (H + L + C) / 3  # noqa: N806
        e = 1e-12
        f = {
            "KMID": (C - O) / O,
            "KLEN": (H - L) / O,
            "KMID2": (C - O) / (H - L + e),
            "KUP": (H - np.maximum(O, C)) / O,
            "KUP2": (H - np.maximum(O, C)) / (H - L + e),
            "KLOW": (np.minimum(O, C) - L) / O,
            "KLOW2": (np.minimum(O, C) - L) / (H - L + e),
            "KSFT": (2 * C - H - L) / O,
            "KSFT2": (2 * C - H - L) / (H - L + e),
            "OPEN0": O / C,
            "HIGH0": H / C,
            "LOW0": L / C,
            "VWAP0": W / C,
        }
        dc, dv = C - C.shift(1), V - V.shift(1)
        up = (dc > 0).astype(float).where(dc.notna())
        down = (dc < 0).astype(float).where(dc.notna())
        w = (C / C.shift(1) - 1).abs() * V
        for d in A.WINDOWS:

            def R(s, d=d):  # noqa: N802
                return s.rolling(d, min_periods=min_obs(d))

            def reg(win, what, d=d):
                x = np.arange(len(win)) - len(win) + 1.0  # newest date at 0
                ok = ~np.isnan(win)
                slope, intercept = np.polyfit(x[ok], win[ok], 1)
                if what == "slope":
                    return slope
                if what == "rsqr":
                    return np.corrcoef(x[ok], win[ok])[0, 1] ** 2
                return win[-1] - intercept

            def pos(win, fn, d=d):
                return d - len(win) + fn(win) + 1.0

            f[f"ROC{d}"] = C.shift(d) / C
            f[f"MA{d}"] = R(C).mean() / C
            f[f"STD{d}"] = R(C).std() / C
            f[f"BETA{d}"] = R(C).apply(reg, raw=True, args=("slope",)) / C
            f[f"RSQR{d}"] = R(C).apply(reg, raw=True, args=("rsqr",)).where(C.notna())
            f[f"RESI{d}"] = R(C).apply(reg, raw=True, args=("resi",)) / C
            f[f"MAX{d}"] = R(H).max() / C
            f[f"MIN{d}"] = R(L).min() / C
            f[f"QTLU{d}"] = R(C).quantile(0.8) / C
            f[f"QTLD{d}"] = R(C).quantile(0.2) / C
            f[f"RANK{d}"] = R(C).rank(pct=True)
            f[f"RSV{d}"] = (C - R(L).min()) / (R(H).max() - R(L).min() + e)
            imax = R(H).apply(pos, raw=True, args=(np.nanargmax,))
            imin = R(L).apply(pos, raw=True, args=(np.nanargmin,))
            f[f"IMAX{d}"], f[f"IMIN{d}"], f[f"IMXD{d}"] = imax / d, imin / d, (imax - imin) / d
            f[f"CORR{d}"] = R(C).corr(np.log(V + 1))
            f[f"CORD{d}"] = R(C / C.shift(1)).corr(np.log(V / V.shift(1) + 1))
            f[f"CNTP{d}"], f[f"CNTN{d}"] = R(up).mean(), R(down).mean()
            f[f"CNTD{d}"] = R(up).mean() - R(down).mean()
            f[f"SUMP{d}"] = R(dc.clip(lower=0)).sum() / (R(dc.abs()).sum() + e)
            f[f"SUMN{d}"] = R((-dc).clip(lower=0)).sum() / (R(dc.abs()).sum() + e)
            f[f"SUMD{d}"] = (R(dc.clip(lower=0)).sum() - R((-dc).clip(lower=0)).sum()) / (R(dc.abs()).sum() + e)
            f[f"VMA{d}"] = R(V).mean() / (V + e)
            f[f"VSTD{d}"] = R(V).std() / (V + e)
            f[f"WVMA{d}"] = R(w).std() / (R(w).mean() + e)
            f[f"VSUMP{d}"] = R(dv.clip(lower=0)).sum() / (R(dv.abs()).sum() + e)
            f[f"VSUMN{d}"] = R((-dv).clip(lower=0)).sum() / (R(dv.abs()).sum() + e)
            f[f"VSUMD{d}"] = (R(dv.clip(lower=0)).sum() - R((-dv).clip(lower=0)).sum()) / (R(dv.abs()).sum() + e)
        out.append(pd.DataFrame(f).assign(ticker=t).dropna(subset=["KLEN"]))  # rows the ticker has
    return pd.concat(out).rename_axis("date").reset_index().set_index(["date", "ticker"]).sort_index()


def test_names_are_qlibs_158_in_order():
    names = A.alpha158_names()
    assert len(names) == 158 == len(set(names))
    assert names[:13] == [*A.KBAR, "OPEN0", "HIGH0", "LOW0", "VWAP0"]
    assert names[13:18] == ["ROC5", "ROC10", "ROC20", "ROC30", "ROC60"]
    assert names[-1] == "VSUMD60" and names.index("MIN5") == 13 + 7 * 5


def test_features_match_qlib_formulas_per_ticker(prices):
    got = A.alpha158(prices).set_index(["date", "ticker"])
    want = _reference(prices)[A.alpha158_names()]
    assert got.index.equals(want.index) and list(got.columns) == list(want.columns)
    assert (got.dtypes == np.float32).all()
    for name in want.columns:
        np.testing.assert_allclose(
            got[name].to_numpy(dtype="float64"), want[name].to_numpy(), rtol=2e-6, atol=1e-7, err_msg=name
        )
    # every feature has values once the 60-day windows are full (and ROC30 does not land on B's gap)
    assert got.loc[DAYS[72]].notna().all().all()
    assert got.loc[(DAYS[70], "B"), ["ROC30"]].isna().all()


def test_kbar_and_window_positions_by_hand():
    days = pd.bdate_range("2021-01-04", periods=6)
    prices = pd.DataFrame(
        {
            "date": days,
            "ticker": "X",
            "open": 10.0,
            "high": [12.0, 15.0, 13.0, 15.0, 11.0, 12.0],
            "low": [9.0, 8.0, 7.0, 8.0, 7.0, 9.0],
            "close": [11.0, 12.0, 10.0, 14.0, 10.0, 11.0],
            "volume": 100.0,
            "vwap": 10.5,
        }
    )
    f = A.alpha158(prices).set_index("date")
    first = f.loc[days[0]]
    assert first["KMID"] == pytest.approx(0.1) and first["KLEN"] == pytest.approx(0.3)
    assert first["KMID2"] == pytest.approx(1 / 3) and first["KUP"] == pytest.approx(0.1)
    assert first["KLOW"] == pytest.approx(0.1) and first["KSFT2"] == pytest.approx(1 / 3)
    assert first["VWAP0"] == pytest.approx(10.5 / 11)  # the vwap column, not (H + L + C) / 3
    last = f.loc[days[5]]
    # window days 1..5: highs 15, 13, 15, 11, 12 -> max 15 first on day 1 (position 1 of 5);
    # lows 8, 7, 8, 7, 9 -> min 7 first on day 2 (position 2)
    assert last["MAX5"] == pytest.approx(15 / 11) and last["IMAX5"] == pytest.approx(1 / 5)
    assert last["IMIN5"] == pytest.approx(2 / 5) and last["IMXD5"] == pytest.approx(-1 / 5)
    assert last["RANK5"] == pytest.approx(3 / 5)  # closes 12, 10, 14, 10, 11: 11 ranks 3rd of 5
    assert last["ROC5"] == pytest.approx(11 / 11) and last["CNTP5"] == pytest.approx(3 / 5)
    assert last["SUMP5"] == pytest.approx((1 + 4 + 1) / (1 + 2 + 4 + 4 + 1))
    assert np.isnan(f.loc[days[3], "MA5"])  # 4 closes: the 5-day window needs all 5


def test_features_at_t_ignore_everything_after_t(prices):
    base = A.alpha158(prices)
    rng = np.random.default_rng(1)
    for cut in (15, 50, 75):
        t = DAYS[cut]
        later = prices["date"] > t
        changed = prices.copy()
        for col in ("open", "high", "low", "close", "volume"):
            changed.loc[later, col] *= np.exp(rng.normal(0, 0.3, later.sum()))
        changed = changed[~(later & (rng.random(len(changed)) < 0.2))]
        after = A.alpha158(changed)
        pd.testing.assert_frame_equal(
            base[base["date"] <= t].reset_index(drop=True), after[after["date"] <= t].reset_index(drop=True)
        )


def test_qlib_lightgbm_settings():
    # Read from qlib's examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml (task.model.kwargs)
    # and LGBModel's defaults (early_stopping_rounds=50, num_boost_round=1000); 20 threads there, 2 here.
    assert A.QLIB_LGB_PARAMS == {
        "objective": "mse",
        "colsample_bytree": 0.8879,
        "learning_rate": 0.2,
        "subsample": 0.8789,
        "lambda_l1": 205.6999,
        "lambda_l2": 580.9768,
        "max_depth": 8,
        "num_leaves": 210,
        "num_threads": 2,
        "verbosity": -1,
    }
    assert (A.QLIB_NUM_BOOST_ROUND, A.QLIB_EARLY_STOPPING_ROUNDS) == (1000, 50)


def _panel(n_dates: int, n_tickers: int, seed: int, skill: float) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    days = pd.bdate_range("2020-01-01", periods=n_dates)
    keys = pd.MultiIndex.from_product([days, [f"T{i:02d}" for i in range(n_tickers)]], names=["date", "ticker"])
    x = rng.normal(size=(len(keys), 3))
    x[rng.random(x.shape) < 0.05] = np.nan
    signal = np.nan_to_num(x[:, 0]) - 0.5 * np.nan_to_num(x[:, 1]) ** 2
    fwd = skill * signal + rng.normal(size=len(keys))
    features = pd.DataFrame(x, index=keys, columns=["f0", "f1", "f2"]).reset_index()
    labels = pd.DataFrame({"fwd_return": fwd}, index=keys).reset_index()
    labels.loc[labels.index % 17 == 0, "fwd_return"] = np.nan
    return features, labels


def test_cs_rank_norm_hand_computed():
    index = pd.MultiIndex.from_tuples(
        [("d1", "a"), ("d1", "b"), ("d1", "c"), ("d1", "d"), ("d2", "a"), ("d2", "b")], names=["date", "ticker"]
    )
    out = A.cs_rank_norm(pd.Series([0.1, -0.2, 0.3, np.nan, 5.0, 5.0], index=index))
    expected = [(2 / 3 - 0.5) * 3.46, (1 / 3 - 0.5) * 3.46, (1 - 0.5) * 3.46, np.nan, (0.75 - 0.5) * 3.46, 0.5 * 1.73]
    np.testing.assert_allclose(out.to_numpy(), expected)


def test_robust_zscore_formula_and_clip():
    days = pd.bdate_range("2020-01-01", periods=5)
    train = pd.DataFrame({"date": days, "ticker": "A", "f": [1.0, 2.0, 3.0, 4.0, 100.0]})
    model = A.Alpha158Reference()
    model.feature_names = ["f"]
    model.median, model.scale = np.array([3.0]), np.array([(1.0 + 1e-12) * 1.4826])  # set as fit() would
    # fit()'s statistics: median 3, MAD median(|x - 3|) = median(2, 1, 0, 1, 97) = 1
    x = train["f"].to_numpy()
    assert np.median(x) == 3.0 and np.median(np.abs(x - 3)) == 1.0
    z = model.normalize(train.set_index(["date", "ticker"])[["f"]])[:, 0]
    np.testing.assert_allclose(z, np.clip((x - 3) / 1.4826, -3, 3), rtol=1e-6)
    assert z[-1] == 3.0
    picked = A.Alpha158Reference(features=("f",))._features(train.assign(extra=1.0))
    assert list(picked.columns) == ["f"]


def test_reference_model_fits_and_predicts(tmp_path):
    # Qlib's L1/L2 penalties (206, 581) need a few thousand rows before a split pays off
    features, labels = _panel(70, 120, seed=0, skill=1.0)
    dates = features["date"].drop_duplicates().sort_values().to_numpy()
    train_dates, valid_dates, test_dates = dates[:40], dates[45:55], dates[60:]
    part = lambda frame, ds: frame[frame["date"].isin(ds)]  # noqa: E731
    model = A.Alpha158Reference(sample_every=2).fit(
        part(features, train_dates), part(labels, train_dates), part(features, valid_dates), part(labels, valid_dates)
    )
    # normalisation statistics are the training window's, over all its rows (not the sampled ones)
    train_x = part(features, train_dates)[["f0", "f1", "f2"]].to_numpy()
    np.testing.assert_allclose(model.median, np.nanmedian(train_x, axis=0))
    mad = np.nanmedian(np.abs(train_x - np.nanmedian(train_x, axis=0)), axis=0)
    np.testing.assert_allclose(model.scale, (mad + 1e-12) * 1.4826)
    # validation and test rows are scaled with the training statistics, not their own
    test_x = part(features, test_dates).set_index(["date", "ticker"])[["f0", "f1", "f2"]]
    want = np.nan_to_num(np.clip((test_x.to_numpy() - model.median) / model.scale, -3, 3), nan=0.0)
    np.testing.assert_allclose(model.normalize(test_x), want, rtol=1e-6, atol=1e-7)
    # every second training date counted back from the last (as the ranking model samples): 20
    # dates x 120 tickers minus the unlabelled rows
    sampled = part(labels, train_dates[1::2])
    assert model.booster.num_trees() >= 1
    assert model.n_train_rows == sampled["fwd_return"].notna().sum()
    scores = model.predict(part(features, test_dates))
    assert scores.name == "score" and list(scores.index.names) == ["date", "ticker"]
    assert len(scores) == len(part(features, test_dates))
    truth = part(labels, test_dates).set_index(["date", "ticker"])["fwd_return"].reindex(scores.index)
    ok = truth.notna()
    assert stats.spearmanr(scores[ok], truth[ok]).statistic > 0.2  # the planted signal is found
    assert not list(tmp_path.iterdir())  # nothing written (no pickles)


def test_reference_model_stops_early_and_refuses_overlap():
    # Without Qlib's penalties the trees fit noise: the validation loss stops improving early and
    # training ends 50 rounds after its best round.
    features, labels = _panel(40, 30, seed=1, skill=0.0)
    dates = features["date"].drop_duplicates().sort_values().to_numpy()
    part = lambda frame, ds: frame[frame["date"].isin(ds)]  # noqa: E731
    loose = {**A.QLIB_LGB_PARAMS, "lambda_l1": 0.0, "lambda_l2": 0.0, "min_data_in_leaf": 5}
    model = A.Alpha158Reference(sample_every=1, params=loose).fit(
        part(features, dates[:25]), part(labels, dates[:25]), part(features, dates[30:]), part(labels, dates[30:])
    )
    curve = model.valid_curve
    assert len(curve) == model.best_iteration + 50 < 1000
    assert int(np.argmin(curve)) + 1 == model.best_iteration == model.booster.current_iteration()
    with pytest.raises(ValueError, match="before the validation"):
        model.fit(features, labels, part(features, dates[30:]), part(labels, dates[30:]))


def test_per_date_normalisation():
    features, labels = _panel(12, 10, seed=2, skill=1.0)
    model = A.Alpha158Reference(per_date_norm=True)
    model.feature_names = ["f0", "f1", "f2"]
    frame = features.set_index(["date", "ticker"])
    z = model.normalize(frame)
    for j, name in enumerate(model.feature_names):
        col = frame[name]
        med = col.groupby(level="date").transform("median")
        mad = (col - med).abs().groupby(level="date").transform("median")
        want = np.nan_to_num(np.clip((col - med) / ((mad + 1e-12) * 1.4826), -3, 3), nan=0.0)
        np.testing.assert_allclose(z[:, j], want, rtol=1e-6, atol=1e-7)


def test_fit_does_not_copy_the_feature_panel():
    """The training window is a row slice (a view) of a float32 panel; fitting allocates less than
    the panel's size (the normalisation reads one column at a time, only the sampled rows are
    copied and normalised column by column). Copying the window once would be 0.83 panels."""
    import tracemalloc

    import lightgbm  # noqa: F401  (imported before measuring: module objects are not the fit's)

    import axion_pipeline.ml.ranking  # noqa: F401

    rng = np.random.default_rng(0)
    n_dates, n_tickers, k = 300, 100, 60
    values = rng.normal(size=(k, n_dates * n_tickers)).astype(np.float32)
    panel = pd.DataFrame(values.T, columns=[f"f{i}" for i in range(k)], copy=False)
    panel.insert(0, "ticker", np.tile([f"T{i:03d}" for i in range(n_tickers)], n_dates))
    panel.insert(0, "date", np.repeat(pd.bdate_range("2020-01-01", periods=n_dates), n_tickers))
    labels = panel[["date", "ticker"]].assign(fwd_return=rng.normal(size=len(panel)))
    train, valid = slice(0, 250 * n_tickers), slice(260 * n_tickers, 280 * n_tickers)
    model = A.Alpha158Reference(sample_every=5, num_boost_round=3)
    tracemalloc.start()
    try:
        model.fit(panel.iloc[train], labels.iloc[train], panel.iloc[valid], labels.iloc[valid])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 0.8 * values.nbytes, peak / values.nbytes
    assert model.n_train_rows == 50 * n_tickers


def test_no_labelled_rows_is_insufficient_data():
    from axion_pipeline.ml.base import InsufficientDataError

    features, labels = _panel(20, 10, seed=3, skill=1.0)
    dates = features["date"].drop_duplicates().sort_values().to_numpy()
    part = lambda frame, ds: frame[frame["date"].isin(ds)]  # noqa: E731
    unlabelled = labels.assign(fwd_return=np.nan)
    train, valid = dates[:10], dates[15:]
    with pytest.raises(InsufficientDataError, match="no labelled"):
        A.Alpha158Reference(sample_every=1).fit(
            part(features, train), part(unlabelled, train), part(features, valid), part(labels, valid)
        )


@pytest.fixture(scope="module")
def reference_window():
    """120 tickers x 160 days of random OHLCV, their Alpha158 features, a label that follows
    today's candle body (KMID) plus noise, and a purged window: fitted dates 60..110, validation
    116..125, test 131..150 (5-date gaps)."""
    from axion_pipeline.ml.datasets import TrainWindow

    rng = np.random.default_rng(8)
    days, tickers = pd.bdate_range("2021-01-04", periods=160), [f"T{i:03d}" for i in range(120)]
    shape = (len(days), len(tickers))
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.02, shape), axis=0))
    opens = close * np.exp(rng.normal(0, 0.01, shape))
    high = np.maximum(opens, close) * np.exp(np.abs(rng.normal(0, 0.01, shape)))
    low = np.minimum(opens, close) * np.exp(-np.abs(rng.normal(0, 0.01, shape)))
    prices = pd.DataFrame(
        {
            "date": np.repeat(days, len(tickers)),
            "ticker": np.tile(tickers, len(days)),
            "open": opens.ravel(),
            "high": high.ravel(),
            "low": low.ravel(),
            "close": close.ravel(),
            "volume": rng.integers(1_000, 50_000, close.size).astype(float),
        }
    )
    features = A.alpha158(prices)
    targets = features[["date", "ticker"]].assign(
        fwd_return=features["KMID"].to_numpy(dtype="float64") + 0.005 * rng.normal(size=len(features))
    )
    d = days
    window = TrainWindow("fold_0", d[60], d[110], d[116], d[125], d[131], d[150])
    return features, targets, window


def test_reference_on_a_window_scores_its_test_dates(reference_window):
    from axion_pipeline.ml.datasets import sample_dates
    from axion_pipeline.ml.training import train_alpha158_reference

    features, targets, window = reference_window
    config = A.Alpha158ReferenceConfig(sample_every_n_days=5)
    run = train_alpha158_reference(features, targets, window, config)
    test_rows = features[features["date"].between(window.test_start, window.test_end)]
    preds = run.predictions
    assert list(preds.columns) == ["fold", "date", "ticker", "score"] and (preds["fold"] == "fold_0").all()
    assert len(preds) == len(test_rows) and preds["date"].min() == window.test_start
    assert preds["date"].max() == window.test_end and np.isfinite(preds["score"]).all()
    fitted = pd.DatetimeIndex(features["date"].unique())
    fitted = fitted[(fitted >= window.train_start) & (fitted <= window.fit_end)]
    kept = sample_dates(fitted, 5)
    assert kept[-1] == window.fit_end and run.info["n_fit_dates"] == len(fitted)
    assert run.info["n_train_rows"] == targets["date"].isin(kept).sum()
    assert run.info["test_ic_mean"] > 0.3 and run.metrics["ic_mean"] == run.info["test_ic_mean"]
    assert 1 <= run.info["best_iteration"] <= run.info["rounds_trained"] <= config.num_boost_round


def test_reference_on_a_window_never_sees_later_labels(reference_window):
    """Labels dated after the validation slice (the gap and the test window) change nothing."""
    from axion_pipeline.ml.training import train_alpha158_reference

    features, targets, window = reference_window
    config = A.Alpha158ReferenceConfig()
    base = train_alpha158_reference(features, targets, window, config).predictions
    later = targets["date"] > window.train_end
    shuffled = targets.assign(fwd_return=np.where(later, -targets["fwd_return"], targets["fwd_return"]))
    again = train_alpha158_reference(features, shuffled, window, config).predictions
    np.testing.assert_array_equal(base["score"].to_numpy(), again["score"].to_numpy())
    earlier = targets["date"] <= window.fit_end
    flipped = targets.assign(fwd_return=np.where(earlier, -targets["fwd_return"], targets["fwd_return"]))
    assert not np.array_equal(
        base["score"], train_alpha158_reference(features, flipped, window, config).predictions["score"]
    )


def test_reference_window_needs_a_validation_slice_and_sorted_features(reference_window):
    from dataclasses import replace

    from axion_pipeline.ml.base import InsufficientDataError
    from axion_pipeline.ml.training import train_alpha158_reference

    features, targets, window = reference_window
    config = A.Alpha158ReferenceConfig()
    no_validation = replace(window, val_start=None, fit_end=window.train_end)
    with pytest.raises(InsufficientDataError, match="no validation slice"):
        train_alpha158_reference(features, targets, no_validation, config)
    with pytest.raises(ValueError, match="sorted by date"):
        train_alpha158_reference(features.iloc[::-1], targets, window, config)
