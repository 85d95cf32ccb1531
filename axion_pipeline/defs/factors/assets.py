"""Factor assets: scores per (date, ticker), the daily regime, and the factor tear sheet."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES, EQUAL_WEIGHTED
from axion_pipeline.data.frames import sector_map
from axion_pipeline.defs.common import (
    WAREHOUSE_POOL,
    add_metadata,
    frame_metadata,
    group_attributes,
    lookback,
    markdown_table,
    only,
    require_rows,
    tidy,
    window,
)
from axion_pipeline.defs.config import FactorEngineConfig
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import MarketDataSource

GROUP = "factors"
CATEGORY_COLUMNS = list(CATEGORIES)
SCORE_COLUMNS = [*CATEGORY_COLUMNS, "composite"]
WEIGHT_COLUMNS = [f"weight_{c}" for c in CATEGORY_COLUMNS]


def build_daily_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    """``factor_scores`` and ``market_regime``, each loading the factor engine's price history before its days."""
    history = project.settings.factor_lookback_days

    @project.daily_asset(
        GROUP, ins={"prices": lookback(history), "market_series": lookback(history)}, kinds={"pandas", "duckdb"}
    )
    def factor_scores(
        context: dg.AssetExecutionContext,
        config: FactorEngineConfig,
        prices: pd.DataFrame,
        market_series: pd.DataFrame,
        fundamentals: pd.DataFrame,
        sectors: pd.DataFrame,
        universe: pd.DataFrame,
    ) -> pd.DataFrame:
        """Every sub-factor, the six category scores and the regime-weighted composite per (date, ticker),
        for the index members of each date (every priced ticker when ``universe`` is empty)."""
        from axion_pipeline.factor_engine.panel import compute_factor_panel

        start, end = window(context)
        require_rows(prices.loc[prices["date"] >= start], "prices", start, end)
        project.require_lookback(prices, start, history, "prices")
        project.require_lookback(market_series, start, history, "market_series")
        scores = compute_factor_panel(
            prices,
            fundamentals,
            market_series.set_index("date")["sp500_close"].sort_index(),
            start=start,
            end=end - pd.Timedelta(days=1),
            sectors=sector_map(sectors),
            membership=universe,
            **config.model_dump(),
        )
        missing = scores[SCORE_COLUMNS].isna().mean().round(4).rename_axis("score").reset_index(name="share_missing")
        add_metadata(
            context,
            {
                **frame_metadata(scores),
                "sub_factors": len(scores.columns) - 3 - len(SCORE_COLUMNS) - len(CATEGORY_COLUMNS),
                "regime_days": scores.groupby("date")["regime"].first().value_counts().to_dict(),
                "share_missing": markdown_table(missing),
            },
        )
        return scores

    @project.daily_asset(
        GROUP,
        ins={
            "market_series": lookback(history, ["date", "sp500_close"]),
            "factor_scores": only("date", *WEIGHT_COLUMNS),
        },
    )
    def market_regime(
        context: dg.AssetExecutionContext,
        market_source: MarketDataSource,
        market_series: pd.DataFrame,
        factor_scores: pd.DataFrame,
        true_regimes: pd.DataFrame,
    ) -> pd.DataFrame:
        """Rule-detected regime per day with its inputs (trend, drawdown, volatility) and the weights in force; detected
        on the equal-weighted index of the universe when the source has no index series (its metadata says so)."""
        from axion_pipeline.analytics.plots import plot_regime_timeline, to_markdown_image
        from axion_pipeline.factor_engine.regime import RegimeDetector, regime_agreement

        start, end = window(context)
        project.require_lookback(market_series, start, history, "market_series")
        sp500 = market_series.set_index("date")["sp500_close"].sort_index()
        detected = RegimeDetector().detect_series(sp500)
        detected = detected.loc[(detected.index >= start) & (detected.index < end)].rename_axis("date").reset_index()
        require_rows(detected, "market_series", start, end)
        weights = factor_scores.groupby("date")[WEIGHT_COLUMNS].first().reset_index()
        out = detected.merge(weights, on="date", how="left")
        meta = {**frame_metadata(out, key_column=None), "days_by_regime": out["regime"].value_counts().to_dict()}
        meta["index"] = (
            "the equal-weighted index of the universe (the source has no market series file): the regime is "
            "detected on it, NOT on the S&P 500"
            if market_source.load().index_name == EQUAL_WEIGHTED
            else "sp500_close of the market series"
        )
        if len(true_regimes):
            agreement = regime_agreement(out.set_index("date")["regime"], true_regimes.set_index("date")["regime"])
            meta["agreement_with_planted_regimes"] = round(float(agreement["accuracy"]), 4)
            meta["recall_by_planted_regime"] = {
                k: (None if pd.isna(v) else round(float(v), 4)) for k, v in agreement["recall"].items()
            }
        if len(out) > 1:
            png = plot_regime_timeline(
                out.set_index("date")["regime"], sp500.loc[out["date"].min() : out["date"].max()]
            )
            meta["regime_timeline"] = dg.MetadataValue.md(to_markdown_image(png, "regime timeline"))
        add_metadata(context, meta)
        return out

    return [factor_scores, market_regime]


