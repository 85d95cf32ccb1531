"""Fitted scikit-learn estimators <-> plain JSON dicts, without pickle.

Why: a pickle (or joblib) file executes code when loaded, so a replaced model file is a code
injection. Here an estimator becomes a dict of parameters and arrays (``{"dtype", "shape",
"data"}``); loading validates every array's dtype and shape, checks tree topology (child indices
point forward and inside the tree, split features exist) so a tampered file cannot make compiled
prediction code read out of bounds, then rebuilds the sklearn object from those arrays. Floats
are written with ``repr`` precision, so a round trip reproduces ``predict_proba`` bit for bit.
Non-finite floats use Python's ``NaN``/``Infinity`` JSON tokens.

Supported: DecisionTreeClassifier/Regressor, RandomForestClassifier, GradientBoostingClassifier
(init "zero" or the default prior), HistGradientBoostingClassifier (numeric features only),
GaussianMixture, StandardScaler, Ridge. Single-output models only. Only what prediction needs is
kept: out-of-bag scores and fitting random-number state are dropped (``random_state`` objects are
stored as None), so a loaded model predicts identically but ``warm_start`` refitting differs.
Look-ahead cannot enter here; the module stores whatever was fitted.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import sklearn
from sklearn.dummy import DummyClassifier
from sklearn.ensemble import GradientBoostingClassifier, HistGradientBoostingClassifier, RandomForestClassifier
from sklearn.ensemble._hist_gradient_boosting.binning import _BinMapper
from sklearn.ensemble._hist_gradient_boosting.common import PREDICTOR_RECORD_DTYPE
from sklearn.ensemble._hist_gradient_boosting.predictor import TreePredictor
from sklearn.linear_model import Ridge
from sklearn.mixture import GaussianMixture
from sklearn.preprocessing import LabelEncoder, StandardScaler
from sklearn.tree import DecisionTreeClassifier, DecisionTreeRegressor
from sklearn.tree._tree import NODE_DTYPE, TREE_LEAF, TREE_UNDEFINED, Tree

FORMAT = "axion-sklearn-json"
SCHEMA_VERSION = 1


# -- arrays -------------------------------------------------------------------------------------
def _arr(value: Any) -> dict[str, Any]:
    a = np.asarray(value)
    if a.dtype.kind in "OUS":
        if not all(isinstance(v, str) for v in a.ravel().tolist()):
            raise ValueError(f"object array holds non-string values; cannot store {a.dtype}")
        return {"dtype": "str", "shape": list(a.shape), "data": a.ravel().tolist()}
    return {"dtype": a.dtype.name, "shape": list(a.shape), "data": a.ravel().tolist()}


def _read(d: Any, name: str, dtype: str | None, shape: tuple | None = None) -> np.ndarray:
    """Parse an ``_arr`` dict, requiring ``dtype`` (None: any numeric/str) and ``shape``
    (None entries are free dimensions)."""
    if not isinstance(d, dict) or set(d) != {"dtype", "shape", "data"}:
        raise ValueError(f"{name}: expected an array record with dtype/shape/data")
    got_shape = d["shape"]
    if not isinstance(got_shape, list) or not all(isinstance(s, int) and s >= 0 for s in got_shape):
        raise ValueError(f"{name}: invalid shape {got_shape!r}")
    if shape is not None and (
        len(shape) != len(got_shape) or any(e is not None and e != g for e, g in zip(shape, got_shape))
    ):
        raise ValueError(f"{name}: shape {tuple(got_shape)} does not match expected {shape}")
    stored = d["dtype"]
    if dtype is not None and stored != dtype:
        raise ValueError(f"{name}: dtype {stored!r} does not match expected {dtype!r}")
    data = d["data"]
    if not isinstance(data, list) or len(data) != math.prod(got_shape):
        raise ValueError(f"{name}: {len(data) if isinstance(data, list) else 'no'} values for shape {tuple(got_shape)}")
    if stored == "str":
        if not all(isinstance(v, str) for v in data):
            raise ValueError(f"{name}: string array holds non-strings")
        return np.array(data, dtype=object).reshape(got_shape)
    try:
        target = np.dtype(stored)
    except TypeError as exc:
        raise ValueError(f"{name}: unknown dtype {stored!r}") from exc
    raw = np.array(data) if data else np.zeros(0, dtype=target)
    accepted = {"b": "b", "i": "iu", "u": "iu", "f": "fiu"}.get(target.kind, "")
    if raw.ndim != 1 or raw.dtype.kind not in accepted:
        raise ValueError(f"{name}: values are not valid for dtype {stored}")
    out = raw.astype(target)
    if not np.array_equal(out, raw, equal_nan=target.kind == "f"):
        raise ValueError(f"{name}: values overflow dtype {stored}")
    return out.reshape(got_shape)


def _int(d: dict, key: str, low: int = 0) -> int:
    v = d.get(key)
    if not isinstance(v, int) or isinstance(v, bool) or v < low:
        raise ValueError(f"{key}: expected an integer >= {low}, got {v!r}")
    return v


# -- parameters ---------------------------------------------------------------------------------
def _encode_param(key: str, v: Any) -> Any:
    if isinstance(v, np.generic):
        v = v.item()
    if v is None or isinstance(v, (bool, int, float, str)):
        return v
    if key == "random_state" and isinstance(v, (np.random.RandomState, np.random.Generator)):
        return None  # only affects refitting; prediction does not use it
    if isinstance(v, (list, tuple, np.ndarray)):
        return [_encode_param(key, x) for x in list(v)]
    if isinstance(v, dict):
        return {"__items__": [[_encode_param(key, k), _encode_param(key, x)] for k, x in v.items()]}
    raise ValueError(f"parameter {key}={v!r} ({type(v).__name__}) cannot be stored as JSON")


def _decode_param(v: Any) -> Any:
    if isinstance(v, list):
        return [_decode_param(x) for x in v]
    if isinstance(v, dict):
        if set(v) != {"__items__"}:
            raise ValueError(f"invalid parameter record {v!r}")
        return {_decode_param(k): _decode_param(x) for k, x in v["__items__"]}
    return v


def _build(cls: type, params: Any) -> Any:
    if not isinstance(params, dict):
        raise ValueError(f"{cls.__name__}: params must be a dict")
    try:
        est = cls(**{k: _decode_param(v) for k, v in params.items()})
        est._validate_params()
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{cls.__name__}: invalid parameters: {exc}") from exc
    return est


def _params(est: Any) -> dict[str, Any]:
    return {k: _encode_param(k, v) for k, v in est.get_params(deep=False).items()}


def _common_out(est: Any) -> dict[str, Any]:
    out = {"n_features_in_": int(est.n_features_in_)}
    if hasattr(est, "feature_names_in_"):
        out["feature_names_in_"] = [str(n) for n in est.feature_names_in_]
    return out


def _common_in(est: Any, f: dict) -> int:
    est.n_features_in_ = _int(f, "n_features_in_", 1)
    if "feature_names_in_" in f:
        names = f["feature_names_in_"]
        if (
            not isinstance(names, list)
            or len(names) != est.n_features_in_
            or not all(isinstance(n, str) for n in names)
        ):
            raise ValueError("feature_names_in_: expected n_features_in_ strings")
        est.feature_names_in_ = np.array(names, dtype=object)
    return est.n_features_in_


# -- single decision trees ----------------------------------------------------------------------
def _tree_out(est: Any) -> dict[str, Any]:
    if est.n_outputs_ != 1:
        raise ValueError(f"{type(est).__name__}: only single-output trees are supported")
    state = est.tree_.__getstate__()
    nodes = state["nodes"]
    out = {**_common_out(est), "n_outputs_": 1, "max_features_": int(est.max_features_)}
    if hasattr(est, "classes_"):
        out["classes_"] = _arr(est.classes_)
    out["tree"] = {
        "max_depth": int(state["max_depth"]),
        "node_count": int(state["node_count"]),
        "nodes": {name: _arr(nodes[name]) for name in NODE_DTYPE.names},
        "values": _arr(state["values"]),
    }
    return out


def _check_topology(
    left: np.ndarray, right: np.ndarray, feature: np.ndarray, is_leaf: np.ndarray, n_features: int, where: str
) -> None:
    """Children must point forward inside the tree (so traversal ends) and splits use real features."""
    n = left.size
    idx = np.arange(n)
    inner = ~is_leaf
    bad = inner & (
        (left <= idx) | (left >= n) | (right <= idx) | (right >= n) | (feature < 0) | (feature >= n_features)
    )
    if bad.any():
        raise ValueError(f"{where}: invalid child index or split feature at node {int(np.flatnonzero(bad)[0])}")


def _tree_in(cls: type, params: Any, f: dict) -> Any:
    est = _build(cls, params)
    n_features = _common_in(est, f)
    if f.get("n_outputs_") != 1:
        raise ValueError("n_outputs_: only single-output trees are supported")
    est.n_outputs_ = 1
    est.max_features_ = _int(f, "max_features_", 1)
    if cls is DecisionTreeClassifier:
        est.classes_ = _read(f.get("classes_"), "classes_", None, (None,))
        est.n_classes_ = int(est.classes_.size)
        if est.n_classes_ < 1:
            raise ValueError("classes_: empty")
        n_classes = np.array([est.n_classes_], dtype=np.intp)
    else:
        n_classes = np.array([1], dtype=np.intp)
    t = f.get("tree")
    if not isinstance(t, dict):
        raise ValueError("tree: missing")
    count = _int(t, "node_count", 1)
    cols = t.get("nodes")
    if not isinstance(cols, dict) or set(cols) != set(NODE_DTYPE.names):
        raise ValueError(
            f"tree.nodes: fields must be {list(NODE_DTYPE.names)} (this scikit-learn {sklearn.__version__})"
        )
    nodes = np.zeros(count, dtype=NODE_DTYPE)
    for name in NODE_DTYPE.names:
        nodes[name] = _read(cols[name], f"tree.nodes.{name}", NODE_DTYPE[name].name, (count,))
    leaf = nodes["left_child"] == TREE_LEAF
    if np.any(leaf != (nodes["right_child"] == TREE_LEAF)) or np.any(nodes["feature"][leaf] != TREE_UNDEFINED):
        raise ValueError("tree.nodes: inconsistent leaf markers")
    _check_topology(nodes["left_child"], nodes["right_child"], nodes["feature"], leaf, n_features, "tree.nodes")
    values = _read(t.get("values"), "tree.values", "float64", (count, 1, int(n_classes[0])))
    tree = Tree(n_features, n_classes, 1)
    tree.__setstate__({"max_depth": _int(t, "max_depth"), "node_count": count, "nodes": nodes, "values": values})
    est.tree_ = tree
    return est


# -- ensembles ----------------------------------------------------------------------------------
def _subtree(cls: type, t: Any, n_features: int, where: str) -> Any:
    if not isinstance(t, dict) or not isinstance(t.get("fitted"), dict):
        raise ValueError(f"{where}: expected a tree record with params and fitted state")
    tree = _tree_in(cls, t.get("params"), t["fitted"])
    if tree.n_features_in_ != n_features:
        raise ValueError(f"{where}: tree has {tree.n_features_in_} features, ensemble {n_features}")
    return tree


def _forest_out(est: RandomForestClassifier) -> dict[str, Any]:
    if est.n_outputs_ != 1:
        raise ValueError("RandomForestClassifier: only single-output forests are supported")
    return {
        **_common_out(est),
        "n_outputs_": 1,
        "classes_": _arr(est.classes_),
        "estimators_": [{"params": _params(t), "fitted": _tree_out(t)} for t in est.estimators_],
    }


def _forest_in(params: Any, f: dict) -> RandomForestClassifier:
    est = _build(RandomForestClassifier, params)
    n_features = _common_in(est, f)
    est.n_outputs_ = 1
    est.classes_ = _read(f.get("classes_"), "classes_", None, (None,))
    est.n_classes_ = int(est.classes_.size)
    trees = f.get("estimators_")
    if not isinstance(trees, list) or not trees:
        raise ValueError("estimators_: expected a non-empty list of trees")
    est.estimators_ = [
        _subtree(DecisionTreeClassifier, t, n_features, f"estimators_[{i}]") for i, t in enumerate(trees)
    ]
    if any(not np.array_equal(t.classes_, np.arange(est.n_classes_)) for t in est.estimators_):
        raise ValueError("estimators_: a tree's classes do not match the forest's")
    est._validate_estimator()
    return est


def _gb_out(est: GradientBoostingClassifier) -> dict[str, Any]:
    if isinstance(est.init_, str):
        init = est.init_
    elif isinstance(est.init_, DummyClassifier) and est.init_._strategy == "prior":
        init = {"class_prior_": _arr(est.init_.class_prior_)}
    else:
        raise ValueError(f"GradientBoostingClassifier: init {est.init_!r} is not supported (use the default)")
    return {
        **_common_out(est),
        "classes_": _arr(est.classes_),
        "max_features_": int(est.max_features_),
        "n_estimators_": int(est.n_estimators_),
        "train_score_": _arr(est.train_score_),
        "init_": init,
        "estimators_": [[{"params": _params(t), "fitted": _tree_out(t)} for t in row] for row in est.estimators_],
    }


def _gb_in(params: Any, f: dict) -> GradientBoostingClassifier:
    est = _build(GradientBoostingClassifier, params)
    n_features = _common_in(est, f)
    est.classes_ = _read(f.get("classes_"), "classes_", None, (None,))
    est.n_classes_ = int(est.classes_.size)
    if est.n_classes_ < 2:
        raise ValueError("classes_: need at least two classes")
    k = 1 if est.n_classes_ == 2 else est.n_classes_
    est.n_trees_per_iteration_ = k
    est.max_features_ = _int(f, "max_features_", 1)
    est.n_estimators_ = _int(f, "n_estimators_", 1)
    est.train_score_ = _read(f.get("train_score_"), "train_score_", "float64", (est.n_estimators_,))
    est._loss = est._get_loss(sample_weight=None)
    init = f.get("init_")
    if init == "zero":
        est.init_ = "zero"
    elif isinstance(init, dict):
        prior = _read(init.get("class_prior_"), "init_.class_prior_", "float64", (est.n_classes_,))
        dummy = DummyClassifier(strategy="prior")
        dummy.n_features_in_, dummy._strategy, dummy.sparse_output_, dummy.n_outputs_ = n_features, "prior", False, 1
        dummy.classes_, dummy.n_classes_, dummy.class_prior_ = np.arange(est.n_classes_), est.n_classes_, prior
        est.init_ = dummy
    else:
        raise ValueError(f"init_: expected 'zero' or a class prior, got {init!r}")
    rows = f.get("estimators_")
    if (
        not isinstance(rows, list)
        or len(rows) != est.n_estimators_
        or any(not isinstance(r, list) or len(r) != k for r in rows)
    ):
        raise ValueError(f"estimators_: expected {est.n_estimators_} x {k} trees")
    est.estimators_ = np.empty((est.n_estimators_, k), dtype=object)
    for i, row in enumerate(rows):
        for j, t in enumerate(row):
            est.estimators_[i, j] = _subtree(DecisionTreeRegressor, t, n_features, f"estimators_[{i}][{j}]")
    return est


def _hgb_out(est: HistGradientBoostingClassifier) -> dict[str, Any]:
    if est.is_categorical_ is not None and np.any(est.is_categorical_):
        raise ValueError("HistGradientBoostingClassifier: categorical features are not supported")
    return {
        **_common_out(est),
        "classes_": _arr(est.classes_),
        "_baseline_prediction": _arr(est._baseline_prediction),
        "n_bins_non_missing_": _arr(est._bin_mapper.n_bins_non_missing_),
        "predictors": [
            [{n: _arr(p.nodes[n]) for n in PREDICTOR_RECORD_DTYPE.names} for p in it] for it in est._predictors
        ],
    }


def _hgb_in(params: Any, f: dict) -> HistGradientBoostingClassifier:
    est = _build(HistGradientBoostingClassifier, params)
    n_features = _common_in(est, f)
    est._n_features = n_features
    est.classes_ = _read(f.get("classes_"), "classes_", None, (None,))
    if est.classes_.size < 2:
        raise ValueError("classes_: need at least two classes")
    k = 1 if est.classes_.size == 2 else int(est.classes_.size)
    est.n_trees_per_iteration_ = k
    est._label_encoder = LabelEncoder()
    est._label_encoder.classes_ = est.classes_
    est._loss = est._get_loss(sample_weight=None)
    est._baseline_prediction = _read(f.get("_baseline_prediction"), "_baseline_prediction", "float64", (1, k))
    est.is_categorical_ = est._preprocessor = est._is_categorical_remapped = None
    est.do_early_stopping_, est._scorer = False, None
    est.train_score_ = est.validation_score_ = np.array([])
    bm = _BinMapper(n_bins=est.max_bins + 1)
    bm.n_bins_non_missing_ = _read(f.get("n_bins_non_missing_"), "n_bins_non_missing_", "uint32", (n_features,))
    bm.bin_thresholds_ = [np.zeros(0)] * n_features  # only binned (fit-time) prediction uses them
    bm.is_categorical_ = np.zeros(n_features, dtype=np.uint8)
    bm.missing_values_bin_idx_ = est.max_bins
    est._bin_mapper = bm
    iterations = f.get("predictors")
    if not isinstance(iterations, list) or any(not isinstance(it, list) or len(it) != k for it in iterations):
        raise ValueError(f"predictors: expected a list of iterations of {k} trees")
    no_bitsets = np.zeros((0, 8), dtype=np.uint32)
    est._predictors = []
    for i, it in enumerate(iterations):
        row = []
        for j, cols in enumerate(it):
            where = f"predictors[{i}][{j}]"
            if not isinstance(cols, dict) or set(cols) != set(PREDICTOR_RECORD_DTYPE.names):
                raise ValueError(f"{where}: node fields must be {list(PREDICTOR_RECORD_DTYPE.names)}")
            size = len(cols["value"].get("data", [])) if isinstance(cols["value"], dict) else -1
            nodes = np.zeros(max(size, 0), dtype=PREDICTOR_RECORD_DTYPE)
            for n in PREDICTOR_RECORD_DTYPE.names:
                nodes[n] = _read(cols[n], f"{where}.{n}", PREDICTOR_RECORD_DTYPE[n].name, (size,))
            if size < 1 or np.any(nodes["is_categorical"] != 0) or np.any(nodes["is_leaf"] > 1):
                raise ValueError(f"{where}: empty tree, categorical split or bad leaf flag")
            leaf = nodes["is_leaf"] == 1
            _check_topology(
                nodes["left"].astype(np.int64),
                nodes["right"].astype(np.int64),
                nodes["feature_idx"],
                leaf,
                n_features,
                where,
            )
            row.append(TreePredictor(nodes, no_bitsets, no_bitsets.copy()))
        est._predictors.append(row)
    return est


# -- mixtures, scalers, linear models -----------------------------------------------------------
_GMM_FIELDS = ("weights_", "means_", "covariances_", "precisions_cholesky_", "precisions_")


def _gmm_out(est: GaussianMixture) -> dict[str, Any]:
    return {
        **_common_out(est),
        **{k: _arr(getattr(est, k)) for k in _GMM_FIELDS},
        "converged_": bool(est.converged_),
        "n_iter_": int(est.n_iter_),
        "lower_bound_": float(est.lower_bound_),
    }


def _gmm_in(params: Any, f: dict) -> GaussianMixture:
    est = _build(GaussianMixture, params)
    d, k = _common_in(est, f), est.n_components
    cov = {"full": (k, d, d), "tied": (d, d), "diag": (k, d), "spherical": (k,)}[est.covariance_type]
    shapes = {"weights_": (k,), "means_": (k, d), "covariances_": cov, "precisions_cholesky_": cov, "precisions_": cov}
    for name in _GMM_FIELDS:
        a = _read(f.get(name), name, "float64", shapes[name])
        if not np.all(np.isfinite(a)):
            raise ValueError(f"{name}: non-finite values")
        setattr(est, name, a)
    est.converged_, est.n_iter_ = bool(f.get("converged_")), _int(f, "n_iter_")
    est.lower_bound_ = float(f.get("lower_bound_", float("nan")))
    est.lower_bounds_ = []
    return est


def _scaler_out(est: StandardScaler) -> dict[str, Any]:
    out = {**_common_out(est), "n_samples_seen_": _arr(est.n_samples_seen_)}
    for k in ("mean_", "var_", "scale_"):
        out[k] = None if getattr(est, k) is None else _arr(getattr(est, k))
    return out


def _scaler_in(params: Any, f: dict) -> StandardScaler:
    est = _build(StandardScaler, params)
    d = _common_in(est, f)
    est.n_samples_seen_ = _read(f.get("n_samples_seen_"), "n_samples_seen_", None)
    if est.n_samples_seen_.shape not in ((), (d,)):
        raise ValueError(f"n_samples_seen_: shape {est.n_samples_seen_.shape} is neither () nor ({d},)")
    if est.n_samples_seen_.shape == ():
        est.n_samples_seen_ = est.n_samples_seen_[()]
    for k in ("mean_", "var_", "scale_"):
        setattr(est, k, None if f.get(k) is None else _read(f[k], k, "float64", (d,)))
    if (est.mean_ is None and est.with_mean) or (est.scale_ is None) == est.with_std:
        raise ValueError("mean_/scale_ presence does not match with_mean/with_std")
    return est


def _ridge_out(est: Ridge) -> dict[str, Any]:
    if np.ndim(est.coef_) != 1:
        raise ValueError("Ridge: only single-target models are supported")
    return {
        **_common_out(est),
        "coef_": _arr(est.coef_),
        "intercept_": float(est.intercept_),
        "solver_": str(getattr(est, "solver_", est.solver)),
    }


def _ridge_in(params: Any, f: dict) -> Ridge:
    est = _build(Ridge, params)
    d = _common_in(est, f)
    est.coef_ = _read(f.get("coef_"), "coef_", "float64", (d,))
    intercept = f.get("intercept_")
    if not isinstance(intercept, (int, float)) or isinstance(intercept, bool):
        raise ValueError(f"intercept_: expected a number, got {intercept!r}")
    est.intercept_ = float(intercept)
    solver = f.get("solver_")
    if not isinstance(solver, str):
        raise ValueError(f"solver_: expected a string, got {solver!r}")
    est.n_iter_, est.solver_ = None, solver
    return est


_CODECS: dict[str, tuple[type, Callable, Callable]] = {
    "DecisionTreeClassifier": (DecisionTreeClassifier, _tree_out, lambda p, f: _tree_in(DecisionTreeClassifier, p, f)),
    "DecisionTreeRegressor": (DecisionTreeRegressor, _tree_out, lambda p, f: _tree_in(DecisionTreeRegressor, p, f)),
    "RandomForestClassifier": (RandomForestClassifier, _forest_out, _forest_in),
    "GradientBoostingClassifier": (GradientBoostingClassifier, _gb_out, _gb_in),
    "HistGradientBoostingClassifier": (HistGradientBoostingClassifier, _hgb_out, _hgb_in),
    "GaussianMixture": (GaussianMixture, _gmm_out, _gmm_in),
    "StandardScaler": (StandardScaler, _scaler_out, _scaler_in),
    "Ridge": (Ridge, _ridge_out, _ridge_in),
}


# -- public API ---------------------------------------------------------------------------------
def estimator_to_dict(est: Any) -> dict[str, Any]:
    """A fitted supported estimator as a JSON-able dict (lists, numbers, strings only)."""
    kind = type(est).__name__
    codec = _CODECS.get(kind)
    if codec is None or type(est) is not codec[0]:
        raise ValueError(f"cannot serialise {kind}; supported: {sorted(_CODECS)}")
    if not hasattr(est, "n_features_in_"):
        raise ValueError(f"{kind} is not fitted")
    return {
        "format": FORMAT,
        "schema_version": SCHEMA_VERSION,
        "kind": kind,
        "sklearn_version": sklearn.__version__,
        "params": _params(est),
        "fitted": codec[1](est),
    }


def estimator_from_dict(d: dict[str, Any]) -> Any:
    """Rebuild the estimator from ``estimator_to_dict`` output; ValueError on any mismatch."""
    if not isinstance(d, dict) or d.get("format") != FORMAT or d.get("schema_version") != SCHEMA_VERSION:
        raise ValueError(f"not an {FORMAT} v{SCHEMA_VERSION} record")
    codec = _CODECS.get(d.get("kind"))
    if codec is None:
        raise ValueError(f"unsupported estimator kind {d.get('kind')!r}")
    if not isinstance(d.get("fitted"), dict):
        raise ValueError("fitted: missing")
    return codec[2](d.get("params"), d["fitted"])


def save_json(obj: Any, path: str | Path) -> Path:
    """Write ``obj`` (JSON-able) atomically; floats keep full precision."""
    path = Path(path)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(obj, separators=(",", ":")))
    tmp.replace(path)
    return path


def load_json(path: str | Path) -> Any:
    """Parse a JSON file (data only; nothing is executed). ValueError if it is not valid JSON."""
    try:
        return json.loads(Path(path).read_text())
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path}: not valid JSON ({exc})") from exc
