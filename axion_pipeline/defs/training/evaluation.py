"""The model evaluation: the ranking model's out-of-sample scores against the rule composite, its
categories, one-factor baselines and the Alpha158 reference, on the rows the model scored."""

import dagster as dg
import pandas as pd

from axion_pipeline.data.contracts import CATEGORIES
from axion_pipeline.defs.common import (
    WAREHOUSE_POOL,
    Skipped,
    call_library,
    every_partition,
    group_attributes,
    tidy,
    train_or_skip,
)
from axion_pipeline.defs.config import ModelEvaluationSettings
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.training.models import GROUP
from axion_pipeline.ml.jsonable import jsonable

# The columns of the metadata tables (at most 8, so they fit the asset page): the figures a
# reader compares; the confidence bounds, spread, gross return and p-value stay in the tables.
OVERALL_COLUMNS = [
    "signal",
    "kind",
    "n_dates",
    "ic_mean",
    "ic_tstat_nw",
    "ls_sharpe_ann",
    "turnover",
    "ls_return_net_ann",
]
PAIRED_COLUMNS = [
    "baseline",
    "kind",
    "n_dates",
    "model_ic_mean",
    "baseline_ic_mean",
    "diff_tstat_nw",
    "fold_win_rate",
    "verdict",
]


def _out(description: str) -> dg.AssetOut:
    return dg.AssetOut(
        description=description,
        **group_attributes(GROUP, "whole-history"),
        kinds={"pandas", "duckdb"},
        metadata={"schema": GROUP},
    )


def _md(text: str) -> dg.MetadataValue:
    return dg.MetadataValue.md(text)


def build_evaluation(project: DagsterProject) -> dg.AssetsDefinition:
    plan = project.plan

    @dg.multi_asset(
        outs={
            "model_evaluation": _out(
                "Per signal (ML score, rule composite, each category, 12-1 momentum, 1-month reversal, 60-day low "
                "volatility, Alpha158 reference) and per fold and overall, on the ranking model's out-of-sample rows: "
                "rank IC with Newey-West t and block-bootstrap interval, quintile spread, long-short return, turnover "
                "and the return net of the stated cost."
            ),
            "model_vs_baselines": _out(
                "Paired Newey-West test of the ML score's IC against every other signal's on the same dates, with a "
                "verdict: loses, beats or no significant difference."
            ),
            "model_exposures": _out(
                "Exposures of the ML score and the rule composite to beta, volatility, momentum, size (rank "
                "correlations) and sector (R^2), per fold and overall."
            ),
        },
        ins={
            "ranking_model": every_partition(["fold", "date", "ticker", "score", "model_score", "fwd_return"]),
            "alpha158_reference": dg.AssetIn(),
            "factor_scores": every_partition(["date", "ticker", "composite", *CATEGORIES]),
            "prices": every_partition(["date", "ticker", "close", "volume"]),
            "sectors": dg.AssetIn(),
        },
        pool=WAREHOUSE_POOL,
    )
    def model_evaluation(
        context: dg.AssetExecutionContext,
        config: ModelEvaluationSettings,
        ranking_model: pd.DataFrame,
        alpha158_reference: pd.DataFrame,
        factor_scores: pd.DataFrame,
        prices: pd.DataFrame,
        sectors: pd.DataFrame,
    ):
        """Evaluate the ranking model's out-of-sample scores against the rules and baselines on the same rows."""
        from axion_pipeline.analytics.plots import plot_cumulative_ic, plot_exposures, plot_signal_ic, to_markdown_image
        from axion_pipeline.analytics.signal_evaluation import evaluation_markdown
        from axion_pipeline.ml.config import ModelEvaluationConfig
        from axion_pipeline.ml.model_evaluation import (
            BEATS,
            CHARACTERISTICS,
            COMPOSITE,
            LOSES,
            ML_SCORE,
            REFERENCE,
            evaluate_model,
            evaluation_frame,
        )

        library = config.to_library(ModelEvaluationConfig)
        frame = call_library(evaluation_frame, ranking_model, factor_scores, prices, alpha158_reference, sectors)
        result = train_or_skip(evaluate_model, frame, plan.horizon, library)
        if isinstance(result, Skipped):
            context.log.warning(f"model evaluation skipped: {result.reason}")
            for name in ("model_evaluation", "model_vs_baselines", "model_exposures"):
                yield dg.Output(_empty(name), name, metadata={"status": result.status})
            return
        cost = library.cost_per_turnover
        terms = {
            "horizon_days": plan.horizon,
            "cost_per_turnover": f"{cost:g} per unit of one-way turnover ({cost * 1e4:g} bps; a full rebuild of "
            f"both legs costs {2 * cost * 1e4:g} bps)",
            "evaluated_rows": int(len(frame)),
            "significant_tstat": library.significant_tstat,
        }
        loses, beats = result.verdicts(LOSES), result.verdicts(BEATS)
        overall = result.overall()
        ml = overall.set_index("signal").loc[ML_SCORE]
        curves = [ML_SCORE, COMPOSITE, REFERENCE, result.best_baseline()]
        plots = "no signal has a date with a defined IC"
        if overall["ic_mean"].notna().any():
            plots = "\n\n".join(
                [
                    to_markdown_image(plot_signal_ic(overall, highlight=ML_SCORE), "mean IC per signal"),
                    to_markdown_image(plot_cumulative_ic(result.ic, [c for c in curves if c]), "cumulative IC"),
                ]
            )
        yield dg.Output(
            result.evaluation,
            "model_evaluation",
            metadata=tidy(
                {
                    **terms,
                    "status": "evaluated",
                    **jsonable({"ml_ic_mean": ml["ic_mean"], "ml_ic_tstat_nw": ml["ic_tstat_nw"]}),
                    "model_loses_to": loses,
                    "model_beats": beats,
                    "overall": _md(evaluation_markdown(overall, OVERALL_COLUMNS, digits=4)),
                    "plots": _md(plots),
                }
            ),
        )
        yield dg.Output(
            result.paired,
            "model_vs_baselines",
            metadata=tidy(
                {
                    **terms,
                    "model_loses_to": loses,
                    "model_beats": beats,
                    "paired_tests": _md(evaluation_markdown(result.paired, PAIRED_COLUMNS, digits=4)),
                }
            ),
        )
        exposure_plot = plot_exposures(result.exposures, [*CHARACTERISTICS, "sector_r2"])
        yield dg.Output(
            result.exposures,
            "model_exposures",
            metadata={
                "characteristics": jsonable(CHARACTERISTICS),
                "overall": _md(evaluation_markdown(result.exposures.loc[result.exposures["fold"] == "all"])),
                "per_fold": _md(to_markdown_image(exposure_plot, "exposures per fold")),
            },
        )

    return model_evaluation


