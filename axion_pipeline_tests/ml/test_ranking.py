import json
import sys

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import ranking
from axion_pipeline.ml.base import ModelLoadError
from axion_pipeline.ml.config import RankingModelConfig
from axion_pipeline.ml.ranking import StockRankingModel

SMALL = RankingModelConfig(
    n_estimators=40,
    n_ensemble=2,
    num_leaves=7,
    max_depth=3,
    min_child_samples=20,
    learning_rate=0.1,
    early_stopping_rounds=10,
    n_jobs=1,
)


def make_panel(n_dates=80, n_symbols=50, strength=0.5, seed=0, n_noise=3):
    """(date, symbol) features with one planted signal; labels = per-date quintile of the forward return."""
    rng = np.random.default_rng(seed)
    dates = pd.bdate_range("2020-01-01", periods=n_dates)
    idx = pd.MultiIndex.from_product([dates, [f"S{i:03d}" for i in range(n_symbols)]], names=["date", "symbol"])
    X = pd.DataFrame(
        rng.normal(size=(len(idx), 1 + n_noise)), index=idx, columns=["signal"] + [f"noise{i}" for i in range(n_noise)]
    )
    fwd = pd.Series(strength * X["signal"].to_numpy() + rng.normal(size=len(idx)), index=idx, name="fwd_return")
    return X, quintiles(fwd), fwd


def quintiles(values: pd.Series, k: int = 5) -> pd.Series:
    ranks = values.groupby(level="date").rank(method="first")
    sizes = values.groupby(level="date").transform("size")
    return np.ceil(ranks / sizes * k).rename("label")


def by_dates(obj, dates, lo, hi):
    d = obj.index.get_level_values("date")
    return obj[(d >= dates[lo]) & (d <= dates[hi])]


@pytest.fixture(scope="module")
def data():
    X, y, fwd = make_panel()
    dates = X.index.get_level_values("date").unique()
    split = {
        name: tuple(by_dates(o, dates, lo, hi) for o in (X, y, fwd))
        for name, (lo, hi) in {"train": (0, 49), "val": (55, 79)}.items()
    }
    return split


@pytest.fixture(scope="module")
def trained(data):
    (X, y, _), (Xv, yv, fv) = data["train"], data["val"]
    model = StockRankingModel(SMALL)
    metrics = model.train(X, y, X_val=Xv, y_val=yv, forward_returns=fv)
    return model, metrics


def test_train_reports_validation_metrics_with_planted_signal(trained):
    model, metrics = trained
    assert metrics["evaluated_on"] == "validation" and metrics["ic_target"] == "forward_returns"
    assert metrics["backend"] == "lightgbm"
    assert metrics["information_coefficient"] > 0.2
    assert metrics["ic_pvalue"] < 1e-6
    assert metrics["n_ic_dates"] == 25
    for key in ("accuracy", "top_quintile_accuracy", "bottom_quintile_accuracy"):
        assert 0.2 < metrics[key] <= 1.0  # better than the 1/5 of chance
    assert len(metrics["best_iterations"]) == 2
    assert model.is_fitted and model.metadata.model_type == "stock_ranking"
    # the rounds are chosen on the validation slice, then the model is refitted with its rows too
    assert metrics["round_selection"] == "validation_ic" and metrics["refit_on_validation"]
    # the first member's validation IC curve chose the rounds (its best), the others took them
    curve = metrics["validation_ic_by_rounds"]
    best = metrics["best_iterations"][0]
    assert metrics["best_iterations"] == [best, best] and curve[best] == max(curve.values())
    assert max(curve) < SMALL.n_estimators or best == max(curve)  # stopped once the IC stopped improving
    assert model.metadata.train_start == "2020-01-01" and model.metadata.train_end == "2020-04-21"


