"""Fold-partitioned model assets: each trains one library model on its fold's training window, saves
it in the model store (native formats) and stores its out-of-sample predictions on the fold's test
window, one table per model with a ``fold`` column."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import markdown_table
from axion_pipeline.defs.resources import Warehouse
from axion_pipeline.defs.training.config import (
    CATEGORIES,
    EarningsTrainingConfig,
    FactorTimingTrainingConfig,
    RankingTrainingConfig,
    RegimeTrainingConfig,
)
from axion_pipeline.defs.training.folds import fold_partitions, fold_window
from axion_pipeline.defs.training.resources import ModelStore

GROUP = "training"
CLOSE_COLUMNS = ["date", "ticker", "close"]


def every_partition(columns: list[str] | None = None) -> dg.AssetIn:
    """The whole upstream table (optionally only ``columns``); rows are cut to the window in the library."""
    return dg.AssetIn(partition_mapping=dg.AllPartitionMapping(), metadata={"columns": columns} if columns else None)


def fold_asset(kinds: set[str], ins: dict[str, dg.AssetIn], deps: list | None = None):
    """``@dg.asset`` partitioned by walk-forward fold, stored by the ``fold`` column in schema training.

    Not in the ``duckdb_warehouse`` pool: folds train in parallel (one run per fold, or the
    multiprocess executor), and only their reads and writes queue for the warehouse
    (``writer_queue`` in the I/O manager)."""
    return dg.asset(
        partitions_def=fold_partitions, group_name=GROUP, kinds=kinds, ins=ins, deps=deps,
        metadata={"partition_expr": "fold", "schema": GROUP}, owners=["team:ml"],
    )


def call_library(fn, *args, **kwargs):
    """Run a library step; its ValueError (empty window, inf inputs, too few rows) fails the run with that message."""
    try:
        return fn(*args, **kwargs)
    except ValueError as exc:
        raise dg.Failure(description=f"{getattr(fn, '__name__', fn)}: {exc}") from exc


def run_metadata(run, window, path) -> dict:
    """Output metadata shared by the model assets: windows, OOS metrics, training facts, model path."""
    meta = {
        "train_window": f"{window.train_start.date()} .. {window.train_end.date()}",
        "fit_window": f"{window.train_start.date()} .. {window.fit_end.date()}",
        "test_window": f"{window.test_start.date()} .. {window.test_end.date()}",
        "model_path": str(path), "rows": len(run.predictions),
        "oos_metrics": markdown_table(pd.DataFrame({"metric": list(run.metrics), "value": list(run.metrics.values())})),
    }
    meta.update({f"oos_{k}": v for k, v in run.metrics.items() if isinstance(v, (int, float)) and v is not None})
    meta.update({k: v for k, v in run.info.items() if isinstance(v, (int, float, str))})
    return meta


RANKING_TARGET_COLUMNS = ["date", "ticker", "label", "fwd_return"]


def read_ranking_rows(warehouse: Warehouse, window, every_n_days: int) -> tuple[pd.DataFrame, pd.DataFrame, pd.DatetimeIndex]:
    """The feature and target rows a ranking window trains and scores on, and their dates
    (``ranking_dates``: every n-th fitted date, the validation and the test dates), read with
    parameterised SQL. At the default every 5th date that is about a quarter of the window's rows
    (a fold held the whole history before), so a fold needs a fraction of the memory and of the
    read time; the rows are those ``train_ranking`` would cut from the whole history, so the model
    is the same (tested)."""
    from axion_pipeline.ml.datasets import ranking_dates

    span = [window.train_start.to_pydatetime(), window.test_end.to_pydatetime()]
    stored = warehouse.read("features", "features", "date >= ? and date <= ?", span, columns=["date"])["date"]
    dates = ranking_dates(stored, window, every_n_days)
    where, params = "date >= ? and date <= ? and date = any(?)", [*span, [d.to_pydatetime() for d in dates]]
    features = warehouse.read("features", "features", where, params)
    targets = warehouse.read("features", "targets", where, params, columns=RANKING_TARGET_COLUMNS)
    return features, targets, dates


@fold_asset({"lightgbm", "duckdb"}, {},
            deps=[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in ("features", "targets")])
def ranking_model(context: dg.AssetExecutionContext, config: RankingTrainingConfig, model_store: ModelStore,
                  warehouse: Warehouse) -> pd.DataFrame:
    """Out-of-sample stock scores (score, rank, predicted quintile) of the fold's LightGBM ranking ensemble on its test window."""
    from axion_pipeline.plots import plot_feature_importance, to_markdown_image
    from axion_pipeline.training_glue import train_ranking

    window = fold_window(context.partition_key)
    features, targets, dates = read_ranking_rows(warehouse, window, config.sample_every_n_days)
    run = call_library(train_ranking, features, targets, window, config.library_config(), config.feature_config(),
                       config.sample_every_n_days, fit_dates=dates)
    path = model_store.save_fold("ranking_model", context.partition_key, run.model)
    png = plot_feature_importance(run.model.get_feature_importance())
    context.add_output_metadata({**run_metadata(run, window, path),
                                 "feature_importance": dg.MetadataValue.md(to_markdown_image(png, "feature importance"))})
    return run.predictions


