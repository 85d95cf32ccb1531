import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml.config import RankingModelConfig, WalkForwardConfig
from axion_pipeline.ml.ranking import StockRankingModel
from axion_pipeline.ml.walk_forward import WalkForwardValidator, check_purge, fold_windows, make_folds
from axion_pipeline_tests.ml.test_ranking import make_panel

FAST = RankingModelConfig(
    n_estimators=40,
    n_ensemble=1,
    num_leaves=7,
    max_depth=3,
    min_child_samples=50,
    learning_rate=0.1,
    early_stopping_rounds=10,
    n_jobs=1,
)
DATES = pd.bdate_range("2021-01-01", periods=100)


@pytest.mark.parametrize("expanding", [False, True])
def test_folds_are_disjoint_purged_and_end_at_the_last_date(expanding):
    cfg = WalkForwardConfig(
        n_splits=3, train_size=40, test_size=10, gap=5, embargo=2, expanding=expanding, validation_size=0
    )
    folds = make_folds(DATES[::-1], cfg)  # order of the input does not matter
    assert [f.fold for f in folds] == [0, 1, 2]
    assert folds[-1].test_end == DATES[-1] and folds[-1].test_end_pos == 99
    for f in folds:
        assert f.test_start_pos - f.train_end_pos - 1 == cfg.gap + cfg.embargo  # dropped dates
        assert f.train_end_pos + cfg.gap < f.test_start_pos
        assert f.n_test_dates == 10
        assert f.n_train_dates == (f.train_end_pos + 1 if expanding else 40)
        assert f.train_start == DATES[f.train_start_pos] and f.test_start == DATES[f.test_start_pos]
    for a, b in zip(folds, folds[1:]):
        assert b.test_start_pos == a.test_end_pos + 1  # adjacent, disjoint test windows


def test_split_is_by_dates_not_rows():
    rng = np.random.default_rng(0)
    dates = np.repeat(DATES, rng.integers(3, 9, len(DATES)))  # a varying number of symbols per date
    idx = pd.MultiIndex.from_arrays([dates, [f"S{i}" for i in range(len(dates))]], names=["date", "symbol"])
    X = pd.DataFrame({"x": np.arange(len(idx))}, index=idx)
    cfg = WalkForwardConfig(n_splits=4, train_size=30, test_size=12, gap=3, validation_size=0, expanding=False)
    splits = WalkForwardValidator(cfg).split(X)
    folds = make_folds(DATES, cfg)
    assert len(splits) == 4
    for (train, test), f in zip(splits, folds):
        train_dates, test_dates = set(dates[train]), set(dates[test])
        assert len(train_dates) == 30 and len(test_dates) == 12
        assert max(train_dates) == f.train_end and min(test_dates) == f.test_start
        assert not train_dates & test_dates
        # every row of a date lands on the same side
        assert len(train) == pd.Index(dates).isin(train_dates).sum()
        assert len(test) == pd.Index(dates).isin(test_dates).sum()


def test_too_few_dates_is_a_clear_error():
    cfg = WalkForwardConfig(n_splits=5, train_size=60, test_size=10, gap=5, validation_size=0, expanding=False)
    with pytest.raises(ValueError, match="at least 115 distinct dates.*got 100"):
        make_folds(DATES, cfg)
    with pytest.raises(ValueError, match="n_splits"):
        make_folds(DATES, WalkForwardConfig(n_splits=0, validation_size=0, expanding=False))


def test_validation_window_sits_inside_training_window_after_a_gap():
    cfg = WalkForwardConfig(n_splits=2, train_size=50, test_size=10, gap=4, validation_size=8, expanding=False)
    for f in make_folds(DATES, cfg):
        assert f.val_end == f.train_end and f.val_start_pos == f.train_end_pos - 7
        assert f.fit_end_pos + cfg.gap < f.val_start_pos


