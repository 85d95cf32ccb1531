"""Cross-sectional stock ranking: an ensemble of multiclass gradient-boosting models on quintile labels.

``StockRankingModel`` fits ``n_ensemble`` LightGBM classifiers (seeds ``random_state + i``) on
quintile labels 1..K and averages their class probabilities. ``score`` is the expected quintile
rescaled to [0, 1]: (sum_k k p_k - 1) / (K - 1). Without LightGBM it falls back to scikit-learn's
``GradientBoostingClassifier`` (NaN filled with the training medians, which that estimator needs),
or ``HistGradientBoostingClassifier`` with ``config.fallback_estimator="hist_gradient_boosting"``.

Persistence is native only: LightGBM model text per member, or the scikit-learn estimator as JSON
through ``axion_pipeline.ml.serialization``; nothing is pickled. In-memory members are rebuilt from
the same text/JSON that is saved, so a loaded model predicts bit for bit like the trained one. The
macro rows the model carries (``macro_data``) are saved beside them (``axion_pipeline.ml.carried_macro``).

Rounds (``RankingModelConfig.round_selection``): by default the ensemble is fitted with
``n_estimators`` rounds, the number of rounds whose score has the best per-date rank IC with the
forward returns of ``(X_val, y_val)`` is kept, and the members are refitted on the fitted and
validation rows together with that many rounds, so no recent labelled date is left out.

Look-ahead: the model sees only the rows it is given. ``(X_val, y_val)`` must lie after the
training rows by at least the label horizon (the walk-forward windows guarantee that); metrics
reported on the validation set come from the fit before the refit and are slightly optimistic,
because that set also chose the number of rounds.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.ml import metrics as M
from axion_pipeline.ml.base import BaseModel, InsufficientDataError, ModelLoadError, artifact_parsing
from axion_pipeline.ml.config import RankingModelConfig
from axion_pipeline.ml.lgb_text import validate_lightgbm_model_text

STATE_FILE = "ranking_state.json"
BACKEND_LIGHTGBM = "lightgbm"
BACKEND_SKLEARN = "sklearn"
# Below this many training rows LightGBM runs single-threaded: on small inputs OpenMP
# synchronisation costs more than the threads save (2 threads on 800 rows run 20-40x slower than
# one on a loaded 2-core machine).
MULTITHREAD_MIN_ROWS = 50_000


def _load_lightgbm():
    """Return the ``lightgbm`` module, or None when it cannot be imported (tests force this)."""
    try:
        import lightgbm
    except ImportError:
        return None
    return lightgbm


class StockRankingModel(BaseModel):
    """Ensemble of multiclass gradient-boosting classifiers ranking stocks by expected quintile."""

    model_type = "stock_ranking"
    config_class = RankingModelConfig

    def __init__(self, config: RankingModelConfig | None = None):
        super().__init__(config)
        self._members: list[Any] = []
        self._member_payloads: list[str] = []
        self._backend: str | None = None
        self._classes: list[int] = []
        self._feature_names: list[str] = []
        self._fill_values: list[float] | None = None
        # The last macro rows of the columns the model learnt from (set by ``TrainingPipeline``,
        # saved and loaded with the model): ``MLPredictor`` builds the macro features from them
        # when not given ``macro_data``.
        self.macro_data: pd.DataFrame | None = None

    # -- inputs -------------------------------------------------------------------------------
    @property
    def num_classes(self) -> int:
        return int(self.config.num_quintiles)

    @property
    def backend(self) -> str | None:
        return self._backend

    @property
    def feature_names(self) -> list[str]:
        return list(self._feature_names)

    def feature_matrix(self, X: pd.DataFrame) -> np.ndarray:
        """The float matrix the members see: columns in training order, NaN filled for the fallback.
        A frame that already holds exactly those columns as one float64 block is read in place
        (no copy; the matrix is only read)."""
        if not isinstance(X, pd.DataFrame):
            raise TypeError("X must be a DataFrame with the training feature columns")
        missing = [c for c in self._feature_names if c not in X.columns]
        if missing:
            raise ValueError(f"X lacks {len(missing)} training features, e.g. {missing[:5]}")
        ordered = X if list(X.columns) == self._feature_names else X[self._feature_names]
        matrix = ordered.to_numpy(dtype=np.float64)
        if np.isinf(matrix).any():
            bad = [c for c, col in zip(self._feature_names, matrix.T) if np.isinf(col).any()]
            raise ValueError(f"X holds infinite values in {bad[:5]}")
        if self._fill_values is not None:
            nan = np.isnan(matrix)
            if nan.any():
                matrix = np.where(nan, np.asarray(self._fill_values)[None, :], matrix)
        return matrix

    def _labels(self, y: Any, index: pd.Index, name: str) -> np.ndarray:
        labels = M.align_to_index(y, index, name)
        present = labels[~np.isnan(labels)]
        valid = np.isin(present, np.arange(1, self.num_classes + 1))
        if not valid.all():
            bad = np.unique(present[~valid])[:5]
            raise ValueError(f"{name} must hold integer labels 1..{self.num_classes} (or NaN); got {bad}")
        return labels

    # -- training -----------------------------------------------------------------------------
    def train(
        self,
        X: pd.DataFrame,
        y: Any,
        X_val: pd.DataFrame | None = None,
        y_val: Any = None,
        forward_returns: Any = None,
        progress_callback: Callable[[int, float], None] | None = None,
    ) -> dict[str, Any]:
        """Fit the ensemble and return metrics on the validation set (or the training set).

        Metrics: accuracy; top_quintile_accuracy / bottom_quintile_accuracy = precision of class K
        / class 1 (of the rows predicted there, the share truly there; 0 when none is predicted
        there, with n_predicted_top / n_predicted_bottom the counts); information_coefficient =
        mean per-date Spearman IC of the score, ic_pvalue = its t-test; evaluated_on, ic_target.

        Rows with NaN labels are dropped (counted in ``metadata.extra["n_missing_labels"]``).
        ``forward_returns`` (optional) are the outcomes for the IC on the evaluation rows: those of
        ``X_val`` when given, else of ``X`` (matched by index, or by position when the lengths
        match); without them the IC is computed against the labels.
        ``progress_callback(member_index, validation_ic_so_far)`` is called after each member when
        a validation set is given (the hyperparameter optimiser prunes through it).
        """
        if not isinstance(X, pd.DataFrame) or X.empty:
            raise ValueError("X must be a non-empty DataFrame")
        self.metadata = None  # a failed (re)training leaves an unfitted model, not a stale one
        if (X_val is None) != (y_val is None):
            raise ValueError("pass both X_val and y_val, or neither")
        labels = self._labels(y, X.index, "y")
        keep = ~np.isnan(labels)
        n_missing = int((~keep).sum())
        X_fit = X.loc[keep] if n_missing else X
        y_fit = labels[keep].astype(int)
        if len(np.unique(y_fit)) < 2:
            raise InsufficientDataError("y needs at least two distinct labels to train a classifier")
        self._feature_names = [str(c) for c in X.columns]
        if len(set(self._feature_names)) != len(self._feature_names):
            raise ValueError("X has duplicate column names")
        X_v = y_v = None
        if X_val is not None:
            val_labels = self._labels(y_val, X_val.index, "y_val")
            vkeep = ~np.isnan(val_labels)
            if not vkeep.any():
                raise InsufficientDataError("y_val has no label")
            X_v, y_v = X_val.loc[vkeep], val_labels[vkeep].astype(int)
        # IC outcome on the evaluation rows (validation when given): forward returns, else labels.
        eval_source, eval_keep = (X_val, vkeep) if X_val is not None else (X, keep)
        if forward_returns is not None:
            outcome = M.align_to_index(forward_returns, eval_source.index, "forward_returns")[eval_keep]
            ic_target = "forward_returns"
        else:
            outcome = (y_v if X_val is not None else y_fit).astype(float)
            ic_target = "labels"

        lgb = _load_lightgbm()
        self._members, self._member_payloads = [], []
        self._classes = sorted(int(c) for c in np.unique(y_fit))
        self._backend = BACKEND_LIGHTGBM if lgb is not None else BACKEND_SKLEARN
        self._fill_values = None
        if lgb is None and self.config.fallback_estimator == "gradient_boosting":
            medians = X_fit[self._feature_names].median(skipna=True)
            self._fill_values = [float(v) if np.isfinite(v) else 0.0 for v in medians]
        train_matrix = self.feature_matrix(X_fit)
        val_matrix = self.feature_matrix(X_v) if X_v is not None else None
        mode = self.config.round_selection
        by_ic = mode == "validation_ic" and val_matrix is not None
        stop_on = (val_matrix, y_v) if mode == "early_stopping" else (None, None)

        best_iterations: list[int] = []
        val_prob_sum = None
        ic_curve: dict[int, float] = {}
        # LightGBM: the first member stops on the validation rank IC and fixes the rounds of the others
        ic_watch = (outcome, M.date_labels(X_v.index)) if by_ic and lgb is not None else None
        rounds = None
        for i in range(self.config.n_ensemble):
            seed = self.config.random_state + i
            if lgb is not None and ic_watch is not None and i == 0:
                member, payload, best, ic_curve = self._fit_lightgbm_by_ic(
                    lgb, train_matrix, y_fit, val_matrix, y_v, seed, *ic_watch
                )
                rounds = best
            elif lgb is not None:
                member, payload, best, _ = self._fit_lightgbm(lgb, train_matrix, y_fit, *stop_on, seed, rounds=rounds)
            else:
                member, payload, best = self._fit_sklearn(train_matrix, y_fit, *stop_on, seed)
            self._members.append(member)
            self._member_payloads.append(payload)
            best_iterations.append(best)
            if progress_callback is not None and val_matrix is not None:
                probs = self._member_proba(member, val_matrix)
                val_prob_sum = probs if val_prob_sum is None else val_prob_sum + probs
                score = self._score(val_prob_sum / (i + 1))
                ic = M.per_date_ic(score, outcome, M.date_labels(X_v.index))
                progress_callback(i, float(ic.mean()) if len(ic) else float("nan"))
        if by_ic and lgb is None:  # the scikit-learn fallback: staged predictions at checkpoints
            rounds, ic_curve = self._rounds_by_ic(val_matrix, outcome, M.date_labels(X_v.index))
            self._refit(None, train_matrix, y_fit, rounds)
        if by_ic:
            best_iterations = [rounds] * len(self._members)

        if X_v is not None:
            eval_X, eval_y, evaluated_on = X_v, y_v, "validation"
        else:
            eval_X, eval_y, evaluated_on = X_fit, y_fit, "train"
        metrics = self._evaluate(self._predict_matrix(self.feature_matrix(eval_X), eval_X.index), eval_y, outcome)
        metrics.update(
            evaluated_on=evaluated_on,
            ic_target=ic_target,
            n_train=int(len(y_fit)),
            best_iterations=best_iterations,
            backend=self._backend,
            round_selection=mode if by_ic or mode != "validation_ic" else "fixed",
        )
        if ic_curve:
            metrics["validation_ic_by_rounds"] = {int(k): float(v) for k, v in ic_curve.items()}
        if by_ic and self.config.refit_on_validation:
            # the members learn from the validation rows too, with the rounds chosen on them: the
            # reported metrics stay those of the fit before (out of sample for the validation slice)
            X_fit = pd.concat([X_fit, X_v])
            y_fit = np.concatenate([y_fit, y_v])
            self._classes = sorted(int(c) for c in np.unique(y_fit))
            self._refit(lgb, self.feature_matrix(X_fit), y_fit, best_iterations[0])
            metrics["refit_on_validation"] = True
            metrics["n_train"] = int(len(y_fit))
        train_dates = M.date_labels(X_fit.index)
        self._finish_training(
            metrics,
            self._feature_names,
            train_start=str(pd.Timestamp(train_dates.min()).date()) if train_dates is not None else None,
            train_end=str(pd.Timestamp(train_dates.max()).date()) if train_dates is not None else None,
            n_missing_labels=n_missing,
            backend=self._backend,
            classes=self._classes,
        )
        return metrics

    def evaluate(self, X: pd.DataFrame, y: Any, forward_returns: Any = None) -> dict[str, Any]:
        """The metrics of ``train`` on any labelled rows (e.g. a later out-of-sample period)."""
        self._require_fitted()
        labels = self._labels(y, X.index, "y")
        keep = ~np.isnan(labels)
        X_e = X.loc[keep]
        outcome = labels if forward_returns is None else M.align_to_index(forward_returns, X.index, "forward_returns")
        outcome = outcome[keep]
        return self._evaluate(self.predict(X_e), labels[keep].astype(int), outcome)

    def _evaluate(self, pred: pd.DataFrame, labels: np.ndarray, outcome: np.ndarray) -> dict[str, Any]:
        """accuracy, top/bottom_quintile_accuracy (precision of classes K and 1), and the IC of the
        score with ``outcome``: per-date mean with a t-test p-value, or one Spearman without dates."""
        metrics: dict[str, Any] = M.classification_metrics(labels, pred["predicted_quintile"], self.num_classes)
        dates = M.date_labels(pred.index)
        if dates is not None:
            summary = M.ic_summary(M.per_date_ic(pred["score"], outcome, dates))
            metrics.update(
                information_coefficient=summary["ic_mean"],
                ic_pvalue=summary["ic_pvalue"],
                ic_std=summary["ic_std"],
                icir=summary["icir"],
                ic_hit_rate=summary["hit_rate"],
                n_ic_dates=int(summary["n_dates"]),
            )
        else:
            ic = M.per_date_ic(pred["score"], outcome, None)
            metrics.update(
                information_coefficient=float(ic.iloc[0]) if len(ic) else float("nan"),
                ic_pvalue=M.single_cross_section_pvalue(pred["score"], outcome),
                n_ic_dates=1,
            )
        metrics["n_eval"] = int(len(labels))
        return metrics

    def _fit_lightgbm(self, lgb, X, y, X_val, y_val, seed, rounds: int | None = None, eval_metric=None):
        cfg = self.config
        clf = lgb.LGBMClassifier(
            objective="multiclass",
            n_estimators=rounds or cfg.n_estimators,
            max_depth=cfg.max_depth,
            learning_rate=cfg.learning_rate,
            num_leaves=cfg.num_leaves,
            min_child_samples=cfg.min_child_samples,
            subsample=cfg.subsample,
            subsample_freq=1 if cfg.subsample < 1 else 0,
            colsample_bytree=cfg.colsample_bytree,
            reg_lambda=cfg.reg_lambda,
            n_jobs=cfg.n_jobs if len(X) >= MULTITHREAD_MIN_ROWS else 1,
            random_state=seed,
            verbose=-1,
        )
        # Labels go in as class indices 0..C-1 (positions in self._classes). LightGBM 4.7's
        # LGBMClassifier label-encodes y but hands eval_y to the booster unencoded
        # (lightgbm-org/LightGBM#7400): quintile labels 1..5 would be scored as classes 1..5
        # against predictions for 0..4, and early stopping would watch a meaningless
        # multi_logloss. With both encoded here, LightGBM's own encoder is the identity.
        classes = np.asarray(self._classes)
        fit_kwargs: dict[str, Any] = {"feature_name": self._lightgbm_feature_names()}
        if X_val is not None and eval_metric is not None:  # every validation row: the metric needs whole dates
            clf.set_params(metric="None")
            fit_kwargs.update(
                eval_X=(X_val,),
                eval_y=(np.clip(np.searchsorted(classes, y_val), 0, len(classes) - 1),),
                eval_metric=eval_metric,
                callbacks=[lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)],
            )
        elif X_val is not None:
            known = np.isin(y_val, classes)  # a validation class the fitted rows lack cannot be scored
            if known.any():
                fit_kwargs["eval_X"] = (X_val[known],)
                fit_kwargs["eval_y"] = (np.searchsorted(classes, y_val[known]),)
                fit_kwargs["callbacks"] = [lgb.early_stopping(cfg.early_stopping_rounds, verbose=False)]
        clf.fit(X, np.searchsorted(classes, y), **fit_kwargs)
        history = (clf.evals_result_ or {}).get("valid_0", {})
        if [int(c) for c in clf.classes_] != list(range(len(classes))):
            raise RuntimeError(f"LightGBM classes {list(clf.classes_)} differ from the labels {self._classes}")
        best = int(clf.best_iteration_ or 0)
        text = clf.booster_.model_to_string(num_iteration=best if best > 0 else -1)
        rounds_fitted = best if best > 0 else int(clf.booster_.current_iteration())
        return lgb.Booster(model_str=text), text, rounds_fitted, history

    def _fit_lightgbm_by_ic(self, lgb, X, y, X_val, y_val, seed, outcome, dates):
        """One member fitted until the validation rank IC of its score (expected quintile) against
        ``outcome`` has not improved for ``early_stopping_rounds`` rounds; kept at the best round.
        Returns (booster, text, rounds, IC every ``ic_checkpoint_rounds`` rounds)."""
        from axion_pipeline.analytics.cross_section import group_columns, rank_ic_rows

        codes, uniques = pd.factorize(pd.Series(dates))
        columns, width = group_columns(codes, len(uniques))
        truth = np.full((len(uniques), width), np.nan)
        truth[codes, columns] = outcome
        weights = np.arange(len(self._classes), dtype=float)  # positions of the classes seen in training

        def rank_ic(_, y_pred):
            probs = np.asarray(y_pred, dtype=float).reshape(len(codes), -1)
            scores = np.full(truth.shape, np.nan)
            scores[codes, columns] = probs @ weights
            ic, _ = rank_ic_rows(scores, truth)
            return "rank_ic", float(np.nanmean(ic)) if np.isfinite(ic).any() else 0.0, True

        booster, text, best, history = self._fit_lightgbm(lgb, X, y, X_val, y_val, seed, eval_metric=rank_ic)
        history = history.get("rank_ic", [])
        step = max(int(self.config.ic_checkpoint_rounds), 1)
        curve = {k: float(history[k - 1]) for k in range(step, len(history) + 1, step)}
        if best and best <= len(history):
            curve[best] = float(history[best - 1])
        return booster, text, max(best, 1), dict(sorted(curve.items()))

    def _staged_probs(self, member: Any, matrix: np.ndarray, step: int):
        """(rounds, class probabilities over labels 1..K) after every ``step`` rounds of one member."""
        probs = np.zeros((len(matrix), self.num_classes))
        cols = np.asarray(self._classes) - 1
        if self._backend == BACKEND_LIGHTGBM:
            total, raw = member.current_iteration(), None
            for start in range(0, total, step):
                part = member.predict(
                    matrix, start_iteration=start, num_iteration=min(step, total - start), raw_score=True
                )
                part = np.asarray(part, dtype=float).reshape(len(matrix), -1)
                raw = part if raw is None else raw + part
                e = np.exp(raw - raw.max(axis=1, keepdims=True))
                probs[:, cols] = e / e.sum(axis=1, keepdims=True)
                yield min(start + step, total), probs.copy()
        else:
            for n, p in enumerate(member.staged_predict_proba(matrix), start=1):
                if n % step == 0 or n == self.config.n_estimators:
                    probs[:, cols] = p
                    yield n, probs.copy()

    def _rounds_by_ic(self, val_matrix: np.ndarray, outcome: np.ndarray, dates) -> tuple[int, dict[int, float]]:
        """The number of rounds whose ensemble score has the highest mean per-date rank IC with
        ``outcome`` on the validation rows (the smallest such number on ties), and the whole curve."""
        step = max(int(self.config.ic_checkpoint_rounds), 1)
        staged = [dict(self._staged_probs(m, val_matrix, step)) for m in self._members]
        curve = {}
        for rounds in sorted(set.intersection(*(set(s) for s in staged))):
            probs = sum(s[rounds] for s in staged) / len(staged)
            ic = M.per_date_ic(self._score(probs), outcome, dates)
            curve[rounds] = float(ic.mean()) if len(ic) else float("nan")
        finite = {k: v for k, v in curve.items() if np.isfinite(v)}
        if finite:
            return max(finite, key=lambda k: (finite[k], -k)), curve
        # no defined IC (constant scores): keep the fewest rounds there are, at least one
        return (min(curve) if curve else 1), curve

    def _refit(self, lgb, X: np.ndarray, y: np.ndarray, rounds: int) -> None:
        """Fit every member again on (X, y) with exactly ``rounds`` rounds and the same seeds."""
        fitted = []
        for i in range(len(self._members)):
            seed = self.config.random_state + i
            if lgb is not None:
                fitted.append(self._fit_lightgbm(lgb, X, y, None, None, seed, rounds=rounds))
            else:
                fitted.append(self._fit_sklearn(X, y, None, None, seed, rounds=rounds))
        self._members = [f[0] for f in fitted]
        self._member_payloads = [f[1] for f in fitted]

    def _lightgbm_feature_names(self) -> list[str]:
        """LightGBM rejects JSON special characters in feature names; positions keep the mapping."""
        bad = set('[]{}":,')
        if any(ch in bad or ch.isspace() for name in self._feature_names for ch in name):
            return [f"f{i}" for i in range(len(self._feature_names))]
        return self._feature_names

    def _fit_sklearn(self, X, y, X_val, y_val, seed, rounds: int | None = None):
        from sklearn.metrics import log_loss
        from threadpoolctl import threadpool_limits

        from axion_pipeline.ml import serialization

        cfg = self.config
        if cfg.fallback_estimator == "gradient_boosting":
            from sklearn.ensemble import GradientBoostingClassifier as cls

            params = dict(
                n_estimators=rounds or cfg.n_estimators,
                max_depth=cfg.max_depth if cfg.max_depth > 0 else None,
                max_leaf_nodes=cfg.num_leaves,
                learning_rate=cfg.learning_rate,
                subsample=cfg.subsample,
                max_features=cfg.colsample_bytree,
                min_samples_leaf=cfg.min_child_samples,
                random_state=seed,
            )
            size_key = "n_estimators"
        elif cfg.fallback_estimator == "hist_gradient_boosting":
            from sklearn.ensemble import HistGradientBoostingClassifier as cls

            params = dict(
                max_iter=rounds or cfg.n_estimators,
                max_depth=cfg.max_depth if cfg.max_depth > 0 else None,
                learning_rate=cfg.learning_rate,
                max_leaf_nodes=cfg.num_leaves,
                min_samples_leaf=cfg.min_child_samples,
                l2_regularization=cfg.reg_lambda,
                max_features=cfg.colsample_bytree,
                early_stopping=False,
                random_state=seed,
            )
            size_key = "max_iter"
        else:
            raise ValueError(f"unknown fallback_estimator {cfg.fallback_estimator!r}")
        threads = cfg.n_jobs if len(X) >= MULTITHREAD_MIN_ROWS else 1
        with threadpool_limits(limits=threads, user_api="openmp"):
            clf = cls(**params).fit(X, y)
            best = params[size_key]
            if X_val is not None:
                # Early stopping on the validation log loss, as LightGBM does: refit with the best
                # number of stages (the stages come from one random stream, so the refit is the prefix).
                losses = [log_loss(y_val, p, labels=clf.classes_) for p in clf.staged_predict_proba(X_val)]
                best = int(np.argmin(losses)) + 1
                if best < params[size_key]:
                    clf = cls(**{**params, size_key: best}).fit(X, y)
        if [int(c) for c in clf.classes_] != self._classes:
            raise RuntimeError(f"classes {list(clf.classes_)} differ from the labels {self._classes}")
        payload = json.dumps(serialization.estimator_to_dict(clf))
        return serialization.estimator_from_dict(json.loads(payload)), payload, best

    # -- prediction ---------------------------------------------------------------------------
    def _member_proba(self, member: Any, matrix: np.ndarray) -> np.ndarray:
        """Class probabilities of one member as an (n, K) array over labels 1..K."""
        if self._backend == BACKEND_LIGHTGBM:
            raw = member.predict(matrix)
        else:
            raw = member.predict_proba(matrix)
        raw = np.asarray(raw, dtype=float).reshape(len(matrix), -1)
        probs = np.zeros((len(matrix), self.num_classes))
        probs[:, np.asarray(self._classes) - 1] = raw
        return probs

    def _score(self, probs: np.ndarray) -> np.ndarray:
        k = self.num_classes
        return (probs @ np.arange(1, k + 1) - 1.0) / (k - 1)

    def _predict_matrix(self, matrix: np.ndarray, index: pd.Index) -> pd.DataFrame:
        probs = sum(self._member_proba(m, matrix) for m in self._members) / len(self._members)
        out = pd.DataFrame(probs, index=index, columns=[f"prob_q{k}" for k in range(1, self.num_classes + 1)])
        out["predicted_quintile"] = probs.argmax(axis=1) + 1
        out["score"] = self._score(probs)
        return out

    def predict(self, X: pd.DataFrame) -> pd.DataFrame:
        """prob_q1..prob_qK, predicted_quintile (1..K) and score in [0, 1], indexed like X."""
        self._require_fitted()
        return self._predict_matrix(self.feature_matrix(X), X.index)

    def predict_rank(self, X: pd.DataFrame) -> pd.Series:
        """Percentile rank of the score within each date (whole frame without a date level): 0 worst, 1 best."""
        score = self.predict(X)["score"]
        return pd.Series(M.percentile_rank_by_date(score, M.date_labels(X.index)), index=X.index, name="rank_score")

    def get_feature_importance(self) -> pd.Series:
        """Share of total split gain per feature, averaged over the ensemble, sorted descending.

        LightGBM: ``importance_type="gain"``; fallback: scikit-learn's impurity-based importance
        (GradientBoosting) or the summed split gains of the trees (HistGradientBoosting).
        """
        self._require_fitted()
        rows = []
        for member in self._members:
            if self._backend == BACKEND_LIGHTGBM:
                gain = np.asarray(member.feature_importance(importance_type="gain"), dtype=float)
            elif hasattr(member, "feature_importances_"):
                gain = np.asarray(member.feature_importances_, dtype=float)
            else:  # HistGradientBoostingClassifier: sum the split gains of its trees
                gain = np.zeros(len(self._feature_names))
                for nodes in (p.nodes for it in member._predictors for p in it):
                    inner = nodes["is_leaf"] == 0
                    np.add.at(gain, nodes["feature_idx"][inner], nodes["gain"][inner])
            total = gain.sum()
            rows.append(gain / total if total > 0 else gain)
        return pd.Series(np.mean(rows, axis=0), index=self._feature_names, name="importance").sort_values(
            ascending=False
        )

    def raw_boosters(self) -> list[Any]:
        """The fitted members: ``lightgbm.Booster`` objects (``pred_contrib=True`` gives SHAP values)
        or scikit-learn estimators for the fallback; feed them ``feature_matrix(X)``."""
        self._require_fitted()
        return list(self._members)

    # -- persistence --------------------------------------------------------------------------
    def _has_fitted_state(self) -> bool:
        return bool(self._members)

    def _save_artifacts(self, directory: Path) -> list[str]:
        suffix = ".lgb.txt" if self._backend == BACKEND_LIGHTGBM else ".json"
        names = [f"member_{i}{suffix}" for i in range(len(self._member_payloads))]
        for name, payload in zip(names, self._member_payloads):
            (directory / name).write_text(payload)
        macro_file = None
        if self.macro_data is not None:
            from axion_pipeline.ml.carried_macro import MACRO_FILE, macro_frame, macro_to_json

            macro_file = MACRO_FILE
            numeric = self.macro_data.drop(columns="date", errors="ignore").select_dtypes("number")
            frame = macro_frame(self.macro_data, list(numeric.columns))
            (directory / macro_file).write_text(macro_to_json(frame))
        state = {
            "backend": self._backend,
            "classes": self._classes,
            "feature_names": self._feature_names,
            "fill_values": self._fill_values,
            "members": names,
            "macro_data": macro_file,
        }
        (directory / STATE_FILE).write_text(json.dumps(state, indent=2))
        return [STATE_FILE, *names, *([macro_file] if macro_file else [])]

    def _load_artifacts(self, directory: Path, files: list[str]) -> None:
        from axion_pipeline.ml import serialization

        state_file = directory / STATE_FILE
        with artifact_parsing(state_file):
            state = serialization.load_json(state_file)
            if not isinstance(state, dict):
                raise ValueError(f"holds a {type(state).__name__}, expected a JSON object")
            members = state["members"]
            if not isinstance(members, list) or not all(isinstance(m, str) for m in members):
                raise ValueError(f"members must be a list of file names, got {str(members)[:80]}")
        unverified = [m for m in members if m not in files]
        if unverified or not members:
            raise ModelLoadError(f"{directory}: members {unverified or members} are not in the verified manifest")
        with artifact_parsing(state_file):
            self._backend = state["backend"]
            self._classes = [int(c) for c in state["classes"]]
            self._feature_names = [str(c) for c in state["feature_names"]]
            fill = state["fill_values"]
            if fill is not None and (not isinstance(fill, list) or len(fill) != len(self._feature_names)):
                raise ValueError(f"fill_values must be null or {len(self._feature_names)} numbers")
            self._fill_values = None if fill is None else [float(v) for v in fill]
            macro_file = state.get("macro_data")  # absent in models saved before macro data was kept
            if macro_file is not None and not isinstance(macro_file, str):
                raise ValueError(f"macro_data must be null or a file name, got {str(macro_file)[:80]}")
        if macro_file is not None and macro_file not in files:
            raise ModelLoadError(f"{directory}: macro data {macro_file!r} is not in the verified manifest")
        self.macro_data = None
        if macro_file is not None:
            from axion_pipeline.ml.carried_macro import macro_from_json

            with artifact_parsing(directory / macro_file):
                self.macro_data = macro_from_json((directory / macro_file).read_text())
        payloads = []
        for m in members:
            with artifact_parsing(directory / m):
                payloads.append((directory / m).read_text())
        if self._backend == BACKEND_LIGHTGBM:
            lgb = _load_lightgbm()
            if lgb is None:
                raise ModelLoadError(f"{directory}: saved with LightGBM, which cannot be imported here")
            loaded = []
            for m, p in zip(members, payloads):
                # LightGBM trusts the text's tree_sizes and aborts the process on a truncated or
                # edited text: check the structure in Python first.
                validate_lightgbm_model_text(p, directory / m)
                try:
                    loaded.append(lgb.Booster(model_str=p))
                except lgb.basic.LightGBMError as exc:
                    raise ModelLoadError(f"{directory / m}: LightGBM model text could not be parsed: {exc}") from exc
            for m, b in zip(members, loaded):
                if b.num_feature() != len(self._feature_names):
                    raise ModelLoadError(
                        f"{directory / m}: booster has {b.num_feature()} features, "
                        f"state lists {len(self._feature_names)}"
                    )
        elif self._backend == BACKEND_SKLEARN:
            loaded = []
            for m, p in zip(members, payloads):
                with artifact_parsing(directory / m):
                    loaded.append(serialization.estimator_from_dict(json.loads(p)))
        else:
            raise ModelLoadError(f"{state_file}: unknown backend {self._backend!r}")
        self._members, self._member_payloads = loaded, payloads
