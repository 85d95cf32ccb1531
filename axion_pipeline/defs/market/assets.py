"""Ingestion assets: the source's canonical frames, sliced by trading-day partition where daily."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import (
    EQUAL_WEIGHTED,
    REJECTED_COLUMNS,
    TRUE_ALPHA_COLUMNS,
    TRUE_REGIME_COLUMNS,
    UNIVERSE_COLUMNS,
    empty_universe,
)
from axion_pipeline.data.frames import slice_dates
from axion_pipeline.data.quality import reconciliation
from axion_pipeline.data.universe import members_per_date
from axion_pipeline.defs.common import add_metadata, frame_metadata, markdown_table, table_asset, window
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import MarketDataSource

GROUP = "market"


def build_daily_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    """``prices`` and ``market_series``, partitioned by the project's trading days."""

    def daily_slice(context, frame: pd.DataFrame, what: str) -> pd.DataFrame:
        start, end = window(context)
        out = slice_dates(frame, start, end)
        expected_days = len(project.trading_days_in(start, end))
        if expected_days and out.empty:
            raise dg.Failure(
                f"the source has no {what} rows for {start.date()} .. {end.date()} although "
                f"{expected_days} trading days fall in that window: every row of those days was rejected "
                "(see market.rejected_rows and fix the file), or the file changed since the partitions were built"
            )
        add_metadata(context, {**frame_metadata(out), "expected_trading_days": expected_days})
        return out

    @project.daily_asset(GROUP)
    def prices(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
        """Daily split-adjusted OHLCV per (date, ticker); rows failing validation are in rejected_rows."""
        return daily_slice(context, market_source.load().prices, "price")

    @project.daily_asset(GROUP)
    def market_series(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
        """Daily index level, VIX, Treasury yields, credit spreads, breadth and put/call ratio."""
        data = market_source.load()
        out = daily_slice(context, data.market_series, "market series")
        missing = {c: round(float(out[c].isna().mean()), 4) for c in out.columns if c != "date"}
        meta = {"share_missing": missing, "status": dataset_status(data, "market_series")}
        if data.index_name == EQUAL_WEIGHTED:
            meta["sp500_close"] = (
                "NOT the S&P 500: the source has no market series, so sp500_close is the equal-weighted index of "
                "the universe (100 x cumulative product of 1 + the mean daily return of the members)"
            )
        add_metadata(context, meta)
        return out

    return [prices, market_series]


@table_asset(GROUP)
def fundamentals(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """Point-in-time fundamentals: one row per (ticker, period_end), usable from ``available_date`` on."""
    data = market_source.load()
    out = data.fundamentals.sort_values(["ticker", "available_date"]).reset_index(drop=True)
    add_metadata(
        context,
        {
            "status": dataset_status(data, "fundamentals"),
            **frame_metadata(out, date_column="available_date"),
            "period_types": sorted(out["period_type"].dropna().unique().tolist()),
            "share_missing": {c: round(float(out[c].isna().mean()), 4) for c in out.columns[4:]},
        },
    )
    return out


@table_asset(GROUP)
def sectors(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """GICS sector per ticker (``Unknown`` where the source has none, listed in the notes)."""
    data = market_source.load()
    out = data.sectors.reset_index(drop=True)
    counts = out["sector"].value_counts().rename_axis("sector").reset_index(name="tickers")
    add_metadata(
        context,
        {
            **frame_metadata(out, date_column=None),
            "status": dataset_status(data, "sectors"),
            "by_sector": markdown_table(counts),
        },
    )
    return out


@table_asset(GROUP)
def earnings_events(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """Quarterly earnings announcements with consensus estimate, actual EPS and surprise."""
    data = market_source.load()
    out = data.earnings_events.sort_values(["ticker", "announce_date"]).reset_index(drop=True)
    beat = (out["eps_actual"] > out["eps_estimate"]).mean() if len(out) else float("nan")
    add_metadata(
        context,
        {
            **frame_metadata(out, date_column="announce_date"),
            "status": dataset_status(data, "earnings_events"),
            "beat_rate": float(beat),
        },
    )
    return out


@table_asset(GROUP)
def universe(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """Index membership intervals (ticker, start_date, end_date inclusive; end empty while a member):
    a ticker enters a date's cross-sections only while a member."""
    data = market_source.load()
    out = data.universe.reindex(columns=UNIVERSE_COLUMNS).sort_values(["ticker", "start_date"]).reset_index(drop=True)
    if out.empty:
        add_metadata(
            context,
            {
                "status": dataset_status(data, "universe"),
                "note": "no membership file: every priced ticker is a member on every date",
            },
        )
        return empty_universe()
    per_date = members_per_date(data.prices, out)
    add_metadata(
        context,
        {
            **frame_metadata(out, date_column="start_date"),
            "open_intervals": int(out["end_date"].isna().sum()),
            "members_per_date": {
                "min": int(per_date.min()),
                "median": float(per_date.median()),
                "max": int(per_date.max()),
            },
            "priced_tickers_never_members": int((~data.prices["ticker"].drop_duplicates().isin(out["ticker"])).sum()),
        },
    )
    return out


@table_asset(GROUP)
def rejected_rows(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """Every source row that failed validation, with file, line, column, value and reason."""
    data = market_source.load()
    out = data.rejected_rows.reindex(columns=REJECTED_COLUMNS).astype({"row_number": "int64", "value": "string"})
    out = out.reset_index(drop=True)
    add_metadata(
        context,
        {
            "reconciliation": markdown_table(reconciliation(data)),
            "by_reason": markdown_table(out.groupby(["dataset", "reason"]).size().reset_index(name="rows")),
            "source": data.source,
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in data.notes) or "none"),
        },
    )
    return out


@table_asset(GROUP)
def source_notes(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """What the loader did, one row per note: optional files missing and what is skipped for want of them,
    columns absent or ignored, tickers without a sector, rows not loaded (printed by `make run` too)."""
    from axion_pipeline.data.quality import note_rows

    out = note_rows(market_source.load())
    add_metadata(
        context,
        {
            "missing_datasets": out.loc[out["kind"] == "missing", "dataset"].tolist(),
            "notes": dg.MetadataValue.md("\n".join(f"- {n}" for n in out["note"]) or "none"),
        },
    )
    return out


def dataset_status(data, dataset: str) -> str:
    """The status of a dataset's asset: loaded, or which file was missing and what that skips
    ("derived" for the sectors, all 'Unknown', and the market series built from the prices)."""
    if dataset not in data.missing:
        return f"loaded from the {data.source} source"
    state = "derived" if dataset in ("sectors", "market_series") else "empty"
    return f"{state}: {data.missing[dataset]}"


@table_asset(GROUP)
def true_regimes(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """The generated market's planted regime per day (empty for real data, which has no ground truth)."""
    truth = market_source.load().true_regimes
    if truth is None:
        add_metadata(context, {"note": "real data: no planted truth"})
        return pd.DataFrame({"date": pd.Series(dtype="datetime64[ns]"), "regime": pd.Series(dtype="object")})
    out = truth.reindex(columns=TRUE_REGIME_COLUMNS).reset_index(drop=True)
    share = out["regime"].value_counts(normalize=True).round(4).to_dict()
    add_metadata(context, {**frame_metadata(out, key_column=None), "share_by_regime": share})
    return out


@table_asset(GROUP)
def true_alpha(context: dg.AssetExecutionContext, market_source: MarketDataSource) -> pd.DataFrame:
    """The generated market's planted expected return (and true exposures) per stock-day."""
    truth = market_source.load().true_alpha
    if truth is None:
        add_metadata(context, {"note": "real data: no planted truth"})
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in TRUE_ALPHA_COLUMNS}).astype(
            {"date": "datetime64[ns]", "ticker": "object"}
        )
    out = truth.reset_index(drop=True)
    add_metadata(context, frame_metadata(out))
    return out


TABLE_ASSETS = [
    fundamentals,
    sectors,
    earnings_events,
    universe,
    rejected_rows,
    source_notes,
    true_regimes,
    true_alpha,
]


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    return [*build_daily_assets(project), *TABLE_ASSETS]
