"""``ModelExplainer``: per-feature contributions (TreeSHAP) to a model's 0-1 output.

Ranking ensemble. The score is s = sum_k c_k p_k with c_k = (k - 1) / (K - 1) and p = softmax(m),
m the K class margins of a member, averaged over the members. Exact SHAP values of that nonlinear
output are not available from TreeSHAP, so it is explained in two exact steps per member:

1. TreeSHAP in margin space: phi[k, f] with m_k = b_k + sum_f phi[k, f] (LightGBM's
   ``pred_contrib=True``, which is TreeSHAP and what ``shap.TreeExplainer`` itself returns for
   LightGBM; for the scikit-learn fallback members ``shap.TreeExplainer`` on the per-class trees);
2. margins -> score along the straight path from the base margins b to m (Aumann-Shapley /
   integrated gradients): G_k = integral over t in [0, 1] of ds/dm_k at b + t (m - b), with
   ds/dm_k = p_k (c_k - s), by 64-point Gauss-Legendre quadrature; feature f gets
   sum_k phi[k, f] G_k.

These contributions sum to s(m) - s(b) up to the quadrature error (below 1e-15 for margin moves
of a few units as quintile models make, ~1e-11 at 10 units); that residual is then spread over
the features in proportion to |contribution|, so
**sum of contributions = score - base_value exactly** (to float rounding); base_value is the score
at the base margins, s(softmax(b)) (not the mean score of the data), averaged over members.

Earnings model (XGBoost, binary): TreeSHAP log-odds contributions (``pred_contribs=True``), with
``output="margin"`` as they are (sum = log-odds - base log-odds), or by default propagated to the
beat probability the same way (sum = probability - base probability).

``backend``: "auto" uses the libraries' native TreeSHAP and the ``shap`` package for the
scikit-learn members; "shap" uses ``shap.TreeExplainer`` for everything; "native" never imports
shap. When shap is needed and cannot be imported, the explainer falls back to the model's
``get_feature_importance()``: contribution = importance x direction x position, where direction is
the sign of the Spearman correlation of the feature with the model's output across the rows of X
(0 for a constant feature) and position = 2 x (percentile of the row's value within X) - 1. With
fewer than 3 rows no direction can be estimated and the contribution is the unsigned importance.
Those values are relative, not additive, and base_value is then the mean output over X.

Look-ahead: explanations use only the model and the rows given; they cannot add look-ahead that
is not already in the features.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml.earnings import EarningsPredictionModel
from axion_pipeline.ml.ranking import BACKEND_LIGHTGBM, StockRankingModel

BACKENDS = ("auto", "shap", "native")
_NODES, _WEIGHTS = np.polynomial.legendre.leggauss(64)
_SYMBOL_LEVELS = ("symbol", "ticker")


@dataclass
class Explanation:
    """Contributions of every feature to one row's output; factors are (name, contribution) pairs."""

    symbol: str
    score: float
    base_value: float
    feature_contributions: dict[str, float]
    top_positive_factors: list[tuple[str, float]]
    top_negative_factors: list[tuple[str, float]]
    method: str
    feature_values: dict[str, float] = field(default_factory=dict)
    output: str = "score"

    def to_text(self, top_n: int = 5) -> str:
        additive = self.method != "feature_importance"
        lines = [
            f"{self.symbol}: {self.output} {self.score:.4f} (base {self.base_value:.4f}, method {self.method}"
            + ("" if additive else ", relative weights, not additive")
            + ")"
        ]
        for title, factors in (
            ("Top positive factors", self.top_positive_factors),
            ("Top negative factors", self.top_negative_factors),
        ):
            lines.append(f"{title}:")
            lines += [
                f"  {name} = {self.feature_values.get(name, float('nan')):.4g}: {value:+.4f}"
                for name, value in factors[:top_n]
            ] or ["  (none)"]
        return "\n".join(lines)


