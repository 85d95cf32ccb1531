"""Feature assets: cross-sectional features, matured targets and market regime features."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import sector_map
from axion_pipeline.defs.common import add_metadata, frame_metadata, lookback, markdown_table, require_rows, window
from axion_pipeline.defs.config import FeatureSettings
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.factors.residual_reversal import HISTORY_DAYS as RESIDUAL_HISTORY_DAYS
from axion_pipeline.ml.config import FeatureConfig
from axion_pipeline.ml.feature_inputs import FEATURE_INPUT_COLUMNS

GROUP = "features"
# only the factor columns features are built from (a third of the table's width)
FACTOR_SCORE_COLUMNS = ["date", "ticker", *FEATURE_INPUT_COLUMNS]
# the prices the score-blend signal reads (residual reversal: every ticker's closes)
PRICE_COLUMNS = ["date", "ticker", "close"]


def build_features(
    cutoff,
    *,
    raw: pd.DataFrame,
    macro: pd.DataFrame,
    sectors: pd.Series | None,
    config,
    start=None,
    membership: pd.DataFrame | None = None,
    prices: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Features for dates in [start, cutoff] from the factor scores of index members and regime
    features, plus the score-blend signal from ``prices`` (library call). ``membership`` and
    ``prices`` are inputs of the leakage audit's rebuild like the others: cut to what was known at
    the cutoff."""
    from axion_pipeline.ml.feature_inputs import feature_panel

    return feature_panel(
        raw,
        macro=macro,
        sectors=sectors,
        config=config,
        start=start,
        end=cutoff,
        membership=membership,
        prices=prices,
    )


def feature_config(config: FeatureSettings, loaded_days: int) -> FeatureConfig:
    """The run's ``FeatureConfig``; refuses lags or windows longer than the history the asset loads
    (they would yield all-missing columns)."""
    library = config.to_library(FeatureConfig)
    if library.history_days > loaded_days:
        raise dg.Failure(
            description=f"the run's lags and rolling windows need {library.history_days} trading days of "
            f"factor scores before each date; the features asset loads {loaded_days} "
            "(FeatureConfig.history_days of the project settings): shorten them or change the "
            "project's FeatureConfig"
        )
    return library


def _families(columns) -> dict[str, list[str]]:
    rules = [
        ("sector_rank", "_sector_rank"),
        ("rank", "_rank"),
        ("interaction", "_x_"),
        ("lag", "_lag"),
        ("rolling_mean", "_mean_"),
        ("rolling_std", "_std_"),
    ]
    out: dict[str, list[str]] = {}
    for c in columns:
        fam = next((name for name, token in rules if token in c), "calendar_macro")
        out.setdefault(fam, []).append(c)
    return out


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    settings = project.settings
    feature_days, target_days, regime_days = (
        settings.feature_lookback_days,
        settings.target_lookback_days,
        settings.regime_lookback_days,
    )

    @project.daily_asset(
        GROUP,
        ins={
            "factor_scores": lookback(feature_days, FACTOR_SCORE_COLUMNS),
            "prices": lookback(RESIDUAL_HISTORY_DAYS, PRICE_COLUMNS),
        },
    )
    def features(
        context: dg.AssetExecutionContext,
        config: FeatureSettings,
        factor_scores: pd.DataFrame,
        prices: pd.DataFrame,
        regime_features: pd.DataFrame,
        sectors: pd.DataFrame,
        universe: pd.DataFrame,
    ) -> pd.DataFrame:
        """ML features per (date, ticker) of index members: ranks, sector ranks, interactions, lags, rolling
        stats, calendar, macro; and residual reversal, the signal the ML score is averaged with."""
        from axion_pipeline.ml.feature_inputs import macro_frame, raw_factor_frame, to_long

        start, end = window(context)
        library = feature_config(config, feature_days)
        require_rows(factor_scores.loc[factor_scores["date"] >= start], "factor_scores", start, end)
        project.require_lookback(factor_scores, start, feature_days, "factor_scores")
        panel = build_features(
            end - pd.Timedelta(days=1),
            raw=raw_factor_frame(factor_scores),
            macro=macro_frame(regime_features),
            sectors=sector_map(sectors),
            config=library,
            start=start,
            membership=universe,
            prices=prices,
        )
        out = to_long(panel, inplace=True)  # no copy of the feature block
        families = _families(out.columns[2:])
        missing = {fam: round(float(out[cols].isna().to_numpy().mean()), 4) for fam, cols in families.items()}
        add_metadata(
            context, {**frame_metadata(out), "feature_count": len(out.columns) - 2, "share_missing_by_family": missing}
        )
        return out

    @project.daily_asset(GROUP, ins={"prices": lookback(target_days)}, metadata={"partition_expr": "label_date"})
    def targets(context: dg.AssetExecutionContext, prices: pd.DataFrame, universe: pd.DataFrame) -> pd.DataFrame:
        """Forward return over the horizon and its quintile among the date's index members (1 worst .. 5 best) per
        (date, ticker), stored by the day it matures."""
        from axion_pipeline.ml.feature_inputs import matured_targets

        start, end = window(context)
        project.require_lookback(prices, start, target_days, "prices")
        out = matured_targets(prices, start, end, forward_days=settings.horizon, membership=universe)
        add_metadata(
            context,
            {
                **frame_metadata(out),
                "label_dates": int(out["label_date"].nunique()),
                "share_missing_label": round(float(out["label"].isna().mean()), 4) if len(out) else None,
                "note": f"a date's target appears in the partition of its label_date "
                f"(t + {settings.horizon} trading days)",
            },
        )
        return out

    @project.daily_asset(GROUP, ins={"market_series": lookback(regime_days)})
    def regime_features(context: dg.AssetExecutionContext, market_series: pd.DataFrame) -> pd.DataFrame:
        """Market-level features per day: index returns and volatility, VIX, curve, credit, breadth, put/call."""
        from axion_pipeline.ml.regime_features import regime_features as compute

        start, end = window(context)
        project.require_lookback(market_series, start, regime_days, "market_series")
        series = market_series.set_index("date").sort_index()
        out = compute(series).rename_axis("date").reset_index()
        out = out.loc[(out["date"] >= start) & (out["date"] < end)].reset_index(drop=True)
        require_rows(out, "market_series", start, end)
        missing = (
            out.drop(columns="date").isna().mean().round(4).rename_axis("feature").reset_index(name="share_missing")
        )
        add_metadata(context, {**frame_metadata(out, key_column=None), "share_missing": markdown_table(missing)})
        return out

    return [features, targets, regime_features]
