"""Asset checks of the ingestion group: keys, coverage, price sanity, reconciliation."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.quality import coverage, duplicate_keys, listing_spans, reconciliation, split_like_jumps
from axion_pipeline.defs.common import WAREHOUSE_POOL, markdown_table, window
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import MarketDataSource

MIN_ROW_COVERAGE = 0.95


@dg.asset_check(pool=WAREHOUSE_POOL, asset="rejected_rows", blocking=True)
def ingestion_reconciles(market_source: MarketDataSource) -> dg.AssetCheckResult:
    """For every dataset, rows read = rows loaded + rows rejected: nothing silently dropped."""
    table = reconciliation(market_source.load())
    return dg.AssetCheckResult(passed=bool(table["reconciles"].all()), metadata={"table": markdown_table(table)})


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    daily = dict(pool=WAREHOUSE_POOL, partitions_def=project.trading_days)

    @dg.asset_check(asset="prices", blocking=True, **daily)
    def prices_unique_keys(prices: pd.DataFrame) -> dg.AssetCheckResult:
        """No (date, ticker) appears twice in the stored partition(s)."""
        dups = duplicate_keys(prices)
        return dg.AssetCheckResult(passed=dups.empty, metadata={"duplicate_rows": len(dups)})

    @dg.asset_check(asset="prices", **daily)
    def prices_coverage(
        context: dg.AssetCheckExecutionContext, prices: pd.DataFrame, market_source: MarketDataSource
    ) -> dg.AssetCheckResult:
        """Every trading day present, and listed tickers present on each day (>= 95% of expected rows)."""
        start, end = window(context)
        stats = coverage(prices, project.calendar, listing_spans(market_source.load().prices), start, end)
        passed = stats["observed_days"] == stats["expected_days"] and stats["row_coverage"] >= MIN_ROW_COVERAGE
        return dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=stats)

    @dg.asset_check(asset="prices", **daily)
    def prices_no_split_jumps(
        context: dg.AssetCheckExecutionContext, prices: pd.DataFrame, market_source: MarketDataSource
    ) -> dg.AssetCheckResult:
        """Flags close-to-close jumps beyond +-45%, the signature of an unadjusted split."""
        start, _ = window(context)
        history = market_source.load().prices
        prior_day = history.loc[history["date"] < start, "date"].max()
        previous = history.loc[history["date"] == prior_day] if pd.notna(prior_day) else history.iloc[0:0]
        jumps = split_like_jumps(pd.concat([previous, prices], ignore_index=True))
        return dg.AssetCheckResult(
            passed=jumps.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"flagged": len(jumps), "examples": markdown_table(jumps.astype(str), max_rows=15)},
        )

    @dg.asset_check(asset="market_series", **daily)
    def market_series_one_row_per_day(
        context: dg.AssetCheckExecutionContext, market_series: pd.DataFrame
    ) -> dg.AssetCheckResult:
        """One market row per trading day of the window, none duplicated."""
        expected = project.trading_days_in(*window(context))
        observed = pd.DatetimeIndex(market_series["date"])
        passed = observed.is_unique and expected.difference(observed).empty
        return dg.AssetCheckResult(
            passed=passed,
            metadata={
                "expected_days": len(expected),
                "rows": len(observed),
                "missing_days": len(expected.difference(observed)),
                "duplicated_days": int(observed.duplicated().sum()),
            },
        )

    return [
        prices_unique_keys,
        prices_coverage,
        prices_no_split_jumps,
        market_series_one_row_per_day,
        ingestion_reconciles,
    ]
