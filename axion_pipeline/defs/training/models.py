"""Fold-partitioned model assets: each trains one library model on its fold's training window, saves
it in the model store (native formats) and stores its out-of-sample predictions on the fold's test
window, one table per model with a ``fold`` column."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.defs.common import Skipped, add_metadata, every_partition, markdown_table, train_or_skip
from axion_pipeline.defs.config import (
    EarningsTrainingConfig,
    FactorTimingTrainingConfig,
    RankingTrainingConfig,
    RegimeTrainingConfig,
    ranking_config,
)
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore, Warehouse
from axion_pipeline.ml.config import FactorTimingConfig

GROUP = "training"
CLOSE_COLUMNS = ["date", "ticker", "close"]
RANKING_TARGET_COLUMNS = ["date", "ticker", "label", "fwd_return"]


def store_fold_run(context, model_store: ModelStore, name: str, window, outcome, empty: pd.DataFrame) -> pd.DataFrame:
    """Save a fold's model and return its test-window predictions; a ``Skipped`` outcome removes the
    fold's previous model (it no longer matches the data), records the reason as the status (asset
    metadata, ``SKIPPED.json`` in the model store, hence a row of ``training.model_store``) and
    stores an empty table of the predictions' columns."""
    if isinstance(outcome, Skipped):
        record = model_store.skip_fold(name, context.partition_key, outcome.reason, window.to_dict())
        context.log.warning(f"{name} {context.partition_key} not trained: {outcome.reason}")
        add_metadata(
            context,
            {
                "status": outcome.status,
                "skip_record": str(record),
                "train_window": f"{window.train_start.date()} .. {window.train_end.date()}",
                "test_window": f"{window.test_start.date()} .. {window.test_end.date()}",
            },
        )
        return empty
    path = model_store.save_fold(name, context.partition_key, outcome.model)
    add_metadata(context, {"status": "trained", **run_metadata(outcome, window, path)})
    return outcome.predictions


def run_metadata(run, window, path) -> dict:
    """Output metadata shared by the model assets: windows, OOS metrics, training facts, model path."""
    meta = {
        "train_window": f"{window.train_start.date()} .. {window.train_end.date()}",
        "fit_window": f"{window.train_start.date()} .. {window.fit_end.date()}",
        "test_window": f"{window.test_start.date()} .. {window.test_end.date()}",
        "model_path": str(path),
        "oos_metrics": markdown_table(pd.DataFrame({"metric": list(run.metrics), "value": list(run.metrics.values())})),
    }
    meta.update({f"oos_{k}": v for k, v in run.metrics.items() if isinstance(v, (int, float)) and v is not None})
    meta.update({k: v for k, v in run.info.items() if isinstance(v, (int, float, str))})
    return meta