TEAR_SHEET_HORIZONS = (1, 5, 21)
# Long-lookback sub-factors (12-1 month momentum, 252-day beta) are undefined during the first year
# of history, so more rows drop than alphalens' 35% default allows; the drop is reported per factor.
MAX_LOSS = 0.9


def _tear_sheet_out(description: str) -> dg.AssetOut:
    return dg.AssetOut(
        **group_attributes(GROUP, "whole-history"),
        kinds={"pandas", "duckdb"},
        metadata={"schema": GROUP},
        description=description,
        is_required=True,
    )


@dg.multi_asset(
    outs={
        "factor_tear_sheet": _tear_sheet_out(
            "Per factor and horizon: IC mean/std/ICIR, Newey-West t-stat (h - 1 lags; alphalens' i.i.d. one as "
            "t_stat_iid), top-minus-bottom spread, quintile turnover and rank autocorrelation."
        ),
        "factor_ic": _tear_sheet_out("Spearman IC per date, factor and horizon (1, 5, 21 trading days)."),
        "factor_quantile_returns": _tear_sheet_out("Mean forward return per factor quintile and horizon."),
    },
    ins={"factor_scores": dg.AssetIn(), "prices": dg.AssetIn()},
    pool=WAREHOUSE_POOL,
)
def factor_tear_sheet(context: dg.AssetExecutionContext, factor_scores: pd.DataFrame, prices: pd.DataFrame):
    """The factor tear sheet over the whole scored history (alphalens-equivalent, vectorised)."""
    from axion_pipeline.analytics.plots import plot_ic_over_time, plot_quantile_returns, to_markdown_image
    from axion_pipeline.analytics.tearsheet import compute_tear_sheet

    non_factor = {"date", "ticker", "regime", *(f"weight_{c}" for c in CATEGORY_COLUMNS)}
    columns = [c for c in factor_scores.columns if c not in non_factor]
    sheet = compute_tear_sheet(
        factor_scores[["date", "ticker", *columns]],
        prices[["date", "ticker", "close"]],
        factor_columns=columns,
        horizons=TEAR_SHEET_HORIZONS,
        quantiles=5,
        max_loss=MAX_LOSS,
        on_excess_loss="skip",
    )
    frames = sheet.to_frames()
    summary = (
        frames["ic_summary"]
        .merge(frames["spread"][["factor", "horizon", "top_minus_bottom"]], on=["factor", "horizon"], how="left")
        .merge(
            frames["turnover"]
            .loc[frames["turnover"]["quantile"] == 5, ["factor", "turnover"]]
            .rename(columns={"turnover": "top_quintile_turnover"}),
            on="factor",
            how="left",
        )
        # both tables count their dates in n_dates: the autocorrelation's under its own name, not n_dates_y
        .merge(
            frames["rank_autocorrelation"].rename(columns={"n_dates": "autocorrelation_dates"}), on="factor", how="left"
        )
    )
    composite21 = summary.loc[(summary["factor"] == "composite") & (summary["horizon"] == 21)]
    images = "\n\n".join(
        [
            to_markdown_image(plot_ic_over_time(frames["ic"], "composite", 21), "composite IC over time (21d)"),
            to_markdown_image(
                plot_quantile_returns(frames["quantile_returns"], "composite", 21), "composite quintiles (21d)"
            ),
        ]
    )
    yield dg.Output(
        summary,
        output_name="factor_tear_sheet",
        metadata=tidy(
            {
                "factors": len(columns),
                "rows_dropped_by_factor": markdown_table(frames["coverage"], max_rows=60),
                "factors_skipped": frames["coverage"].loc[frames["coverage"]["skipped"], "factor"].tolist(),
                "composite_ic_21d": float(composite21["ic_mean"].iloc[0]) if len(composite21) else None,
                "categories_21d": markdown_table(
                    summary.loc[
                        summary["factor"].isin(SCORE_COLUMNS) & (summary["horizon"] == 21),
                        ["factor", "ic_mean", "icir", "t_stat", "top_minus_bottom"],
                    ]
                ),
                "plots": dg.MetadataValue.md(images),
            }
        ),
    )
    yield dg.Output(frames["ic"], output_name="factor_ic")
    yield dg.Output(frames["quantile_returns"], output_name="factor_quantile_returns")


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    return [*build_daily_assets(project), factor_tear_sheet]
