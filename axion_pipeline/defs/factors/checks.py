"""Asset checks of the factor group: score range, coverage per date, weights summing to 1."""

from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.defs.adapters.partition_results import partition_results
from axion_pipeline.defs.common import WAREHOUSE_POOL, window
from axion_pipeline.defs.factors.assets import CATEGORY_COLUMNS, SCORE_COLUMNS
from axion_pipeline.defs.project import DagsterProject

MIN_COMPOSITE_COVERAGE = 0.90


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    daily = dict(pool=WAREHOUSE_POOL, asset="factor_scores", partitions_def=project.trading_days)

    @dg.asset_check(blocking=True, **daily)
    def scores_within_unit_interval(context: dg.AssetCheckExecutionContext, factor_scores: pd.DataFrame) -> Iterator:
        """Category scores and composite are percentile ranks in [0, 1] (NaN allowed, inf never)."""
        values = factor_scores[SCORE_COLUMNS].to_numpy(dtype="float64")
        bad = np.isinf(values) | (values < 0) | (values > 1)
        per_column = dict(zip(SCORE_COLUMNS, bad.sum(axis=0).tolist()))
        result = dg.AssetCheckResult(passed=not bad.any(), metadata={"out_of_range": per_column})
        yield from partition_results(context, result, factor_scores.loc[bad.any(axis=1), "date"])

    @dg.asset_check(
        additional_ins={"prices": dg.AssetIn(metadata={"columns": ["date", "ticker"]}), "universe": dg.AssetIn()},
        **daily,
    )
    def composite_coverage_per_date(
        context: dg.AssetCheckExecutionContext,
        factor_scores: pd.DataFrame,
        prices: pd.DataFrame,
        universe: pd.DataFrame,
    ) -> Iterator:
        """Every trading day scored, and the composite present for >= 90% of the index members priced that day."""
        from axion_pipeline.data.universe import member_rows

        start, end = window(context)
        window_prices = member_rows(prices.loc[(prices["date"] >= start) & (prices["date"] < end)], universe)
        priced = window_prices.groupby("date")["ticker"].nunique()
        scored = factor_scores.dropna(subset=["composite"]).groupby("date")["ticker"].nunique()
        share = (scored.reindex(priced.index).fillna(0) / priced).rename("share")
        worst = share.sort_values().head(5)
        result = dg.AssetCheckResult(
            passed=bool(len(share)) and bool((share >= MIN_COMPOSITE_COVERAGE).all()),
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "dates": len(share),
                "min_share": float(share.min()) if len(share) else 0.0,
                "worst_dates": {str(pd.Timestamp(d).date()): round(float(v), 4) for d, v in worst.items()},
            },
        )
        low = share.index[share < MIN_COMPOSITE_COVERAGE] if len(share) else None
        yield from partition_results(context, result, low)

    @dg.asset_check(blocking=True, **daily)
    def composite_weights_sum_to_one(context: dg.AssetCheckExecutionContext, factor_scores: pd.DataFrame) -> Iterator:
        """The category weights used for the composite sum to 1 on every date."""
        sums = factor_scores.groupby("date")[[f"weight_{c}" for c in CATEGORY_COLUMNS]].first().sum(axis=1)
        deviation = (sums - 1).abs()
        worst = float(deviation.max()) if len(sums) else 0.0
        result = dg.AssetCheckResult(passed=worst < 1e-9, metadata={"max_abs_deviation": worst, "dates": len(sums)})
        yield from partition_results(context, result, deviation.index[deviation >= 1e-9])

    return [scores_within_unit_interval, composite_coverage_per_date, composite_weights_sum_to_one]
