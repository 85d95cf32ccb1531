"""Hyperparameter search (Optuna TPE + median pruning) with overfitting statistics over the trials.

Objective: the mean per-date Spearman IC of the model's score on a validation set that lies after
the training window (by at least the label horizon: the caller's job, as it is where look-ahead
would enter). Picking the best of many trials on one validation set inflates its IC, so the result
also reports:

- PBO, the probability of backtest overfitting (Bailey, Borwein, Lopez de Prado and Zhu, 2017),
  by combinatorially symmetric cross-validation (CSCV) over the T x N matrix of per-date validation
  ICs of the N completed trials. The T dates are cut into S contiguous blocks (S even); for each of
  the C(S, S/2) ways to pick half the blocks as "in sample" (IS) and the rest as "out of sample"
  (OOS), take the trial n* with the best IS performance (Sharpe of its ICs: mean / std), its OOS
  relative rank w = rank / (N + 1) among the N trials (rank 1 = worst, ties averaged) and the
  logit l = ln(w / (1 - w)). PBO = share of combinations with l < 0 (the IS winner is below the
  OOS median), counting l = 0 as one half. About 0.5 when all trials are equally good (the choice
  is noise), near 0 when one trial is truly better.
- DSR, the deflated Sharpe ratio (Bailey and Lopez de Prado, 2014) of the best trial's per-date
  IC series: with SR its Sharpe (mean / std, per date), T dates, skewness g3 and (non-excess)
  kurtosis g4, N trials (pruned ones included: they were tried) and V the variance of the
  trials' Sharpe ratios, the expected maximum Sharpe under no skill is
  SR0 = sqrt(V) ((1 - e) Phi^-1(1 - 1/N) + e Phi^-1(1 - 1/(N exp(1)))), e = 0.5772 (Euler-Mascheroni),
  and DSR = Phi((SR - SR0) sqrt(T - 1) / sqrt(1 - g3 SR + (g4 - 1) / 4 SR^2)): the probability
  that the true Sharpe exceeds what the best of N unskilled trials would show.

Caveat: with overlapping labels (21-day returns every day) per-date ICs are autocorrelated, so T
overstates the independent observations and DSR is optimistic; PBO's contiguous blocks are less
affected.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import replace
from itertools import combinations
from typing import Any

import numpy as np
import pandas as pd
from scipy import stats

from axion_pipeline.ml import metrics as M

EULER_GAMMA = 0.5772156649015329

# name -> ("int" | "float", low, high, log) or ("categorical", [choices]); fits RankingModelConfig.
DEFAULT_PARAM_SPACE: dict[str, tuple] = {
    "learning_rate": ("float", 0.01, 0.2, True),
    "num_leaves": ("int", 8, 128, True),
    "max_depth": ("int", 3, 10, False),
    "min_child_samples": ("int", 20, 500, True),
    "subsample": ("float", 0.5, 1.0, False),
    "colsample_bytree": ("float", 0.4, 1.0, False),
    "reg_lambda": ("float", 1e-3, 10.0, True),
}


def _sharpe(sums: np.ndarray, squares: np.ndarray, counts: float) -> np.ndarray:
    mean = sums / counts
    var = (squares - counts * mean**2) / max(counts - 1, 1)
    std = np.sqrt(np.clip(var, 0.0, None))
    # Zero dispersion: +/-inf for a non-zero mean (a sure gain/loss), 0 for a constant zero.
    degenerate = np.where(mean > 0, np.inf, np.where(mean < 0, -np.inf, 0.0))
    return np.where(std > 0, mean / np.where(std > 0, std, 1.0), degenerate)


def probability_of_backtest_overfitting(performance: Any, n_partitions: int = 8) -> dict[str, Any]:
    """PBO by CSCV over a (dates x trials) matrix of per-date performance (see module docstring).

    Rows with any NaN are dropped. Returns ``pbo``, ``logits`` (one per combination),
    ``prob_oos_loss`` (share of combinations where the IS winner's OOS mean is below 0),
    ``n_combinations``, ``n_partitions``, ``n_obs``, ``n_trials``.
    """
    matrix = np.asarray(performance, dtype=float)
    if matrix.ndim != 2 or matrix.shape[1] < 2:
        raise ValueError(f"need a 2-d (dates x trials) matrix with at least 2 trials, got shape {matrix.shape}")
    matrix = matrix[~np.isnan(matrix).any(axis=1)]
    t, n = matrix.shape
    if n_partitions < 2 or n_partitions % 2:
        raise ValueError(f"n_partitions must be even and >= 2, got {n_partitions}")
    if t < 2 * n_partitions:
        raise ValueError(f"need at least 2 x n_partitions = {2 * n_partitions} complete rows, got {t}")
    blocks = np.array_split(np.arange(t), n_partitions)
    sums = np.array([matrix[b].sum(axis=0) for b in blocks])
    squares = np.array([(matrix[b] ** 2).sum(axis=0) for b in blocks])
    counts = np.array([len(b) for b in blocks], dtype=float)
    everything = np.arange(n_partitions)
    logits, losses = [], []
    for chosen in combinations(range(n_partitions), n_partitions // 2):
        is_b = np.array(chosen)
        oos_b = np.setdiff1d(everything, is_b)
        perf_is = _sharpe(sums[is_b].sum(0), squares[is_b].sum(0), counts[is_b].sum())
        perf_oos = _sharpe(sums[oos_b].sum(0), squares[oos_b].sum(0), counts[oos_b].sum())
        best = int(np.argmax(perf_is))
        rank = stats.rankdata(perf_oos, method="average")[best]
        w = rank / (n + 1.0)
        logits.append(math.log(w / (1.0 - w)))
        losses.append(sums[oos_b, best].sum() < 0)
    logits_arr = np.array(logits)
    pbo = float(np.mean(logits_arr < 0) + 0.5 * np.mean(logits_arr == 0))
    return {
        "pbo": pbo,
        "logits": logits_arr.tolist(),
        "prob_oos_loss": float(np.mean(losses)),
        "n_combinations": len(logits),
        "n_partitions": n_partitions,
        "n_obs": t,
        "n_trials": n,
    }


def deflated_sharpe_ratio(series: Any, trial_sharpes: Any, n_trials: int | None = None) -> dict[str, float]:
    """DSR of ``series`` (the chosen trial's per-period returns or ICs) given all trials' Sharpe ratios."""
    x = np.asarray(pd.Series(series, dtype=float).dropna())
    t = len(x)
    sharpes = np.asarray(trial_sharpes, dtype=float)
    sharpes = sharpes[np.isfinite(sharpes)]
    n = int(n_trials) if n_trials is not None else len(sharpes)
    out = {
        "deflated_sharpe": float("nan"),
        "sharpe": float("nan"),
        "sharpe_threshold": float("nan"),
        "n_obs": float(t),
        "n_trials": float(n),
    }
    if t < 3 or x.std(ddof=1) == 0:
        return out
    sr = float(x.mean() / x.std(ddof=1))
    skew = float(stats.skew(x))
    kurt = float(stats.kurtosis(x, fisher=False))
    if n > 1 and len(sharpes) > 1:
        z1 = stats.norm.ppf(1.0 - 1.0 / n)
        z2 = stats.norm.ppf(1.0 - 1.0 / (n * math.e))
        sr0 = float(np.sqrt(sharpes.var(ddof=1)) * ((1 - EULER_GAMMA) * z1 + EULER_GAMMA * z2))
    else:
        sr0 = 0.0
    denom = 1.0 - skew * sr + (kurt - 1.0) / 4.0 * sr**2
    out.update(sharpe=sr, sharpe_threshold=sr0)
    if denom > 0:
        out["deflated_sharpe"] = float(stats.norm.cdf((sr - sr0) * math.sqrt(t - 1) / math.sqrt(denom)))
    return out


def _suggest(trial: Any, space: dict[str, tuple] | Callable[[Any], dict]) -> dict[str, Any]:
    if callable(space):
        return dict(space(trial))
    params = {}
    for name, spec in space.items():
        kind = spec[0]
        if kind == "int":
            params[name] = trial.suggest_int(name, spec[1], spec[2], log=bool(spec[3]) if len(spec) > 3 else False)
        elif kind == "float":
            params[name] = trial.suggest_float(name, spec[1], spec[2], log=bool(spec[3]) if len(spec) > 3 else False)
        elif kind == "categorical":
            params[name] = trial.suggest_categorical(name, list(spec[1]))
        else:
            raise ValueError(f"param_space[{name!r}]: unknown kind {kind!r}")
    return params


class HyperparameterOptimizer:
    """Optuna TPE search of a model's config on a validation set, persisted when ``storage`` is set."""

    def __init__(
        self,
        storage: str | None = None,
        study_name: str = "ranking",
        direction: str = "maximize",
        seed: int = 42,
        n_partitions: int = 8,
        pruner_startup_trials: int = 5,
    ):
        self.storage = storage
        self.study_name = study_name
        self.direction = direction
        self.seed = seed
        self.n_partitions = n_partitions
        self.pruner_startup_trials = pruner_startup_trials
        self.study = None
        self.summary_: dict[str, Any] | None = None

    def optimize(
        self,
        model_class: type,
        X: pd.DataFrame,
        y: Any,
        X_val: pd.DataFrame,
        y_val: Any,
        n_trials: int = 50,
        param_space: dict[str, tuple] | Callable[[Any], dict] | None = None,
        timeout: float | None = None,
        base_config: Any = None,
        forward_returns_val: Any = None,
    ) -> dict[str, Any]:
        """Run ``n_trials`` more trials (resuming a stored study of the same name); returns the best
        trial's parameters, so ``RankingModelConfig(**best_params)`` works as the spec writes it.

        The summary (best_params, best_value, best_config, trial counts, PBO, deflated Sharpe) is
        ``self.summary_`` and the Optuna study ``self.study``.

        Each trial trains ``model_class(config=replace(base_config, **params))`` on (X, y), its
        rounds chosen on (X_val, y_val) (never refitted on them), and scores the mean per-date IC of
        its validation score against ``forward_returns_val`` (else ``y_val``). Models whose ``train``
        accepts ``progress_callback`` report the IC as they go, so weak trials are pruned
        against the median of earlier trials at the same step.
        """
        import optuna

        if base_config is None:
            base_config = model_class.config_class()
        if getattr(base_config, "refit_on_validation", False):
            # a trial is scored on (X_val, y_val): it must not also have been fitted on them
            base_config = replace(base_config, refit_on_validation=False)
        space = DEFAULT_PARAM_SPACE if param_space is None else param_space
        val_dates = M.date_labels(X_val.index)
        if val_dates is None:
            raise ValueError("X_val needs a 'date' index level: the objective is the per-date IC")
        outcome = M.align_to_index(
            y_val if forward_returns_val is None else forward_returns_val, X_val.index, "outcome"
        )
        date_keys = pd.DatetimeIndex(pd.unique(pd.DatetimeIndex(val_dates))).sort_values()
        date_strings = [str(d.date()) for d in date_keys]

        study = optuna.create_study(
            storage=self.storage,
            study_name=self.study_name,
            direction=self.direction,
            load_if_exists=True,
            pruner=optuna.pruners.MedianPruner(n_startup_trials=self.pruner_startup_trials, n_warmup_steps=0),
        )
        stored_dates = study.user_attrs.get("val_dates")
        if stored_dates is not None and stored_dates != date_strings:
            raise ValueError(f"study {self.study_name!r} was run on other validation dates; use a new study_name")
        study.set_user_attr("val_dates", date_strings)
        # A resumed study gets a new sampler seed, or its random start-up trials would repeat.
        study.sampler = optuna.samplers.TPESampler(seed=self.seed + len(study.trials))
        accepts_callback = "progress_callback" in inspect.signature(model_class.train).parameters

        def objective(trial: Any) -> float:
            params = _suggest(trial, space)
            model = model_class(config=replace(base_config, **params))

            def report(step: int, ic: float) -> None:
                if np.isfinite(ic):
                    trial.report(ic, step)
                    if trial.should_prune():
                        raise optuna.TrialPruned()

            kwargs: dict[str, Any] = {"progress_callback": report} if accepts_callback else {}
            if forward_returns_val is not None:
                kwargs["forward_returns"] = forward_returns_val
            model.train(X, y, X_val=X_val, y_val=y_val, **kwargs)
            pred = model.predict(X_val)
            score = pred["score"] if isinstance(pred, pd.DataFrame) else pred
            # A date where the score is constant (the model cannot rank) counts as IC 0: no skill.
            ic = M.per_date_ic(score, outcome, val_dates).reindex(date_keys).fillna(0.0)
            trial.set_user_attr("val_ic", [float(v) for v in ic.to_numpy()])
            return float(ic.mean())

        study.optimize(objective, n_trials=n_trials, timeout=timeout)
        self.study = study
        self.summary_ = self._summary(study, base_config)
        return dict(self.summary_["best_params"])

    def _summary(self, study: Any, base_config: Any) -> dict[str, Any]:
        from optuna.trial import TrialState

        complete = [
            t for t in study.trials if t.state == TrialState.COMPLETE and t.user_attrs.get("val_ic") is not None
        ]
        if not complete:
            raise RuntimeError(f"study {study.study_name!r} has no completed trial")
        best = study.best_trial
        sign = 1.0 if self.direction == "maximize" else -1.0
        matrix = sign * np.array([[np.nan if v is None else v for v in t.user_attrs["val_ic"]] for t in complete]).T
        out: dict[str, Any] = {
            "best_params": dict(best.params),
            "best_value": float(best.value),
            "best_config": replace(base_config, **best.params).to_dict() if hasattr(base_config, "to_dict") else None,
            "n_trials": len(study.trials),
            "n_complete": len(complete),
            "n_pruned": sum(t.state == TrialState.PRUNED for t in study.trials),
            "study_name": study.study_name,
            "storage": self.storage,
        }
        try:
            pbo = probability_of_backtest_overfitting(matrix, self.n_partitions)
            out["pbo"], out["pbo_details"] = pbo["pbo"], {k: v for k, v in pbo.items() if k != "pbo"}
        except ValueError as exc:
            out["pbo"], out["pbo_details"] = float("nan"), {"reason": str(exc)}
        sharpes = [
            np.nanmean(c) / np.nanstd(c, ddof=1)
            for c in matrix.T
            if np.sum(~np.isnan(c)) > 2 and np.nanstd(c, ddof=1) > 0
        ]
        best_series = sign * np.array(
            [np.nan if v is None else v for v in best.user_attrs.get("val_ic", [])], dtype=float
        )
        dsr = deflated_sharpe_ratio(best_series, sharpes, n_trials=len(study.trials))
        out["deflated_sharpe"], out["deflated_sharpe_details"] = dsr["deflated_sharpe"], dsr
        return out


def search_ranking(
    features: pd.DataFrame,
    targets: pd.DataFrame,
    window: Any,
    config: Any,
    n_trials: int,
    storage: str | None,
    study_name: str,
    timeout: float | None = None,
    sectors: pd.Series | None = None,
) -> tuple[pd.DataFrame, dict[str, Any]]:
    """Optuna search (``HyperparameterOptimizer``) of the ranking model (``config``: an ``MLConfig``)
    on a ``TrainWindow``'s fitted rows and labels as ``train_ranking`` cuts them, scored by its
    validation slice's rank IC: the protocol of the walk-forward folds, whose test dates are never
    read. Returns one row per trial (number, state, value = mean validation IC, seconds,
    ``param_*``) and the optimiser's summary (best params, PBO, deflated Sharpe)."""
    from dataclasses import replace

    from axion_pipeline.ml.datasets import ranking_rows
    from axion_pipeline.ml.feature_inputs import split_blend_signal
    from axion_pipeline.ml.features import FeatureEngineer
    from axion_pipeline.ml.jsonable import jsonable
    from axion_pipeline.ml.ranking import StockRankingModel
    from axion_pipeline.ml.training import ranking_labels

    if not window.has_validation:
        raise ValueError("the search scores trials on the window's validation slice: set a validation size > 0")
    X_fit, out_fit = ranking_rows(features, targets, window.train_start, window.fit_end, config.sample_every_n_days)
    X_fit, _ = split_blend_signal(X_fit)
    X_val, out_val = ranking_rows(features, targets, window.val_start, window.train_end)
    engineer = FeatureEngineer(config.features).fit_selection(X_fit)
    optimizer = HyperparameterOptimizer(storage=storage, study_name=study_name)
    # a trial is one tree size (its own), its rounds chosen on the validation slice, no refit
    base = replace(config.ranking, candidate_num_leaves=[], candidate_min_child_samples=[], refit_on_validation=False)
    optimizer.optimize(
        StockRankingModel,
        engineer.transform_selection(X_fit),
        ranking_labels(X_fit, out_fit, config, sectors),
        engineer.transform_selection(X_val),
        ranking_labels(X_val, out_val, config, sectors),
        n_trials=n_trials,
        timeout=timeout,
        base_config=base,
        forward_returns_val=out_val["fwd_return"],
    )
    summary = optimizer.summary_
    rows = [
        {
            "number": t.number,
            "state": t.state.name,
            "value": t.value,
            "duration_seconds": t.duration.total_seconds() if t.duration is not None else None,
            **{f"param_{k}": v for k, v in t.params.items()},
        }
        for t in optimizer.study.trials
    ]
    return pd.DataFrame(rows), jsonable({k: v for k, v in summary.items() if not k.endswith("_details")})
