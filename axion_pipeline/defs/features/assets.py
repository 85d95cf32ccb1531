"""Feature assets: cross-sectional features, matured targets and market regime features."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import (
    daily_asset, frame_metadata, lookback, markdown_table, require_lookback, require_rows, window,
)
from axion_pipeline.ml.feature_inputs import FEATURE_INPUT_COLUMNS

GROUP = "features"
# Longest lag/rolling window of the default FeatureConfig (63 days) plus a margin.
FEATURE_LOOKBACK = 70
REGIME_LOOKBACK = 70  # 60-day index return and the 10-day breadth mean
TARGET_LOOKBACK = 25  # the 21-day forward window of the oldest target maturing in the run


class FeatureSettings(dg.Config):
    """Maps onto ``FeatureConfig`` (lags and windows in trading days)."""

    lag_periods: list[int] = [5, 10, 21]
    rolling_windows: list[int] = [5, 21, 63]
    include_sector_ranks: bool = True
    include_interactions: bool = True

    def to_library(self):
        from axion_pipeline.ml.config import FeatureConfig

        return FeatureConfig(lag_periods=list(self.lag_periods), rolling_windows=list(self.rolling_windows),
                             include_sector_ranks=self.include_sector_ranks,
                             include_interactions=self.include_interactions)


def build_features(cutoff, *, raw: pd.DataFrame, macro: pd.DataFrame, sectors: pd.Series, config,
                   start=None) -> pd.DataFrame:
    """Features for dates in [start, cutoff] from factor scores and regime features (library call)."""
    from axion_pipeline.ml.features import FeatureEngineer

    return FeatureEngineer(config).create_features_panel(raw, macro_data=macro, start=start, end=cutoff,
                                                         sectors=sectors)


# only the factor columns features are built from (a third of the table's width)
FACTOR_SCORE_COLUMNS = ["date", "ticker", *FEATURE_INPUT_COLUMNS]


@daily_asset(GROUP, ins={"factor_scores": lookback(FEATURE_LOOKBACK, FACTOR_SCORE_COLUMNS)})
def features(context: dg.AssetExecutionContext, config: FeatureSettings, factor_scores: pd.DataFrame,
             regime_features: pd.DataFrame, sectors: pd.DataFrame) -> pd.DataFrame:
    """ML features per (date, ticker): ranks, sector ranks, interactions, lags, rolling stats, calendar, macro."""
    from axion_pipeline.ml.feature_inputs import macro_frame, raw_factor_frame, to_long

    start, end = window(context)
    require_rows(factor_scores.loc[factor_scores["date"] >= start], "factor_scores", start, end)
    require_lookback(factor_scores, start, FEATURE_LOOKBACK, "factor_scores")
    panel = build_features(end - pd.Timedelta(days=1), raw=raw_factor_frame(factor_scores),
                           macro=macro_frame(regime_features), sectors=sectors.set_index("ticker")["sector"],
                           config=config.to_library(), start=start)
    out = to_long(panel, inplace=True)  # no copy of the feature block
    families = _families(out.columns[2:])
    missing = {fam: round(float(out[cols].isna().to_numpy().mean()), 4) for fam, cols in families.items()}
    context.add_output_metadata({**frame_metadata(out), "feature_count": len(out.columns) - 2,
                                 "share_missing_by_family": missing})
    return out


def _families(columns) -> dict[str, list[str]]:
    rules = [("sector_rank", "_sector_rank"), ("rank", "_rank"), ("interaction", "_x_"), ("lag", "_lag"),
             ("rolling_mean", "_mean_"), ("rolling_std", "_std_")]
    out: dict[str, list[str]] = {}
    for c in columns:
        fam = next((name for name, token in rules if token in c), "calendar_macro")
        out.setdefault(fam, []).append(c)
    return out


@daily_asset(GROUP, ins={"prices": lookback(TARGET_LOOKBACK)},
             metadata={"partition_expr": "label_date"})
def targets(context: dg.AssetExecutionContext, prices: pd.DataFrame) -> pd.DataFrame:
    """Forward 21-day return and its quintile (1 worst .. 5 best) per (date, ticker), stored by the day it matures."""
    from axion_pipeline.ml.feature_inputs import matured_targets

    start, end = window(context)
    require_lookback(prices, start, TARGET_LOOKBACK, "prices")
    out = matured_targets(prices, start, end)
    context.add_output_metadata({
        **frame_metadata(out), "label_dates": int(out["label_date"].nunique()),
        "share_missing_label": round(float(out["label"].isna().mean()), 4) if len(out) else None,
        "note": "a date's target appears in the partition of its label_date (t + 21 trading days)",
    })
    return out


@daily_asset(GROUP, ins={"market_series": lookback(REGIME_LOOKBACK)})
def regime_features(context: dg.AssetExecutionContext, market_series: pd.DataFrame) -> pd.DataFrame:
    """Market-level features per day: index returns and volatility, VIX, curve, credit, breadth, put/call."""
    from axion_pipeline.ml.regime_features import regime_features as compute

    start, end = window(context)
    require_lookback(market_series, start, REGIME_LOOKBACK, "market_series")
    series = market_series.set_index("date").sort_index()
    out = compute(series).rename_axis("date").reset_index()
    out = out.loc[(out["date"] >= start) & (out["date"] < end)].reset_index(drop=True)
    require_rows(out, "market_series", start, end)
    missing = out.drop(columns="date").isna().mean().round(4).rename_axis("feature").reset_index(name="share_missing")
    context.add_output_metadata({**frame_metadata(out, key_column=None), "share_missing": markdown_table(missing)})
    return out


ASSETS = [features, targets, regime_features]