def test_fold_windows_frame_for_dagster():
    frame = fold_windows(
        DATES, WalkForwardConfig(n_splits=3, train_size=40, test_size=10, gap=5, validation_size=0, expanding=False)
    )
    assert list(frame["fold"]) == [0, 1, 2]
    assert {"train_start", "train_end", "test_start", "test_end", "n_train_dates", "gap"} <= set(frame.columns)
    assert (frame["train_end"] < frame["test_start"]).all()
    assert frame["test_end"].iloc[-1] == DATES[-1]


def test_check_purge_refuses_a_gap_shorter_than_the_horizon():
    with pytest.raises(ValueError, match="shorter than the label horizon"):
        check_purge(WalkForwardConfig(gap=5), horizon=21)
    check_purge(WalkForwardConfig(gap=21), horizon=21)


@pytest.fixture(scope="module")
def panel():
    return make_panel(n_dates=400, n_symbols=100, strength=0.3, seed=11)


WF = WalkForwardConfig(n_splits=3, train_size=150, test_size=60, gap=5, validation_size=0, expanding=False)


def test_planted_signal_is_found_out_of_sample(panel):
    X, y, fwd = panel
    validator = WalkForwardValidator(WF)
    results = validator.run_walk_forward(StockRankingModel(FAST), X, y, forward_returns=fwd)
    agg = validator.aggregate_results(results)
    assert agg["n_folds"] == 3 and agg["n_dates"] == 180
    assert agg["ic_mean"] > 0.15 and agg["ic_pvalue"] < 1e-10 and agg["hit_rate"] > 0.9
    assert agg["spread_mean"] > 0
    for r in results:
        assert r["ic_mean"] > 0.1 and r["accuracy"] > 0.2 and len(r["ic_series"]) == 60
        assert r["train_end"] < r["test_start"]


def test_shuffled_labels_give_no_out_of_sample_ic(panel):
    # A 2-SE bound fails 5% of the time by chance: seed 0 happens to give t = -2.25, seeds 1-5 |t| < 1.3.
    X, y, _ = panel
    rng = np.random.default_rng(1)
    shuffled = y.groupby(level="date").transform(lambda s: rng.permutation(s.to_numpy()))
    validator = WalkForwardValidator(WF)
    agg = validator.aggregate_results(validator.run_walk_forward(StockRankingModel(FAST), X, shuffled))
    standard_error = agg["ic_std"] / np.sqrt(agg["n_dates"])
    assert abs(agg["ic_mean"]) < 2 * standard_error


def test_fold_transform_is_fitted_on_training_rows_only(panel):
    X, y, _ = panel
    seen = []

    def transform(X_fit):
        seen.append(X_fit.index.get_level_values("date").max())
        return lambda frame: frame[["signal", "noise0"]]

    cfg = WalkForwardConfig(n_splits=2, train_size=100, test_size=30, gap=5, validation_size=20, expanding=False)
    validator = WalkForwardValidator(cfg)
    results = validator.run_walk_forward(StockRankingModel(FAST), X, y, fold_transform=transform)
    folds = validator.split_dates(X.index.get_level_values("date"))
    dates = X.index.get_level_values("date").unique().sort_values()
    assert seen == [dates[f.fit_end_pos] for f in folds]
    assert all(r["train_metrics"]["evaluated_on"] == "validation" for r in results)


def test_spec_section_5_walk_forward_example_runs_as_written():
    X, y, _ = make_panel(n_dates=1100, n_symbols=12, strength=0.5, seed=2, n_noise=1)
    model = StockRankingModel(FAST)

    from axion_pipeline.ml import WalkForwardConfig, WalkForwardValidator

    validator = WalkForwardValidator(
        config=WalkForwardConfig(
            n_splits=5,
            train_size=252 * 3,
            test_size=63,
            gap=21,
        )
    )
    wf_results = validator.run_walk_forward(model, X, y)
    aggregated = validator.aggregate_results(wf_results)
    assert len(wf_results) == 5 and aggregated["n_folds"] == 5 and aggregated["ic_mean"] > 0.1