def test_predict_columns_probabilities_and_score(trained, data):
    model, _ = trained
    Xv = data["val"][0]
    pred = model.predict(Xv)
    probs = pred[[f"prob_q{k}" for k in range(1, 6)]].to_numpy()
    assert list(pred.columns) == [f"prob_q{k}" for k in range(1, 6)] + ["predicted_quintile", "score"]
    assert pred.index.equals(Xv.index)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0)
    np.testing.assert_allclose(pred["score"], (probs @ np.arange(1, 6) - 1) / 4)
    assert pred["score"].between(0, 1).all()
    assert (pred["predicted_quintile"] == probs.argmax(axis=1) + 1).all()


def test_predict_rank_is_per_date_percentile(trained, data):
    model, _ = trained
    rank = model.predict_rank(data["val"][0])
    per_date = rank.groupby(level="date")
    assert (per_date.min() == 0).all() and (per_date.max() == 1).all()
    score = model.predict(data["val"][0])["score"]
    first = rank.index.get_level_values("date")[0]
    assert rank.loc[first].idxmax() == score.loc[first].idxmax()


def test_feature_importance_ranks_the_signal_first(trained):
    imp = trained[0].get_feature_importance()
    assert imp.index[0] == "signal"
    assert imp.is_monotonic_decreasing and imp.sum() == pytest.approx(1.0)


def test_evaluate_matches_the_validation_metrics_of_train(data):
    """Without the refit, ``evaluate`` on the validation rows gives what ``train`` reported; the
    refitted model has learnt those rows, so its validation figures are in sample."""
    (X, y, _), (Xv, yv, fv) = data["train"], data["val"]
    kept = StockRankingModel(RankingModelConfig(**{**SMALL.to_dict(), "refit_on_validation": False}))
    metrics = kept.train(X, y, X_val=Xv, y_val=yv, forward_returns=fv)
    again = kept.evaluate(Xv, yv, forward_returns=fv)
    for key in ("accuracy", "top_quintile_accuracy", "information_coefficient", "ic_pvalue", "n_eval"):
        assert again[key] == pytest.approx(metrics[key])
    assert kept.metadata.train_end == "2020-03-10"  # fitted rows only


def test_without_validation_metrics_are_on_training_rows(data):
    X, y, fwd = data["train"]
    model = StockRankingModel(RankingModelConfig(**{**SMALL.to_dict(), "n_ensemble": 1}))
    metrics = model.train(X, y)
    assert metrics["evaluated_on"] == "train" and metrics["ic_target"] == "labels"
    assert metrics["n_eval"] == len(X)
    assert model.train(X, y, forward_returns=fwd)["ic_target"] == "forward_returns"


def test_missing_labels_are_dropped_and_counted(data):
    X, y, _ = data["train"]
    y = y.copy()
    y.iloc[:37] = np.nan
    model = StockRankingModel(RankingModelConfig(**{**SMALL.to_dict(), "n_ensemble": 1}))
    metrics = model.train(X, y)
    assert metrics["n_train"] == len(X) - 37
    assert model.metadata.extra["n_missing_labels"] == 37


def test_labels_outside_1_to_k_are_refused(data):
    X, y, _ = data["train"]
    with pytest.raises(ValueError, match="labels 1..5"):
        StockRankingModel(SMALL).train(X, y - 1)


def test_round_trip_gives_identical_predictions_and_no_pickle(trained, data, tmp_path):
    model, _ = trained
    model.save(tmp_path / "m")
    loaded = StockRankingModel.load(tmp_path / "m")
    Xv = data["val"][0]
    pd.testing.assert_frame_equal(loaded.predict(Xv), model.predict(Xv), check_exact=True)
    pd.testing.assert_series_equal(loaded.get_feature_importance(), model.get_feature_importance())
    assert loaded.metadata.metrics == json.loads(json.dumps(model.metadata.metrics))
    assert sorted(p.name for p in (tmp_path / "m").iterdir()) == [
        "member_0.lgb.txt",
        "member_1.lgb.txt",
        "metadata.json",
        "ranking_state.json",
    ]
    assert not [p for pat in ("*.pkl", "*.pickle", "*.joblib") for p in tmp_path.rglob(pat)]


