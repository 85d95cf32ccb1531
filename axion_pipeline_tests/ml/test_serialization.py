"""Round trips of fitted scikit-learn estimators through plain JSON, and rejection of tampered records."""

from __future__ import annotations

import copy
import json

import numpy as np
import pandas as pd
import pytest
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.linear_model import Ridge
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor

from axion_pipeline.ml.serialization import estimator_from_dict, estimator_to_dict, load_json, save_json

RNG = np.random.default_rng(7)
X_TRAIN = RNG.normal(size=(240, 5))
Y_CLASS = (X_TRAIN[:, 0] + 0.5 * RNG.normal(size=240) > 0).astype(int) + (X_TRAIN[:, 1] > 0.8)
X_TEST = RNG.normal(size=(80, 5))
X_NAN = X_TRAIN.copy()
X_NAN[::9, 2] = np.nan


def _cases():
    return [
        ("tree_clf", DecisionTreeClassifier(max_depth=6, random_state=0), X_NAN, Y_CLASS),
        ("tree_reg", DecisionTreeRegressor(max_depth=6, random_state=0), X_NAN, X_TRAIN[:, 0]),
        (
            "forest_str_labels",
            RandomForestClassifier(n_estimators=15, max_depth=5, random_state=0),
            X_NAN,
            np.array(["bear", "bull", "crisis"], dtype=object)[Y_CLASS],
        ),
        ("gb_multiclass", GradientBoostingClassifier(n_estimators=15, max_depth=3, random_state=0), X_TRAIN, Y_CLASS),
        (
            "gb_binary_subsample",
            GradientBoostingClassifier(n_estimators=10, subsample=0.7, random_state=0),
            X_TRAIN,
            Y_CLASS > 0,
        ),
        ("gb_zero_init", GradientBoostingClassifier(n_estimators=5, init="zero", random_state=0), X_TRAIN, Y_CLASS),
        ("hist_gb", HistGradientBoostingClassifier(max_iter=8, random_state=0), X_NAN, Y_CLASS),
        (
            "hist_gb_frame",
            HistGradientBoostingClassifier(max_iter=5, class_weight={0: 1.0, 1: 2.0, 2: 1.0}),
            pd.DataFrame(X_NAN, columns=list("abcde")),
            Y_CLASS,
        ),
        ("gmm_full", GaussianMixture(3, covariance_type="full", random_state=0), X_TRAIN, None),
        ("gmm_tied", GaussianMixture(3, covariance_type="tied", random_state=0), X_TRAIN, None),
        ("gmm_diag", GaussianMixture(3, covariance_type="diag", random_state=0), X_TRAIN, None),
        ("gmm_spherical", GaussianMixture(3, covariance_type="spherical", random_state=0), X_TRAIN, None),
        ("scaler", StandardScaler(), X_NAN, None),
        ("scaler_no_mean", StandardScaler(with_mean=False), X_TRAIN, None),
        ("ridge", Ridge(alpha=3.0), X_TRAIN, X_TRAIN @ np.arange(5.0)),
    ]


def _test_matrix(X_fit):
    X = X_TEST.copy()
    X[::7, 2] = np.nan
    if isinstance(X_fit, pd.DataFrame):
        return pd.DataFrame(X, columns=X_fit.columns)
    return X


def _outputs(est, X) -> dict[str, np.ndarray]:
    if isinstance(est, (GaussianMixture, Ridge, GradientBoostingClassifier)):
        X = np.nan_to_num(X, nan=0.0)  # these do not accept NaN
    names = ("predict_proba", "predict", "transform", "score_samples", "decision_function")
    return {m: getattr(est, m)(X) for m in names if hasattr(est, m)}


@pytest.mark.parametrize("name,est,X,y", _cases(), ids=[c[0] for c in _cases()])
def test_round_trip_gives_identical_outputs(tmp_path, name, est, X, y):
    est.fit(X) if y is None else est.fit(X, y)
    path = save_json(estimator_to_dict(est), tmp_path / f"{name}.json")
    restored = estimator_from_dict(load_json(path))
    assert type(restored) is type(est)
    Xt = _test_matrix(X)
    before, after = _outputs(est, Xt), _outputs(restored, Xt)
    assert before, "no prediction method exercised"
    for method, value in before.items():
        assert np.array_equal(value, after[method], equal_nan=value.dtype.kind == "f"), method
    json.loads(path.read_text())  # plain JSON on disk