# The columns of each output (as ``evaluate_model`` returns them), for the empty table of a skipped
# evaluation: readers and the README's queries see the same table whether or not a model was scored.
_TEXT, _DATE, _INT, _FLOAT = "object", "datetime64[ns]", "int64", "float64"
EMPTY_COLUMNS = {
    "model_evaluation": {
        "signal": _TEXT,
        "kind": _TEXT,
        "fold": _TEXT,
        "start": _DATE,
        "end": _DATE,
        "n_dates": _INT,
        **dict.fromkeys(["ic_mean", "ic_std", "icir", "hit_rate", "ic_tstat_nw", "ic_pvalue_nw"], _FLOAT),
        **dict.fromkeys(["ic_ci_low", "ic_ci_high", "spread_mean"], _FLOAT),
        "n_periods": _INT,
        **dict.fromkeys(["ls_return_mean", "ls_return_ann", "ls_sharpe_ann", "turnover"], _FLOAT),
        **dict.fromkeys(["ls_return_net_mean", "ls_return_net_ann"], _FLOAT),
    },
    "model_vs_baselines": {
        "model": _TEXT,
        "baseline": _TEXT,
        "kind": _TEXT,
        "n_dates": _INT,
        **dict.fromkeys(["model_ic_mean", "baseline_ic_mean", "diff_mean", "diff_tstat_nw", "diff_pvalue_nw"], _FLOAT),
        "n_folds": _INT,
        "fold_win_rate": _FLOAT,
        "verdict": _TEXT,
    },
    "model_exposures": {
        "signal": _TEXT,
        "fold": _TEXT,
        "n_dates": _INT,
        **dict.fromkeys(["beta", "volatility", "momentum", "size", "sector_r2"], _FLOAT),
    },
}


def _empty(name: str) -> pd.DataFrame:
    """The empty table of an output whose evaluation was skipped, with every column of a scored one."""
    return pd.DataFrame({c: pd.Series(dtype=t) for c, t in EMPTY_COLUMNS[name].items()})
