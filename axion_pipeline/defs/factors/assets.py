"""Factor assets: scores per (date, ticker), the daily regime, and the factor tear sheet."""


import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import daily_asset, frame_metadata, markdown_table, require_rows, table_asset, window

GROUP = "factors"
# Trading days of price history a score needs: 12-1 month momentum and 52-week highs use 252 days,
# the 200-day average of the regime detector and the momentum overlay's 63-day lookback sit inside.
LOOKBACK_DAYS = 300
SCORE_COLUMNS = ["value", "momentum", "quality", "growth", "volatility", "technical", "composite"]


def lookback(days: int) -> dg.AssetIn:
    return dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-days))


@daily_asset(GROUP, ins={"prices": lookback(LOOKBACK_DAYS), "market_series": lookback(LOOKBACK_DAYS)})
def factor_scores(context: dg.AssetExecutionContext, prices: pd.DataFrame, market_series: pd.DataFrame,
                  fundamentals: pd.DataFrame, sectors: pd.DataFrame) -> pd.DataFrame:
    """Every sub-factor, the six category scores and the regime-weighted composite per (date, ticker)."""
    from axion_pipeline.factors.panel import compute_factor_panel

    start, end = window(context)
    require_rows(prices, "prices", start, end)
    sp500 = market_series.set_index("date")["sp500_close"].sort_index()
    scores = compute_factor_panel(
        prices, fundamentals, sp500, start=start, end=end - pd.Timedelta(days=1),
        sectors=sectors.set_index("ticker")["sector"],
    )
    context.add_output_metadata({
        **frame_metadata(scores),
        "regimes": scores.groupby("date")["regime"].first().value_counts().to_dict(),
        "share_missing": markdown_table(
            scores[SCORE_COLUMNS].isna().mean().round(4).rename_axis("score").reset_index(name="share_missing")),
    })
    return scores