def _softmax(m: np.ndarray) -> np.ndarray:
    e = np.exp(m - m.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def margin_to_score(phi: np.ndarray, values: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Contributions to s = softmax(m) . values from margin-space TreeSHAP ``phi`` (n, C, F + 1;
    the last column is the base margin). Returns (contributions (n, F), base (n,), score (n,))."""
    contrib, bias = phi[:, :, :-1], phi[:, :, -1]
    delta = contrib.sum(axis=2)
    grad = np.zeros_like(bias)
    for node, weight in zip(_NODES, _WEIGHTS):
        p = _softmax(bias + 0.5 * (node + 1.0) * delta)
        grad += 0.5 * weight * p * (values[None, :] - (p @ values)[:, None])
    attr = np.einsum("ncf,nc->nf", contrib, grad)
    score, base = _softmax(bias + delta) @ values, _softmax(bias) @ values
    return _close_residual(attr, score - base), base, score


def _close_residual(attr: np.ndarray, total: np.ndarray) -> np.ndarray:
    """Spread ``total - attr.sum(1)`` over the features in proportion to |attr| (equally if all 0)."""
    residual = total - attr.sum(axis=1)
    weights = np.abs(attr)
    norm = weights.sum(axis=1, keepdims=True)
    weights = np.where(norm > 0, weights / np.where(norm > 0, norm, 1.0), 1.0 / attr.shape[1])
    return attr + residual[:, None] * weights


def _import_shap():
    try:
        import shap
    except ImportError:
        return None
    return shap


def _stack_shap(values: Any, expected: Any, n: int, f: int) -> np.ndarray:
    """shap output (list per class, (n, F, C) or (n, F)) + expected values -> phi (n, C, F + 1)."""
    if isinstance(values, list):
        values = np.stack(values, axis=1)
    values = np.asarray(values, dtype=float)
    values = values[:, None, :] if values.ndim == 2 else values.transpose(0, 2, 1)
    expected = np.atleast_1d(np.asarray(expected, dtype=float))
    base = np.broadcast_to(expected[None, :, None], (n, values.shape[1], 1))
    return np.concatenate([values, base], axis=2)


def _gb_class_model(member: Any, k: int, offset: float) -> dict:
    """One class of a scikit-learn GradientBoostingClassifier as shap's dict-of-trees model."""
    lr = float(member.learning_rate)
    trees = [
        {
            "children_left": t.children_left,
            "children_right": t.children_right,
            "children_default": t.children_left,
            "features": t.feature,
            "thresholds": t.threshold,
            "values": t.value[:, 0, :] * lr,
            "node_sample_weight": t.weighted_n_node_samples,
        }
        for t in (e.tree_ for e in member.estimators_[:, k])
    ]
    return {"trees": trees, "base_offset": offset, "input_dtype": np.float32, "tree_output": "raw_value"}


def _with_zero_class(phi: np.ndarray) -> np.ndarray:
    """A binary model's single margin m as the two margins (0, m) of a 2-class softmax."""
    return np.concatenate([np.zeros_like(phi), phi], axis=1) if phi.shape[1] == 1 else phi


def _ranking_member_phi(member: Any, matrix: np.ndarray, lightgbm: bool, shap: Any) -> np.ndarray:
    n, f = matrix.shape
    if lightgbm and shap is None:
        raw = np.asarray(member.predict(matrix, pred_contrib=True), dtype=float)
        return raw.reshape(n, -1, f + 1)
    if lightgbm:
        explainer = shap.TreeExplainer(member)
        return _stack_shap(explainer.shap_values(matrix), explainer.expected_value, n, f)
    if hasattr(member, "estimators_"):  # GradientBoostingClassifier: shap's own wrapper is binary-only
        offsets = np.atleast_1d(member._raw_predict_init(matrix[:1])[0])
        per_class = []
        for k, offset in enumerate(offsets):
            explainer = shap.TreeExplainer(_gb_class_model(member, k, float(offset)))
            per_class.append(_stack_shap(explainer.shap_values(matrix), explainer.expected_value, n, f))
        phi = np.concatenate(per_class, axis=1)
    else:  # HistGradientBoostingClassifier
        explainer = shap.TreeExplainer(member, model_output="raw")
        phi = _stack_shap(explainer.shap_values(matrix), explainer.expected_value, n, f)
    margins = np.atleast_2d(member.decision_function(matrix).T).T.reshape(n, -1)
    gap = np.abs(phi.sum(axis=2) - margins).max()
    if gap > 1e-6:
        raise RuntimeError(f"shap values of a {type(member).__name__} miss its margins by {gap:.2e}")
    return _with_zero_class(phi)


class ModelExplainer:
    """SHAP explanations of ``StockRankingModel`` and ``EarningsPredictionModel`` (module docstring)."""

    def __init__(self, backend: str = "auto", top_n: int = 5):
        if backend not in BACKENDS:
            raise ValueError(f"backend must be one of {BACKENDS}, got {backend!r}")
        self.backend = backend
        self.top_n = top_n

    # -- contributions ------------------------------------------------------------------------
    def _needs_shap(self, model: Any) -> bool:
        if self.backend == "shap":
            return True
        if isinstance(model, StockRankingModel):
            native = model.backend == BACKEND_LIGHTGBM
            if not native and self.backend == "native":
                raise ValueError(f"backend='native' cannot explain a {model.backend} ranking model; use 'auto'")
            return not native
        return False

    def contributions(
        self, model: Any, X: pd.DataFrame, output: str = "score"
    ) -> tuple[pd.DataFrame, np.ndarray, np.ndarray, str]:
        """(contributions rows x features, base value per row, output per row, method) for every row of X."""
        if not isinstance(X, pd.DataFrame) or X.empty:
            raise ValueError("X must be a non-empty DataFrame of the model's features")
        if not getattr(model, "is_fitted", False):
            raise RuntimeError(f"{type(model).__name__} is not fitted")
        needs_shap = self._needs_shap(model)
        shap = _import_shap() if needs_shap else None
        if needs_shap and shap is None:
            return self._importance_fallback(model, X, output)
        if isinstance(model, StockRankingModel):
            if output != "score":
                raise ValueError("the ranking ensemble is explained on its 0-1 score only (output='score')")
            attr, base, score, names = self._ranking(model, X, shap)
        elif isinstance(model, EarningsPredictionModel):
            attr, base, score, names = self._earnings(model, X, output, shap)
        else:
            raise TypeError(
                f"cannot explain a {type(model).__name__}; expected StockRankingModel or EarningsPredictionModel"
            )
        method = "tree_shap" if shap is not None else "tree_shap_native"
        return pd.DataFrame(attr, index=X.index, columns=names), base, score, method

    @staticmethod
    def _ranking(model: StockRankingModel, X: pd.DataFrame, shap: Any):
        """Member by member: margin-space TreeSHAP -> score contributions; averaged (score is linear in p)."""
        matrix = model.feature_matrix(X)
        classes = np.asarray(model.metadata.extra.get("classes") or range(1, model.num_classes + 1), dtype=float)
        values = (classes - 1.0) / (model.num_classes - 1.0)
        lightgbm = model.backend == BACKEND_LIGHTGBM
        members = model.raw_boosters()
        attr, base, score = 0.0, 0.0, 0.0
        for member in members:
            phi = _ranking_member_phi(member, matrix, lightgbm, shap)
            if phi.shape[1] != len(values):
                raise RuntimeError(f"a member has {phi.shape[1]} class margins for {len(values)} classes")
            a, b, s = margin_to_score(phi, values)
            attr, base, score = attr + a, base + b, score + s
        k = len(members)
        return attr / k, base / k, score / k, model.feature_names

    @staticmethod
    def _earnings(model: EarningsPredictionModel, X: pd.DataFrame, output: str, shap: Any):
        if output not in ("score", "margin"):
            raise ValueError(f"output must be 'score' (probability) or 'margin' (log-odds), got {output!r}")
        names = list(model.metadata.feature_names)
        missing = [c for c in names if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks the earnings features {missing}")
        values = X[names].to_numpy(dtype=float)
        if np.isinf(values).any():
            raise ValueError("X holds infinite values")
        classifier = model.raw_classifier()  # the fitted XGBClassifier
        n, f = values.shape
        if shap is not None:
            explainer = shap.TreeExplainer(classifier)
            phi = _stack_shap(explainer.shap_values(values), explainer.expected_value, n, f)
        else:
            import xgboost as xgb

            phi = classifier.get_booster().predict(xgb.DMatrix(values), pred_contribs=True).reshape(n, 1, f + 1)
        if output == "margin":
            return phi[:, 0, :-1], phi[:, 0, -1], phi[:, 0, :].sum(axis=1), names
        attr, base, score = margin_to_score(_with_zero_class(phi), np.array([0.0, 1.0]))
        return attr, base, score, names

    def _importance_fallback(self, model: Any, X: pd.DataFrame, output: str):
        """Importance x direction x position (module docstring); not additive."""
        if isinstance(model, StockRankingModel):
            names, score = model.feature_names, model.predict(X)["score"].to_numpy()
        elif isinstance(model, EarningsPredictionModel):
            names = list(model.metadata.feature_names)
            pred = model.predict(X)["beat_probability"].to_numpy()
            score = np.log(pred / (1.0 - pred)) if output == "margin" else pred
        else:
            raise TypeError(f"cannot explain a {type(model).__name__}")
        importance = model.get_feature_importance().reindex(names).fillna(0.0).to_numpy()
        frame = X[names].astype(float)
        if len(X) < 3:
            attr = np.broadcast_to(importance, (len(X), len(names))).copy()
        else:
            corr = frame.corrwith(pd.Series(score, index=X.index), method="spearman")
            direction = np.sign(corr.fillna(0.0).to_numpy())
            percentile = frame.rank().sub(1.0).div(frame.notna().sum().sub(1.0).clip(lower=1.0))
            position = (2.0 * percentile - 1.0).fillna(0.0).to_numpy()
            attr = importance * direction * position
        base = np.full(len(X), float(np.mean(score)))
        return pd.DataFrame(attr, index=X.index, columns=names), base, score, "feature_importance"

    # -- public API ---------------------------------------------------------------------------
    def explain(
        self, model: Any, X: pd.DataFrame | pd.Series, symbol: str | None = None, output: str = "score"
    ) -> Explanation:
        """Explain one row: X is that row (a one-row frame or a Series), or a frame holding ``symbol``
        (index level ``symbol``/``ticker`` or the index itself; the last matching row, i.e. the
        latest date, when there are several)."""
        if isinstance(X, pd.Series):
            X = X.to_frame(name=symbol if symbol is not None else X.name).T
        pos = _row_position(X, symbol)
        fallback = self._needs_shap(model) and _import_shap() is None  # needs X's other rows for directions
        attr, base, score, method = self.contributions(model, X if fallback else X.iloc[[pos]], output)
        i = pos if fallback else 0
        contrib = attr.iloc[i]
        order = contrib.abs().sort_values(ascending=False, kind="stable").index
        contrib = contrib[order]
        positive = contrib[contrib > 0].sort_values(ascending=False, kind="stable")
        negative = contrib[contrib < 0].sort_values(kind="stable")
        label = symbol if symbol is not None else _symbol_of(X.index[pos])
        values = X.iloc[pos].reindex(attr.columns)
        return Explanation(
            symbol=str(label),
            score=float(score[i]),
            base_value=float(base[i]),
            feature_contributions={k: float(v) for k, v in contrib.items()},
            top_positive_factors=[(k, float(v)) for k, v in positive.iloc[: self.top_n].items()],
            top_negative_factors=[(k, float(v)) for k, v in negative.iloc[: self.top_n].items()],
            method=method,
            feature_values={k: float(v) for k, v in values.items()},
            output=output,
        )

    def explain_batch(
        self, model: Any, X: pd.DataFrame, top_k: int | None = None, output: str = "score"
    ) -> pd.DataFrame:
        """Long form, one row per (row of X, feature): X's index levels (or ``index``), feature,
        value, contribution, rank (1 = largest |contribution| in its row), score, base_value.
        ``top_k`` keeps each row's ``top_k`` largest contributions. ``attrs["method"]`` names the method."""
        attr, base, score, method = self.contributions(model, X, output)
        values = X[list(attr.columns)].to_numpy(dtype=float)
        c = attr.to_numpy()
        n, f = c.shape
        order = np.argsort(-np.abs(c), axis=1, kind="stable")
        k = f if top_k is None else max(0, min(int(top_k), f))
        cols = order[:, :k]
        rows = np.repeat(np.arange(n), k)
        flat = cols.ravel()
        index_frame = X.index.to_frame(index=False)
        if X.index.nlevels == 1 and X.index.name is None:
            index_frame.columns = ["index"]
        out = index_frame.iloc[rows].reset_index(drop=True)
        out["feature"] = np.asarray(attr.columns, dtype=object)[flat]
        out["value"] = values[rows, flat]
        out["contribution"] = c[rows, flat]
        out["rank"] = np.tile(np.arange(1, k + 1), n)
        out["score"] = np.asarray(score, dtype=float)[rows]
        out["base_value"] = np.asarray(base, dtype=float)[rows]
        out.attrs["method"] = method
        return out


def _symbol_of(label: Any) -> str:
    return str(label[-1]) if isinstance(label, tuple) else str(label)


def _row_position(X: pd.DataFrame, symbol: str | None) -> int:
    if len(X) == 0:
        raise ValueError("X has no rows")
    if symbol is None:
        if len(X) != 1:
            raise ValueError(f"X has {len(X)} rows: pass symbol= to pick one, or use explain_batch")
        return 0
    if len(X) == 1:
        return 0
    index = X.index
    if isinstance(index, pd.MultiIndex):
        level = next((n for n in _SYMBOL_LEVELS if n in index.names), index.nlevels - 1)
        labels = index.get_level_values(level)
    else:
        labels = index
    hits = np.flatnonzero(np.asarray(labels.astype(str)) == str(symbol))
    if hits.size == 0:
        raise KeyError(f"symbol {symbol!r} is not in X")
    return int(hits[-1])