@pytest.mark.parametrize("victim", ["member_1.lgb.txt", "ranking_state.json"])
def test_tampered_artefact_is_refused(trained, tmp_path, victim):
    trained[0].save(tmp_path / "m")
    path = tmp_path / "m" / victim
    path.write_text(path.read_text().replace("0", "1", 1))
    with pytest.raises(ModelLoadError, match="does not match"):
        StockRankingModel.load(tmp_path / "m")


@pytest.mark.parametrize("estimator", ["gradient_boosting", "hist_gradient_boosting"])
def test_fallback_without_lightgbm(monkeypatch, data, tmp_path, estimator):
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    assert ranking._load_lightgbm() is None
    (X, y, _), (Xv, yv, _) = data["train"], data["val"]
    X = X.copy()
    X.iloc[::9, 1] = np.nan  # GradientBoostingClassifier needs the median fill
    cfg = RankingModelConfig(**{**SMALL.to_dict(), "n_estimators": 15, "fallback_estimator": estimator})
    model = StockRankingModel(cfg)
    metrics = model.train(X, y, X_val=Xv, y_val=yv)
    assert metrics["backend"] == "sklearn" and metrics["information_coefficient"] > 0.2
    assert model.get_feature_importance().index[0] == "signal"
    model.save(tmp_path / "fb")
    assert not list(tmp_path.rglob("*.pkl")) and not list(tmp_path.rglob("*.joblib"))
    loaded = StockRankingModel.load(tmp_path / "fb")
    pd.testing.assert_frame_equal(loaded.predict(X), model.predict(X), check_exact=True)


def test_lightgbm_model_needs_lightgbm_to_load(trained, tmp_path, monkeypatch):
    trained[0].save(tmp_path / "m")
    monkeypatch.setitem(sys.modules, "lightgbm", None)
    with pytest.raises(ModelLoadError, match="LightGBM"):
        StockRankingModel.load(tmp_path / "m")


def test_without_date_level_the_whole_frame_is_one_cross_section(data):
    X, y, _ = data["train"]
    flat_X, flat_y = X.reset_index(drop=True), y.reset_index(drop=True)
    model = StockRankingModel(RankingModelConfig(**{**SMALL.to_dict(), "n_ensemble": 1}))
    metrics = model.train(flat_X, flat_y)
    assert metrics["n_ic_dates"] == 1 and metrics["ic_pvalue"] < 1e-6
    rank = model.predict_rank(flat_X)
    assert rank.min() == 0 and rank.max() == 1


def test_progress_callback_reports_each_member(data):
    (X, y, _), (Xv, yv, _) = data["train"], data["val"]
    calls = []
    StockRankingModel(SMALL).train(X, y, X_val=Xv, y_val=yv, progress_callback=lambda i, ic: calls.append((i, ic)))
    assert [i for i, _ in calls] == [0, 1] and all(ic > 0.1 for _, ic in calls)


def test_raw_boosters_give_contributions_and_odd_names_work(data):
    X, y, _ = data["train"]
    X = X.rename(columns={"signal": "p/e ratio [ttm]"})
    model = StockRankingModel(RankingModelConfig(**{**SMALL.to_dict(), "n_ensemble": 1}))
    model.train(X, y)
    booster = model.raw_boosters()[0]
    contrib = booster.predict(model.feature_matrix(X.iloc[:10]), pred_contrib=True)
    assert contrib.shape == (10, 5 * (X.shape[1] + 1))
    assert model.get_feature_importance().index[0] == "p/e ratio [ttm]"