@fold_asset({"scikitlearn", "duckdb"}, {"regime_features": every_partition(), "true_regimes": dg.AssetIn(),
                                        "market_regime": every_partition(["date", "regime"])})
def regime_model(context: dg.AssetExecutionContext, config: RegimeTrainingConfig, model_store: ModelStore,
                 regime_features: pd.DataFrame, true_regimes: pd.DataFrame, market_regime: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample daily regime probabilities of the fold's GMM + random-forest classifier, with the planted and rule regimes."""
    from axion_pipeline.ml.datasets import regime_labels
    from axion_pipeline.training_glue import train_regime

    window = fold_window(context.partition_key)
    labels, source = call_library(regime_labels, true_regimes, market_regime)
    truth = labels if source == "true_regimes" else None
    rule = market_regime.assign(date=pd.to_datetime(market_regime["date"])).set_index("date")["regime"]
    run = call_library(train_regime, regime_features, labels, source, window, config.library_config(), truth, rule)
    path = model_store.save_fold("regime_model", context.partition_key, run.model)
    context.add_output_metadata(run_metadata(run, window, path))
    return run.predictions


@fold_asset({"xgboost", "duckdb"}, {"earnings_events": dg.AssetIn(), "prices": every_partition(CLOSE_COLUMNS),
                                    "fundamentals": dg.AssetIn()})
def earnings_model(context: dg.AssetExecutionContext, config: EarningsTrainingConfig, model_store: ModelStore,
                   earnings_events: pd.DataFrame, prices: pd.DataFrame, fundamentals: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample beat probability and surprise forecast of the fold's XGBoost earnings model per announcement in its test window."""
    from axion_pipeline.ml.datasets import earnings_dataset
    from axion_pipeline.training_glue import train_earnings

    window = fold_window(context.partition_key)
    X, beat, surprise = call_library(earnings_dataset, earnings_events, prices, fundamentals,
                                     config.max_price_staleness_days)
    run = call_library(train_earnings, X, beat, surprise, window, config.library_config())
    path = model_store.save_fold("earnings_model", context.partition_key, run.model)
    context.add_output_metadata(run_metadata(run, window, path))
    return run.predictions


@fold_asset({"scikitlearn", "duckdb"}, {"regime_features": every_partition(), "prices": every_partition(CLOSE_COLUMNS),
                                        "factor_scores": every_partition(["date", "ticker", *CATEGORIES])})
def factor_timing_model(context: dg.AssetExecutionContext, config: FactorTimingTrainingConfig, model_store: ModelStore,
                        regime_features: pd.DataFrame, prices: pd.DataFrame, factor_scores: pd.DataFrame) -> pd.DataFrame:
    """Out-of-sample 21-day factor return forecasts and bounded category weights of the fold's ridge timing model per test date."""
    from axion_pipeline.ml.datasets import factor_returns
    from axion_pipeline.training_glue import train_factor_timing

    window = fold_window(context.partition_key)
    returns = call_library(factor_returns, factor_scores, prices, list(config.factors), config.n_quantiles)
    run = call_library(train_factor_timing, regime_features, returns, window, config.library_config())
    path = model_store.save_fold("factor_timing_model", context.partition_key, run.model)
    context.add_output_metadata(run_metadata(run, window, path))
    return run.predictions


FOLD_ASSETS = [ranking_model, regime_model, earnings_model, factor_timing_model]
