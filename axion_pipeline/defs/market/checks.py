"""Asset checks of the ingestion group: keys, coverage, price sanity, reconciliation with the warehouse."""

from collections.abc import Iterator

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import slice_dates
from axion_pipeline.data.quality import (
    coverage,
    duplicate_keys,
    listing_spans,
    split_like_jumps,
    warehouse_reconciliation,
)
from axion_pipeline.defs.adapters.partition_results import partition_results
from axion_pipeline.defs.common import WAREHOUSE_POOL, markdown_table, window
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import MarketDataSource, Warehouse

MIN_ROW_COVERAGE = 0.95
SPLIT_CONTEXT_DAYS = 25  # source days before a window: the 20-day volatility and 5-day volume of split_like_jumps
GROUP = "market"  # the warehouse schema of the ingestion tables
UNPARTITIONED_DATASETS = ("fundamentals", "sectors", "earnings_events", "universe")


def stored_as_loaded(
    stored: pd.DataFrame, loaded: pd.DataFrame, keys: list[str]
) -> tuple[dg.AssetCheckResult, list[pd.Timestamp]]:
    """The warehouse's rows of a window against the source's loaded rows of that window: same
    number, same keys (a row lost between the loader and the table, or one left from elsewhere).
    Also the days that differ (``keys[0]`` is the date)."""
    have = set(map(tuple, stored[keys].astype(str).to_numpy())) if len(stored) else set()
    want = set(map(tuple, loaded[keys].astype(str).to_numpy())) if len(loaded) else set()
    missing, extra = sorted(want - have), sorted(have - want)
    per_day = (
        pd.to_datetime(stored[keys[0]]).value_counts().sub(pd.to_datetime(loaded[keys[0]]).value_counts(), fill_value=0)
    )
    differing = sorted({pd.Timestamp(k[0]) for k in missing + extra} | set(per_day.index[per_day != 0]))
    result = dg.AssetCheckResult(
        passed=len(stored) == len(loaded) and not missing and not extra,
        metadata={
            "stored_rows": len(stored),
            "loaded_rows": len(loaded),
            "missing": len(missing),
            "extra": len(extra),
            "examples": ", ".join(" ".join(k) for k in (missing + extra)[:10]) or "none",
        },
    )
    return result, differing


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    daily = dict(pool=WAREHOUSE_POOL, partitions_def=project.trading_days)

    @dg.asset_check(
        pool=WAREHOUSE_POOL, asset="rejected_rows", blocking=True, additional_deps=list(UNPARTITIONED_DATASETS)
    )
    def ingestion_reconciles(market_source: MarketDataSource, warehouse: Warehouse) -> dg.AssetCheckResult:
        """For every dataset, rows read = rows loaded + rows rejected, and the warehouse holds exactly
        those loaded rows and those rejected rows (the daily datasets: every loaded row is on a
        partition day, and each stored partition is compared with the source by
        ``*_stored_as_loaded``): nothing silently dropped."""
        data = market_source.load()
        stored = {ds: warehouse.count_rows(GROUP, ds) for ds in UNPARTITIONED_DATASETS}
        rejected = warehouse.count_rows(GROUP, "rejected_rows", by="dataset")
        table = warehouse_reconciliation(data, stored, rejected, project.calendar)
        return dg.AssetCheckResult(passed=bool(table["reconciles"].all()), metadata={"table": markdown_table(table)})

    @dg.asset_check(asset="prices", blocking=True, **daily)
    def prices_stored_as_loaded(
        context: dg.AssetCheckExecutionContext, prices: pd.DataFrame, market_source: MarketDataSource
    ) -> Iterator:
        """The stored partition(s) hold exactly the source's loaded price rows of those days."""
        loaded = slice_dates(market_source.load().prices, *window(context))
        yield from partition_results(context, *stored_as_loaded(prices, loaded, ["date", "ticker"]))

    @dg.asset_check(asset="market_series", blocking=True, **daily)
    def market_series_stored_as_loaded(
        context: dg.AssetCheckExecutionContext, market_series: pd.DataFrame, market_source: MarketDataSource
    ) -> Iterator:
        """The stored partition(s) hold exactly the source's loaded market rows of those days."""
        loaded = slice_dates(market_source.load().market_series, *window(context))
        yield from partition_results(context, *stored_as_loaded(market_series, loaded, ["date"]))

    @dg.asset_check(asset="prices", blocking=True, **daily)
    def prices_unique_keys(context: dg.AssetCheckExecutionContext, prices: pd.DataFrame) -> Iterator:
        """No (date, ticker) appears twice in the stored partition(s)."""
        dups = duplicate_keys(prices)
        result = dg.AssetCheckResult(passed=dups.empty, metadata={"duplicate_rows": len(dups)})
        yield from partition_results(context, result, dups["date"])

    @dg.asset_check(asset="prices", **daily)
    def prices_coverage(
        context: dg.AssetCheckExecutionContext, prices: pd.DataFrame, market_source: MarketDataSource
    ) -> Iterator:
        """Every trading day present, and listed tickers present on each day (>= 95% of expected rows).
        Judged over the run's days together: a range run gives every day the range's verdict."""
        start, end = window(context)
        stats = coverage(prices, project.calendar, listing_spans(market_source.load().prices), start, end)
        passed = stats["observed_days"] == stats["expected_days"] and stats["row_coverage"] >= MIN_ROW_COVERAGE
        result = dg.AssetCheckResult(passed=passed, severity=dg.AssetCheckSeverity.WARN, metadata=stats)
        yield from partition_results(context, result)

    @dg.asset_check(asset="prices", **daily)
    def prices_no_split_jumps(
        context: dg.AssetCheckExecutionContext, prices: pd.DataFrame, market_source: MarketDataSource
    ) -> Iterator:
        """Flags jumps that look like an unadjusted split (near a split ratio, far beyond the ticker's
        usual moves, not reverted, without a crash's volume spike; see ``split_like_jumps``), not
        crashes. The source's days around the window give the prior volatility and the next close."""
        start, end = window(context)
        history = market_source.load().prices
        days = pd.DatetimeIndex(history["date"].unique()).sort_values()
        before = days[days < start][-SPLIT_CONTEXT_DAYS:]
        after = days[days >= end][:1]
        around = history.loc[history["date"].isin(before.append(after))]
        jumps = split_like_jumps(pd.concat([around, prices], ignore_index=True))
        jumps = jumps.loc[(jumps["date"] >= start) & (jumps["date"] < end)]
        result = dg.AssetCheckResult(
            passed=jumps.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={"flagged": len(jumps), "examples": markdown_table(jumps.astype(str), max_rows=15)},
        )
        yield from partition_results(context, result, jumps["date"])

    @dg.asset_check(asset="market_series", **daily)
    def market_series_one_row_per_day(context: dg.AssetCheckExecutionContext, market_series: pd.DataFrame) -> Iterator:
        """One market row per trading day of the window, none duplicated."""
        expected = project.trading_days_in(*window(context))
        observed = pd.DatetimeIndex(market_series["date"])
        passed = observed.is_unique and expected.difference(observed).empty
        result = dg.AssetCheckResult(
            passed=passed,
            metadata={
                "expected_days": len(expected),
                "rows": len(observed),
                "missing_days": len(expected.difference(observed)),
                "duplicated_days": int(observed.duplicated().sum()),
            },
        )
        wrong_days = expected.difference(observed).union(observed[observed.duplicated()])
        yield from partition_results(context, result, wrong_days)

    return [
        prices_stored_as_loaded,
        market_series_stored_as_loaded,
        prices_unique_keys,
        prices_coverage,
        prices_no_split_jumps,
        market_series_one_row_per_day,
        ingestion_reconciles,
    ]