def read_ranking_rows(
    warehouse: Warehouse, window, every_n_days: int
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """The feature and target rows a ranking window trains and scores on, and their dates
    (``ranking_dates``: every n-th fitted date, the validation and the test dates), read with
    parameterised SQL: at every 5th date about a quarter of the window's rows, and the same rows
    ``train_ranking`` would cut from the whole history, so the model is the same (tested)."""
    from axion_pipeline.ml.datasets import ranking_dates

    span = [window.train_start.to_pydatetime(), window.test_end.to_pydatetime()]
    stored = warehouse.read("features", "features", columns=["date"], dates=span)["date"]
    dates = ranking_dates(stored, window, every_n_days)
    where, params = "date = any(?)", [[d.to_pydatetime() for d in dates]]
    features = warehouse.read("features", "features", where, params, dates=span)
    targets = warehouse.read("features", "targets", where, params, columns=RANKING_TARGET_COLUMNS, dates=span)
    return features, targets, dates


def earlier_folds_mapping(keys: list[str]) -> dg.StaticPartitionMapping:
    """Fold ``k`` reads the partitions of folds ``0 .. k`` (their validation slices end before its
    test window); the library drops any later slice again (``usable_curves``)."""
    return dg.StaticPartitionMapping({key: keys[i:] for i, key in enumerate(keys)})


def require_curves(curves: pd.DataFrame, folds: list[str]) -> None:
    """Every fold up to this one must have its validation curves stored (a skipped fold stores its
    ``no_curves`` row): otherwise the pooled choice would depend on which runs had finished."""
    present = set(curves["fold"]) if len(curves) else set()
    missing = [f for f in folds if f not in present]
    if missing:
        raise dg.Failure(
            description=f"ranking_validation has no rows for {missing}: materialize ranking_validation_job for "
            "those folds first (the build runs it before training_job)"
        )


def build_fold_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    plan = project.plan

    def fold_asset(kinds: set[str], ins: dict, deps: list | None = None):
        return project.fold_asset(GROUP, kinds, ins, deps)

    @fold_asset(
        {"lightgbm", "duckdb"},
        {"sectors": dg.AssetIn()},
        deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in ("features", "targets")],
    )
    def ranking_validation(
        context: dg.AssetExecutionContext,
        config: RankingTrainingConfig,
        warehouse: Warehouse,
        sectors: pd.DataFrame,
    ) -> pd.DataFrame:
        """Validation rank IC of each candidate tree size of the ranking model after every 10 rounds, fitted on the
        fold's fitted rows and scored on its validation slice: what this and later folds choose size and rounds from."""
        from axion_pipeline.ml.training import no_curves, ranking_validation_curves

        window = plan.window(context.partition_key)
        ml_config = ranking_config(config, plan.horizon)
        features, targets, dates = read_ranking_rows(warehouse, window, ml_config.sample_every_n_days)
        sector = sectors.set_index("ticker")["sector"]
        curves = train_or_skip(
            ranking_validation_curves, features, targets, window, ml_config, fit_dates=dates, sectors=sector
        )
        if isinstance(curves, Skipped):
            context.log.warning(f"ranking_validation {context.partition_key}: {curves.reason}")
            add_metadata(context, {"status": curves.status})
            return no_curves(window)
        best = curves.loc[curves["validation_ic"].idxmax()] if curves["validation_ic"].notna().any() else None
        add_metadata(
            context,
            {
                "status": "scored",
                "validation_window": f"{window.val_start.date()} .. {window.train_end.date()}",
                "best_num_leaves": int(best["num_leaves"]) if best is not None else None,
                "best_rounds": int(best["rounds"]) if best is not None else None,
                "best_validation_ic": round(float(best["validation_ic"]), 4) if best is not None else None,
            },
        )
        return curves

    @fold_asset(
        {"lightgbm", "duckdb"},
        {
            "sectors": dg.AssetIn(),
            "ranking_validation": dg.AssetIn(
                partition_mapping=earlier_folds_mapping(project.folds.get_partition_keys())
            ),
        },
        deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in ("features", "targets")],
    )
    def ranking_model(
        context: dg.AssetExecutionContext,
        config: RankingTrainingConfig,
        model_store: ModelStore,
        warehouse: Warehouse,
        sectors: pd.DataFrame,
        ranking_validation: pd.DataFrame,
    ) -> pd.DataFrame:
        """Out-of-sample stock scores (score, rank, predicted quintile) of the fold's LightGBM ranking ensemble on its
        test window; tree size and rounds are those with the best mean validation IC over this and earlier folds."""
        from axion_pipeline.analytics.plots import plot_feature_importance, to_markdown_image
        from axion_pipeline.ml.training import empty_predictions, train_ranking

        window = plan.window(context.partition_key)
        require_curves(ranking_validation, plan.keys[: plan.keys.index(context.partition_key) + 1])
        ml_config = ranking_config(config, plan.horizon)
        features, targets, dates = read_ranking_rows(warehouse, window, ml_config.sample_every_n_days)
        run = train_or_skip(
            train_ranking,
            features,
            targets,
            window,
            ml_config,
            fit_dates=dates,
            sectors=sectors.set_index("ticker")["sector"],
            curves=ranking_validation,
        )
        if not isinstance(run, Skipped):
            png = plot_feature_importance(run.model.get_feature_importance())
            add_metadata(
                context, {"feature_importance": dg.MetadataValue.md(to_markdown_image(png, "feature importance"))}
            )
        return store_fold_run(context, model_store, "ranking_model", window, run, empty_predictions("ranking_model"))

    @fold_asset(
        {"scikitlearn", "duckdb"},
        {
            "regime_features": every_partition(),
            "true_regimes": dg.AssetIn(),
            "market_regime": every_partition(["date", "regime"]),
        },
    )
    def regime_model(
        context: dg.AssetExecutionContext,
        config: RegimeTrainingConfig,
        model_store: ModelStore,
        regime_features: pd.DataFrame,
        true_regimes: pd.DataFrame,
        market_regime: pd.DataFrame,
    ) -> pd.DataFrame:
        """Out-of-sample daily regime probabilities of the fold's GMM + random-forest classifier, with the planted and
        rule regimes."""
        from axion_pipeline.ml.config import RegimeModelConfig
        from axion_pipeline.ml.training import empty_predictions

        window = plan.window(context.partition_key)
        library = config.to_library(RegimeModelConfig)
        run = fit_regime(regime_features, true_regimes, market_regime, window, library)
        empty = empty_predictions("regime_model", regimes=library.regimes)
        return store_fold_run(context, model_store, "regime_model", window, run, empty)

    @fold_asset(
        {"xgboost", "duckdb"},
        {"earnings_events": dg.AssetIn(), "prices": every_partition(CLOSE_COLUMNS), "fundamentals": dg.AssetIn()},
    )
    def earnings_model(
        context: dg.AssetExecutionContext,
        config: EarningsTrainingConfig,
        model_store: ModelStore,
        earnings_events: pd.DataFrame,
        prices: pd.DataFrame,
        fundamentals: pd.DataFrame,
    ) -> pd.DataFrame:
        """Out-of-sample beat probability and surprise forecast of the fold's XGBoost earnings model per announcement in
        its test window."""
        from axion_pipeline.ml.config import EarningsModelConfig
        from axion_pipeline.ml.training import empty_predictions

        window = plan.window(context.partition_key)
        run = fit_earnings(earnings_events, prices, fundamentals, window, config.to_library(EarningsModelConfig))
        return store_fold_run(context, model_store, "earnings_model", window, run, empty_predictions("earnings_model"))

    @fold_asset(
        {"scikitlearn", "duckdb"},
        {
            "regime_features": every_partition(),
            "prices": every_partition(CLOSE_COLUMNS),
            "factor_scores": every_partition(["date", "ticker", *CATEGORIES]),
        },
    )
    def factor_timing_model(
        context: dg.AssetExecutionContext,
        config: FactorTimingTrainingConfig,
        model_store: ModelStore,
        regime_features: pd.DataFrame,
        prices: pd.DataFrame,
        factor_scores: pd.DataFrame,
    ) -> pd.DataFrame:
        """Out-of-sample factor return forecasts and bounded category weights of the fold's ridge timing model per test
        date."""
        from axion_pipeline.ml.training import empty_predictions

        window = plan.window(context.partition_key)
        run = fit_factor_timing(regime_features, prices, factor_scores, window, config.to_library(FactorTimingConfig))
        empty = empty_predictions("factor_timing_model")
        return store_fold_run(context, model_store, "factor_timing_model", window, run, empty)

    return [ranking_validation, ranking_model, regime_model, earnings_model, factor_timing_model]


