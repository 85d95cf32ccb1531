import math

import numpy as np
import optuna
import pytest
from scipy import stats

from axion_pipeline.ml.config import RankingModelConfig
from axion_pipeline.ml.hyperopt import (
    DEFAULT_PARAM_SPACE,
    HyperparameterOptimizer,
    deflated_sharpe_ratio,
    probability_of_backtest_overfitting,
)
from axion_pipeline.ml.ranking import StockRankingModel
from axion_pipeline_tests.ml.test_ranking import by_dates, make_panel

optuna.logging.set_verbosity(optuna.logging.WARNING)

TINY = RankingModelConfig(
    n_estimators=30,
    n_ensemble=2,
    num_leaves=7,
    max_depth=3,
    min_child_samples=20,
    learning_rate=0.1,
    early_stopping_rounds=5,
    n_jobs=1,
)
SPACE = {
    "learning_rate": ("float", 0.02, 0.3, True),
    "num_leaves": ("int", 3, 15),
    "min_child_samples": ("categorical", [10, 20, 40]),
}


def test_pbo_of_identical_trials_is_one_half():
    ic = np.random.default_rng(0).normal(0.02, 0.1, size=(200, 1))
    out = probability_of_backtest_overfitting(np.repeat(ic, 10, axis=1), n_partitions=8)
    assert out["pbo"] == 0.5 and out["n_combinations"] == math.comb(8, 4) == 70


def test_pbo_of_equally_skilled_noisy_trials_is_about_one_half():
    pbos = [
        probability_of_backtest_overfitting(np.random.default_rng(s).normal(0, 0.1, (200, 20)))["pbo"]
        for s in range(20)
    ]
    assert 0.35 < np.mean(pbos) < 0.65


def test_pbo_is_low_when_one_trial_is_truly_better():
    matrix = np.random.default_rng(1).normal(0, 0.1, size=(200, 20))
    matrix[:, 7] += 0.08
    out = probability_of_backtest_overfitting(matrix)
    assert out["pbo"] < 0.05 and out["prob_oos_loss"] < 0.05


def test_pbo_input_checks():
    with pytest.raises(ValueError, match="even"):
        probability_of_backtest_overfitting(np.zeros((40, 3)), n_partitions=5)
    with pytest.raises(ValueError, match="= 16 complete rows"):
        probability_of_backtest_overfitting(np.zeros((10, 3)), n_partitions=8)
    with pytest.raises(ValueError, match="2 trials"):
        probability_of_backtest_overfitting(np.zeros((40, 1)))


def test_deflated_sharpe_formula_and_its_dependence_on_the_number_of_trials():
    x = np.random.default_rng(2).normal(0.05, 0.1, size=250)
    sr, t = x.mean() / x.std(ddof=1), len(x)
    g3, g4 = stats.skew(x), stats.kurtosis(x, fisher=False)
    psr = stats.norm.cdf(sr * math.sqrt(t - 1) / math.sqrt(1 - g3 * sr + (g4 - 1) / 4 * sr**2))
    assert deflated_sharpe_ratio(x, [sr])["deflated_sharpe"] == pytest.approx(psr)  # one trial: PSR vs 0
    sharpes = np.random.default_rng(3).normal(0, 0.1, size=100)
    few = deflated_sharpe_ratio(x, sharpes, n_trials=5)
    many = deflated_sharpe_ratio(x, sharpes, n_trials=1000)
    e = 0.5772156649015329
    expected_sr0 = sharpes.std(ddof=1) * (
        (1 - e) * stats.norm.ppf(1 - 1 / 1000) + e * stats.norm.ppf(1 - 1 / (1000 * math.e))
    )
    assert many["sharpe_threshold"] == pytest.approx(expected_sr0)
    assert many["deflated_sharpe"] < few["deflated_sharpe"] < psr


@pytest.fixture(scope="module")
def tiny():
    X, y, _ = make_panel(n_dates=65, n_symbols=20, strength=0.6, seed=4)
    dates = X.index.get_level_values("date").unique()
    return (
        by_dates(X, dates, 0, 39),
        by_dates(y, dates, 0, 39),
        by_dates(X, dates, 45, 64),
        by_dates(y, dates, 45, 64),
    )


