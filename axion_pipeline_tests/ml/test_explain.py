import math
import sys

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import EarningsModelConfig, EarningsPredictionModel, Explanation, ModelExplainer
from axion_pipeline.ml.config import RankingModelConfig
from axion_pipeline.ml.explain import margin_to_score
from axion_pipeline.ml.ranking import StockRankingModel

SMALL = RankingModelConfig(
    n_estimators=30, n_ensemble=3, num_leaves=7, max_depth=3, min_child_samples=20, learning_rate=0.1, n_jobs=1
)


def ranking_panel(n_dates=30, n_symbols=40, seed=0):
    """``signal`` drives the quintile label; ``noise*`` do not."""
    rng = np.random.default_rng(seed)
    idx = pd.MultiIndex.from_product(
        [pd.bdate_range("2021-01-01", periods=n_dates), [f"S{i:02d}" for i in range(n_symbols)]],
        names=["date", "symbol"],
    )
    X = pd.DataFrame(rng.normal(size=(len(idx), 4)), index=idx, columns=["signal", "noise0", "noise1", "noise2"])
    X.iloc[::17, 1] = np.nan  # LightGBM takes NaN as is
    fwd = X["signal"] + 0.5 * rng.normal(size=len(idx))
    y = np.ceil(fwd.groupby(level="date").rank(pct=True) * 5)
    return X, y


@pytest.fixture(scope="module")
def ranking():
    X, y = ranking_panel()
    model = StockRankingModel(SMALL)
    model.train(X, y)
    return model, X


@pytest.fixture(scope="module")
def sklearn_ranking():
    X, y = ranking_panel(n_dates=10, n_symbols=30)
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(sys.modules, "lightgbm", None)  # forces the GradientBoostingClassifier fallback
        model = StockRankingModel(RankingModelConfig(n_estimators=8, n_ensemble=2, max_depth=2, min_child_samples=5))
        model.train(X, y)
    assert model.backend == "sklearn"
    return model, X


@pytest.fixture(scope="module")
def earnings():
    rng = np.random.default_rng(3)
    n = 200
    idx = pd.DatetimeIndex(pd.bdate_range("2020-01-01", periods=n), name="announce_date")
    X = pd.DataFrame(
        {"prior_surprise": rng.normal(size=n), "revision": rng.normal(size=n), "noise": rng.normal(size=n)}, index=idx
    )
    X.iloc[::9, 1] = np.nan
    y = pd.Series((X["prior_surprise"] + 0.5 * rng.normal(size=n) > 0).astype(float), index=idx)
    model = EarningsPredictionModel(EarningsModelConfig(n_estimators=40, max_depth=3))
    model.train(X, y)
    return model, X


def test_margin_to_score_by_hand():
    # binary: margins (0, m), values (0, 1) -> score = sigmoid(m); base margin 0, one feature adds ln 3
    phi = np.array([[[0.0, 0.0], [math.log(3.0), 0.0]]])  # (n=1, C=2, F+1=2)
    attr, base, score = margin_to_score(phi, np.array([0.0, 1.0]))
    assert score[0] == pytest.approx(0.75) and base[0] == pytest.approx(0.5)
    assert attr[0, 0] == pytest.approx(0.25, abs=1e-15)


def test_margin_to_score_splits_by_margin_share():
    # along the straight path every feature gets phi_f x the mean gradient: two equal pushes share
    # sigmoid(ln 4) - 1/2 = 0.3; opposite pushes cancel in total but keep +-ln3 x sigmoid'(0) each
    phi = np.array(
        [
            [[0.0, 0.0, 0.0], [math.log(2.0), math.log(2.0), 0.0]],
            [[0.0, 0.0, 0.0], [math.log(3.0), -math.log(3.0), 0.0]],
        ]
    )
    attr, base, score = margin_to_score(phi, np.array([0.0, 1.0]))
    np.testing.assert_allclose(score, [0.8, 0.5])
    np.testing.assert_allclose(attr, [[0.15, 0.15], [0.25 * math.log(3.0), -0.25 * math.log(3.0)]], atol=1e-14)


def test_quadrature_alone_is_additive(ranking, monkeypatch):
    """The residual spread at the end is rounding, not a correction of a wrong attribution."""
    import axion_pipeline.ml.explain as explain

    monkeypatch.setattr(explain, "_close_residual", lambda attr, total: attr)
    model, X = ranking
    attr, base, score, _ = ModelExplainer().contributions(model, X)
    np.testing.assert_allclose(attr.sum(axis=1), score - base, atol=1e-12)


def test_ranking_additivity_and_score(ranking):
    model, X = ranking
    attr, base, score, method = ModelExplainer().contributions(model, X)
    assert method == "tree_shap_native"
    np.testing.assert_allclose(score, model.predict(X)["score"], atol=1e-12)
    np.testing.assert_allclose(attr.sum(axis=1), score - base, atol=1e-6)
    assert np.ptp(base) < 1e-12  # the score at the base margins is one number
    mean_abs = attr.abs().mean()
    assert mean_abs.idxmax() == "signal" and mean_abs["signal"] > 3 * mean_abs.drop("signal").max()
    assert np.corrcoef(X["signal"], attr["signal"])[0, 1] > 0.8  # higher signal, higher contribution


def test_shap_package_gives_the_same_values(ranking):
    pytest.importorskip("shap")
    model, X = ranking
    native, *_ = ModelExplainer().contributions(model, X.iloc[:50])
    via_shap, _, _, method = ModelExplainer(backend="shap").contributions(model, X.iloc[:50])
    assert method == "tree_shap"
    np.testing.assert_allclose(via_shap, native, atol=1e-10)