def test_record_holds_only_json_types():
    est = RandomForestClassifier(n_estimators=3, max_depth=3, random_state=0).fit(X_TRAIN, Y_CLASS)
    record = estimator_to_dict(est)

    def walk(v):
        if isinstance(v, dict):
            assert all(isinstance(k, str) for k in v)
            for x in v.values():
                walk(x)
        elif isinstance(v, list):
            for x in v:
                walk(x)
        else:
            assert v is None or isinstance(v, (bool, int, float, str)), type(v)

    walk(record)


@pytest.fixture(scope="module")
def tree_record():
    return estimator_to_dict(DecisionTreeClassifier(max_depth=4, random_state=0).fit(X_TRAIN, Y_CLASS))


def _tamper(record, mutate):
    bad = copy.deepcopy(record)
    mutate(bad)
    return bad


@pytest.mark.parametrize(
    "mutate,message",
    [
        (lambda r: r["fitted"]["tree"]["values"].__setitem__("shape", [3, 1, 3]), "shape"),
        (lambda r: r["fitted"]["tree"]["values"]["data"].pop(), "values for shape"),
        (lambda r: r["fitted"]["tree"]["nodes"]["left_child"].__setitem__("dtype", "float64"), "dtype"),
        (lambda r: r["fitted"]["tree"]["nodes"]["left_child"]["data"].__setitem__(0, 10**6), "child index"),
        (lambda r: r["fitted"]["tree"]["nodes"]["left_child"]["data"].__setitem__(0, 0), "child index"),
        (lambda r: r["fitted"]["tree"]["nodes"]["feature"]["data"].__setitem__(0, 99), "split feature"),
        (lambda r: r["fitted"]["tree"]["nodes"]["threshold"]["data"].__setitem__(0, "x"), "not valid"),
        (lambda r: r["fitted"]["tree"]["nodes"].pop("missing_go_to_left"), "fields"),
        (lambda r: r["params"].__setitem__("max_depth", "deep"), "invalid parameters"),
        (lambda r: r["params"].__setitem__("no_such_param", 1), "invalid parameters"),
        (lambda r: r.__setitem__("kind", "Pipeline"), "unsupported estimator kind"),
        (lambda r: r.__setitem__("format", "pickle"), "record"),
    ],
)
def test_tampered_tree_record_raises_value_error(tree_record, mutate, message):
    with pytest.raises(ValueError, match=message):
        estimator_from_dict(_tamper(tree_record, mutate))


def test_tampered_gmm_and_forest_raise_value_error():
    gmm = estimator_to_dict(GaussianMixture(2, random_state=0).fit(X_TRAIN))
    bad = _tamper(gmm, lambda r: r["fitted"]["means_"].__setitem__("shape", [5, 2]))
    with pytest.raises(ValueError, match="means_: shape"):
        estimator_from_dict(bad)
    forest = estimator_to_dict(
        RandomForestClassifier(n_estimators=2, max_depth=2, random_state=0).fit(X_TRAIN, Y_CLASS)
    )
    bad = _tamper(forest, lambda r: r["fitted"]["estimators_"][1]["fitted"].__setitem__("n_features_in_", 4))
    with pytest.raises(ValueError):
        estimator_from_dict(bad)
    hgb = estimator_to_dict(HistGradientBoostingClassifier(max_iter=2).fit(X_TRAIN, Y_CLASS > 0))
    bad = _tamper(hgb, lambda r: r["fitted"]["predictors"][0][0]["left"]["data"].__setitem__(0, 4_000_000))
    with pytest.raises(ValueError, match="child index"):
        estimator_from_dict(bad)


def test_unsupported_estimators_are_refused():
    with pytest.raises(ValueError, match="cannot serialise"):
        estimator_to_dict(object())
    with pytest.raises(ValueError, match="not fitted"):
        estimator_to_dict(StandardScaler())
    with pytest.raises(ValueError, match="single-output"):
        estimator_to_dict(DecisionTreeRegressor(max_depth=2).fit(X_TRAIN, X_TRAIN[:, :2]))


def test_load_json_refuses_binary_content(tmp_path):
    path = tmp_path / "model.json"
    path.write_bytes(b"\x80\x04\x95\x10\x00 binary, not JSON")
    with pytest.raises(ValueError, match="not valid JSON"):
        load_json(path)