def test_optimizer_persists_to_sqlite_and_resumes(tiny, tmp_path):
    X, y, Xv, yv = tiny
    storage = f"sqlite:///{tmp_path / 'hpo.db'}"
    first = HyperparameterOptimizer(storage=storage, study_name="t", seed=7)
    best = first.optimize(StockRankingModel, X, y, Xv, yv, n_trials=5, param_space=SPACE, base_config=TINY)
    out = first.summary_
    assert best == out["best_params"]
    assert (tmp_path / "hpo.db").is_file()
    assert out["n_trials"] == 5 and out["best_value"] > 0.2
    assert set(out["best_params"]) == set(SPACE) and out["best_config"]["n_estimators"] == 30
    assert 0 <= out["pbo"] <= 1 and 0 <= out["deflated_sharpe"] <= 1
    assert all(t.intermediate_values for t in first.study.trials)  # IC reported per ensemble member

    resumed = HyperparameterOptimizer(storage=storage, study_name="t", seed=7)
    resumed.optimize(StockRankingModel, X, y, Xv, yv, n_trials=3, param_space=SPACE, base_config=TINY)
    again = resumed.summary_
    assert again["n_trials"] == 8 and again["best_value"] >= out["best_value"]
    params = [tuple(sorted(t.params.items())) for t in resumed.study.trials]
    assert len(set(params[5:]) & set(params[:5])) == 0  # the resumed sampler does not replay the first trials


def test_resuming_on_other_validation_dates_is_refused(tiny, tmp_path):
    X, y, Xv, yv = tiny
    storage = f"sqlite:///{tmp_path / 'hpo.db'}"
    HyperparameterOptimizer(storage=storage, study_name="t").optimize(
        StockRankingModel, X, y, Xv, yv, n_trials=1, param_space=SPACE, base_config=TINY
    )
    with pytest.raises(ValueError, match="other validation dates"):
        HyperparameterOptimizer(storage=storage, study_name="t").optimize(
            StockRankingModel, X, y, Xv.iloc[:-20], yv.iloc[:-20], n_trials=1, param_space=SPACE, base_config=TINY
        )


def test_callable_param_space_and_unfit_models_count_as_zero_ic(tiny):
    X, y, Xv, yv = tiny
    # min_child_samples larger than the data: no split is possible, the score is constant, IC 0
    optimizer = HyperparameterOptimizer()
    optimizer.optimize(
        StockRankingModel,
        X,
        y,
        Xv,
        yv,
        n_trials=2,
        base_config=TINY,
        param_space=lambda trial: {"min_child_samples": trial.suggest_int("min_child_samples", 5000, 6000)},
    )
    out = optimizer.summary_
    assert out["best_value"] == 0.0 and out["n_complete"] == 2


@pytest.mark.slow
def test_spec_section_5_hyperopt_example_runs_as_written():
    # Pure-noise labels make early stopping end every trial after a few dozen rounds.
    X, y, _ = make_panel(n_dates=60, n_symbols=20, strength=0.0, seed=9, n_noise=2)
    dates = X.index.get_level_values("date").unique()
    X_train, y_train = by_dates(X, dates, 0, 29), by_dates(y, dates, 0, 29)
    X_val, y_val = by_dates(X, dates, 40, 59), by_dates(y, dates, 40, 59)

    from axion_pipeline.ml import HyperparameterOptimizer, StockRankingModel

    optimizer = HyperparameterOptimizer()
    best_params = optimizer.optimize(
        model_class=StockRankingModel,
        X=X_train,
        y=y_train,
        X_val=X_val,
        y_val=y_val,
        n_trials=50,
    )
    # the spec's next step: the parameters build a config; the statistics are in summary_
    config = RankingModelConfig(**best_params)
    assert best_params == optimizer.summary_["best_params"] and set(best_params) == set(DEFAULT_PARAM_SPACE)
    assert all(getattr(config, k) == v for k, v in best_params.items())
    summary = optimizer.summary_
    assert summary["n_trials"] == 50 and summary["n_pruned"] > 0 and not math.isnan(summary["pbo"])
    assert summary["deflated_sharpe"] < 0.95  # no skill to find in noise