def test_explain_one_symbol(ranking):
    model, X = ranking
    explanation = ModelExplainer(top_n=3).explain(model, X, symbol="S07")
    last_date = X.index.get_level_values("date").max()
    row = X.loc[[(last_date, "S07")]]
    assert isinstance(explanation, Explanation) and explanation.symbol == "S07"
    assert explanation.score == pytest.approx(model.predict(row)["score"].iloc[0], abs=1e-12)
    assert sum(explanation.feature_contributions.values()) == pytest.approx(
        explanation.score - explanation.base_value, abs=1e-6
    )
    assert list(explanation.feature_contributions) == sorted(
        explanation.feature_contributions, key=lambda k: -abs(explanation.feature_contributions[k])
    )
    pos, neg = explanation.top_positive_factors, explanation.top_negative_factors
    assert all(v > 0 for _, v in pos) and all(v < 0 for _, v in neg) and len(pos) + len(neg) <= 4
    assert [v for _, v in pos] == sorted((v for _, v in pos), reverse=True)
    text = explanation.to_text()
    assert text.startswith("S07: score") and "Top positive factors" in text and "Top negative factors" in text
    single = ModelExplainer().explain(model, row.iloc[0], symbol="S07")  # a Series works too
    assert single.feature_contributions == pytest.approx(explanation.feature_contributions)


def test_explain_needs_a_symbol_for_several_rows(ranking):
    model, X = ranking
    with pytest.raises(ValueError, match="pass symbol"):
        ModelExplainer().explain(model, X)
    with pytest.raises(KeyError):
        ModelExplainer().explain(model, X, symbol="NOPE")


def test_explain_batch_long_form(ranking):
    model, X = ranking
    rows = X.iloc[:20]
    attr, base, score, _ = ModelExplainer().contributions(model, rows)
    long = ModelExplainer().explain_batch(model, rows)
    assert list(long.columns) == ["date", "symbol", "feature", "value", "contribution", "rank", "score", "base_value"]
    assert len(long) == 20 * 4 and long.attrs["method"] == "tree_shap_native"
    wide = long.pivot_table(index=["date", "symbol"], columns="feature", values="contribution")
    pd.testing.assert_frame_equal(wide[attr.columns], attr, check_names=False, atol=1e-15, rtol=0)
    first = long[long["symbol"] == rows.index[0][1]]
    assert first["rank"].tolist() == [1, 2, 3, 4]
    assert first["contribution"].abs().is_monotonic_decreasing
    top2 = ModelExplainer().explain_batch(model, rows, top_k=2)
    assert len(top2) == 40 and set(top2["rank"]) == {1, 2}
    pd.testing.assert_frame_equal(top2.reset_index(drop=True), long[long["rank"] <= 2].reset_index(drop=True))


def test_sklearn_fallback_members_via_shap(sklearn_ranking):
    pytest.importorskip("shap")
    model, X = sklearn_ranking
    attr, base, score, method = ModelExplainer().contributions(model, X)
    assert method == "tree_shap"
    np.testing.assert_allclose(score, model.predict(X)["score"], atol=1e-9)
    np.testing.assert_allclose(attr.sum(axis=1), score - base, atol=1e-6)


@pytest.mark.parametrize("output", ["score", "margin"])
@pytest.mark.parametrize("backend", ["auto", "shap"])
def test_earnings_additivity(earnings, output, backend):
    if backend == "shap":
        pytest.importorskip("shap")
    model, X = earnings
    attr, base, score, method = ModelExplainer(backend=backend).contributions(model, X, output=output)
    assert method == ("tree_shap" if backend == "shap" else "tree_shap_native")
    p = model.predict(X)["beat_probability"].to_numpy()
    expected = p if output == "score" else np.log(p / (1 - p))
    np.testing.assert_allclose(score, expected, atol=1e-5)  # XGBoost predicts in float32
    np.testing.assert_allclose(attr.sum(axis=1), score - base, atol=1e-6)
    assert attr.abs().mean().idxmax() == "prior_surprise"
    explanation = ModelExplainer().explain(model, X.iloc[[5]], symbol="AAPL")
    assert explanation.symbol == "AAPL" and explanation.method == "tree_shap_native"


def test_without_shap_falls_back_to_signed_importance(ranking, sklearn_ranking, monkeypatch):
    monkeypatch.setitem(sys.modules, "shap", None)  # import shap now raises ImportError
    model, X = ranking
    rows = X.iloc[:40]
    attr, base, score, method = ModelExplainer(backend="shap").contributions(model, rows)
    assert method == "feature_importance"
    importance = model.get_feature_importance()
    # contribution = importance x direction (signal raises the score: +1) x position in [-1, 1]
    top, bottom = rows["signal"].idxmax(), rows["signal"].idxmin()
    assert attr.at[top, "signal"] == pytest.approx(importance["signal"])
    assert attr.at[bottom, "signal"] == pytest.approx(-importance["signal"])
    np.testing.assert_allclose(base, score.mean())
    explanation = ModelExplainer(backend="shap").explain(model, rows, symbol=top[1])
    assert explanation.method == "feature_importance" and "not additive" in explanation.to_text()
    one_row = ModelExplainer(backend="shap").contributions(model, rows.iloc[:1])[0]
    np.testing.assert_allclose(one_row.iloc[0], importance[one_row.columns])  # no direction from one row
    # LightGBM's own TreeSHAP needs no shap package; the scikit-learn members do
    assert ModelExplainer().contributions(model, rows)[3] == "tree_shap_native"
    assert ModelExplainer().contributions(sklearn_ranking[0], sklearn_ranking[1])[3] == "feature_importance"


def test_native_backend_refuses_sklearn_members(sklearn_ranking):
    with pytest.raises(ValueError, match="native"):
        ModelExplainer(backend="native").contributions(*sklearn_ranking)