FOLD_ASSET_KEYS = ["ranking_model", "regime_model", "earnings_model", "factor_timing_model"]


def fit_regime(regime_features, true_regimes, market_regime, window, config):
    """The regime classifier on a window (labels: the planted regimes, else the rule detector's), or ``Skipped``."""
    from axion_pipeline.ml.datasets import regime_labels
    from axion_pipeline.ml.training import train_regime

    found = train_or_skip(regime_labels, true_regimes, market_regime)
    if isinstance(found, Skipped):
        return found
    labels, source = found
    truth = labels if source == "true_regimes" else None
    rule = market_regime.assign(date=pd.to_datetime(market_regime["date"])).set_index("date")["regime"]
    return train_or_skip(train_regime, regime_features, labels, source, window, config, truth, rule)


def fit_earnings(earnings_events, prices, fundamentals, window, config):
    """The earnings model on a window's announcements, or ``Skipped`` (e.g. no earnings file)."""
    from axion_pipeline.ml.datasets import earnings_dataset
    from axion_pipeline.ml.training import train_earnings

    found = train_or_skip(earnings_dataset, earnings_events, prices, fundamentals, config.max_price_staleness_days)
    return found if isinstance(found, Skipped) else train_or_skip(train_earnings, *found, window, config)


def fit_factor_timing(regime_features, prices, factor_scores, window, config):
    """The factor-timing model on a window, or ``Skipped`` (e.g. a factor without a complete history)."""
    from axion_pipeline.ml.datasets import factor_returns
    from axion_pipeline.ml.training import train_factor_timing

    returns = train_or_skip(factor_returns, factor_scores, prices, list(config.factors), config.n_quantiles)
    if isinstance(returns, Skipped):
        return returns
    return train_or_skip(train_factor_timing, regime_features, returns, window, config)