def test_spec_section_4_example_runs_as_written():
    X_all, y_all, _ = make_panel(n_dates=60, n_symbols=30, seed=5)
    dates = X_all.index.get_level_values("date").unique()
    X_train, y_train = by_dates(X_all, dates, 0, 29), by_dates(y_all, dates, 0, 29)
    X_val, y_val = by_dates(X_all, dates, 35, 44), by_dates(y_all, dates, 35, 44)
    X_test = by_dates(X_all, dates, 50, 59)

    from axion_pipeline.ml import RankingModelConfig, StockRankingModel

    model = StockRankingModel(
        config=RankingModelConfig(
            n_estimators=500,
            max_depth=6,
            learning_rate=0.05,
            n_ensemble=3,  # ensemble of 3 models with different seeds
            num_quintiles=5,
        )
    )
    metrics = model.train(X_train, y_train, X_val=X_val, y_val=y_val)
    predictions = model.predict(X_test)
    rank_scores = model.predict_rank(X_test)  # Series, 0=worst to 1=best
    importance = model.get_feature_importance()  # Series sorted descending

    assert {
        "accuracy",
        "top_quintile_accuracy",
        "bottom_quintile_accuracy",
        "information_coefficient",
        "ic_pvalue",
    } <= set(metrics)
    assert list(predictions.columns) == [
        "prob_q1",
        "prob_q2",
        "prob_q3",
        "prob_q4",
        "prob_q5",
        "predicted_quintile",
        "score",
    ]
    assert rank_scores.between(0, 1).all() and importance.index[0] == "signal"


# -- a rewritten manifest vouching for bad artefacts: the error names the file -----------------
def _rehash(directory):
    from axion_pipeline.ml.base import METADATA_FILE, sha256_file

    meta = json.loads((directory / METADATA_FILE).read_text())
    meta["artifacts"] = {name: sha256_file(directory / name) for name in meta["artifacts"]}
    (directory / METADATA_FILE).write_text(json.dumps(meta))


@pytest.mark.parametrize(
    ("edit", "detail"),
    [
        (lambda s: s.update(members="member_0.lgb.txt"), "members must be a list of file names"),
        (lambda s: s.pop("classes"), "missing field 'classes'"),
        (lambda s: s.update(fill_values=[1.0]), "fill_values must be null or 4 numbers"),
        (lambda s: s.update(classes=["one"]), "invalid literal for int"),
    ],
)
def test_ill_typed_state_names_the_state_file(trained, tmp_path, edit, detail):
    directory = trained[0].save(tmp_path / "m")
    state = json.loads((directory / ranking.STATE_FILE).read_text())
    edit(state)
    (directory / ranking.STATE_FILE).write_text(json.dumps(state))
    _rehash(directory)
    with pytest.raises(ModelLoadError) as exc:
        StockRankingModel.load(directory)
    assert str(exc.value).startswith(f"{directory}: artefacts could not be parsed: {directory / ranking.STATE_FILE}: ")
    assert detail in str(exc.value)


LOAD_AND_REPORT = """
import sys
from axion_pipeline.ml.base import ModelLoadError
from axion_pipeline.ml.ranking import StockRankingModel
try:
    StockRankingModel.load(sys.argv[1])
except ModelLoadError as exc:
    print("ModelLoadError:", exc)
else:
    print("loaded")
"""


@pytest.mark.parametrize(
    "edit",
    [
        pytest.param(lambda t: t.replace("tree_sizes=", "tree_sizes=1", 1), id="tree_size_edited"),
        pytest.param(lambda t: t.replace("end of trees", "end of tree", 1), id="end_marker_edited"),
        pytest.param(lambda t: t.replace("\nnum_class=5\n", "\n", 1), id="num_class_removed"),
        pytest.param(lambda t: t[: t.index("Tree=1\n")], id="cut_after_the_first_tree"),
    ],
)
def test_edited_lightgbm_text_names_the_member_and_the_process_survives(trained, tmp_path, edit):
    """Run in a child process: without the text check, LightGBM aborts the process on these."""
    import subprocess
    from pathlib import Path

    directory = trained[0].save(tmp_path / "m")
    member = directory / "member_1.lgb.txt"
    text = member.read_text()
    assert edit(text) != text
    member.write_text(edit(text))
    _rehash(directory)
    run = subprocess.run(
        [sys.executable, "-c", LOAD_AND_REPORT, str(directory)],
        capture_output=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[2],
    )
    assert run.returncode == 0, f"the loading process died (exit {run.returncode})"
    lines = run.stdout.decode("utf-8", "replace").splitlines()
    assert lines[-1].startswith(f"ModelLoadError: {member}: LightGBM model text "), lines[-1]
