"""Asset checks of the feature group: the leakage audit, target windows, finite values."""

from functools import partial

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.defs.common import WAREHOUSE_POOL, window
from axion_pipeline.defs.resources import Warehouse
from axion_pipeline.defs.features.assets import FEATURE_LOOKBACK, TARGET_LOOKBACK, FeatureSettings, build_features, features, targets
from axion_pipeline.defs.partitions import source_calendar, trading_days

AUDIT_DATES = 3


def _with_lookback(context, warehouse: Warehouse, schema: str, table: str, days: int) -> pd.DataFrame:
    """Rows of the run's window plus ``days`` trading days before it, read with a parameterised
    range query (a partitioned check's extra inputs are not widened by partition mappings)."""
    start, end = window(context)
    cal = source_calendar()
    first = cal[max(int(cal.searchsorted(start)) - days, 0)]
    return warehouse.read(schema, table, "date >= ? and date < ?", [first.to_pydatetime(), end.to_pydatetime()])


@dg.asset_check(pool=WAREHOUSE_POOL, asset=features, partitions_def=trading_days, blocking=True,
                additional_ins={"regime_features": dg.AssetIn(), "sectors": dg.AssetIn()})
def features_leakage_audit(context: dg.AssetCheckExecutionContext, warehouse: Warehouse, features: pd.DataFrame,
                           regime_features: pd.DataFrame, sectors: pd.DataFrame) -> dg.AssetCheckResult:
    """For sampled dates t, rebuild features from inputs cut after t: stored rows must match exactly."""
    from axion_pipeline.ml.feature_inputs import from_long, macro_frame, raw_factor_frame
    from axion_pipeline.ml.leakage import audit_feature_leakage, make_truncating_builder, sample_audit_dates

    stored = from_long(features)
    factor_scores = _with_lookback(context, warehouse, "factors", "factor_scores", FEATURE_LOOKBACK)
    raw, macro = raw_factor_frame(factor_scores), macro_frame(regime_features)
    cal = source_calendar()
    static = partial(build_features, sectors=sectors.set_index("ticker")["sector"],
                     config=FeatureSettings().to_library())

    def rebuild(t: pd.Timestamp) -> pd.DataFrame:
        # the asset's own inputs: FEATURE_LOOKBACK days of factor scores before t (what a partition
        # run of t loads) and regime features up to t; everything after t is cut by the audit
        first = cal[max(int(cal.searchsorted(t)) - FEATURE_LOOKBACK, 0)]
        cut = make_truncating_builder(static, raw=raw.loc[raw.index.get_level_values(0) >= first], macro=macro)
        return cut(t)

    report = audit_feature_leakage(rebuild, stored, sample_audit_dates(stored.index.get_level_values(0), AUDIT_DATES))
    return dg.AssetCheckResult(passed=report.passed, metadata={
        "dates_checked": [str(d.date()) for d in report.checked_dates],
        "values_compared": report.n_values_compared,
        "leaking_columns": report.leaking_columns[:50],
    })


@dg.asset_check(pool=WAREHOUSE_POOL, asset=targets, partitions_def=trading_days, blocking=True)
def targets_use_only_the_forward_window(context: dg.AssetCheckExecutionContext, warehouse: Warehouse,
                                        targets: pd.DataFrame) -> dg.AssetCheckResult:
    """Each sampled target at t equals the one recomputed from returns in (t, t+21] alone."""
    from axion_pipeline.ml.feature_inputs import FORWARD_DAYS, NUM_QUINTILES, returns_panel
    from axion_pipeline.ml.leakage import audit_target_window, sample_audit_dates

    prices = _with_lookback(context, warehouse, "market", "prices", TARGET_LOOKBACK)
    stored = targets.set_index(["date", "ticker"])[["fwd_return", "label"]].sort_index()
    report = audit_target_window(returns_panel(prices), stored, FORWARD_DAYS,
                                 sample_audit_dates(targets["date"], AUDIT_DATES), NUM_QUINTILES)
    return dg.AssetCheckResult(passed=report.passed, metadata={
        "dates_checked": [str(d.date()) for d in report.checked_dates],
        "mismatches": [f"{d.date()}:{c}" for d, c in report.mismatches][:50],
    })


@dg.asset_check(pool=WAREHOUSE_POOL, asset=features, partitions_def=trading_days, blocking=True)
def features_are_finite(features: pd.DataFrame) -> dg.AssetCheckResult:
    """No +-inf anywhere in the model inputs (missing values are allowed and handled by the models)."""
    values = features.drop(columns=["date", "ticker"]).to_numpy(dtype="float64")
    n_inf = int(np.isinf(values).sum())
    return dg.AssetCheckResult(passed=n_inf == 0, metadata={"infinite_values": n_inf,
                                                            "share_missing": float(np.isnan(values).mean())})


CHECKS = [features_leakage_audit, targets_use_only_the_forward_window, features_are_finite]
