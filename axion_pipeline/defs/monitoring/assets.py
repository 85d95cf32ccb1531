"""Monitoring assets: model health once labels mature, PSI drift, per-ticker SHAP explanations."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import add_metadata, frame_metadata, markdown_table, require_rows, window
from axion_pipeline.defs.inference.assets import load_production, model_status_metadata
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore
from axion_pipeline.ml.config import MonitoringConfig

GROUP = "monitoring"
HEALTH_WINDOW = 63  # trading days of matured predictions behind the rolling IC
SHAP_TOP_K = 5
# The thresholds of model health and drift; the retraining sensor states and applies the same.
MONITORING = MonitoringConfig()
# the columns of ``ModelExplainer.explain_batch`` with (date, ticker) rows: an empty table keeps them
SHAP_COLUMNS = pd.DataFrame(
    {
        "date": pd.Series(dtype="datetime64[ns]"),
        "ticker": pd.Series(dtype=object),
        "feature": pd.Series(dtype=object),
        "value": pd.Series(dtype="float64"),
        "contribution": pd.Series(dtype="float64"),
        "rank": pd.Series(dtype="int64"),
        "score": pd.Series(dtype="float64"),
        "base_value": pd.Series(dtype="float64"),
    }
)


def no_model_reason(model_store: ModelStore) -> str | None:
    """Why there is no production ranking model (its skip record's reason), or None when there is one."""
    from axion_pipeline.ml.model_store import PRODUCTION, read_skipped

    if model_store.production_version("ranking_model") is not None:
        return None
    record = read_skipped(model_store.path / "ranking_model" / PRODUCTION)
    detail = f"skipped: {record['reason']}" if record else "never trained: materialize production_models"
    return f"no production ranking model ({detail}); the scores come from the rule composite"


def build_assets(project: DagsterProject) -> list[dg.AssetsDefinition]:
    horizon = project.settings.horizon

    @project.live_asset(
        GROUP,
        ins={
            # predictions made h trading days (and up to the health window) before the run's days ...
            "daily_predictions": dg.AssetIn(
                partition_mapping=dg.TimeWindowPartitionMapping(
                    start_offset=-(horizon + HEALTH_WINDOW), end_offset=-horizon
                ),
                metadata={"columns": ["date", "ticker", "score", "source"]},
            ),
            # ... whose targets matured in the run's days or the window before them
            "targets": dg.AssetIn(partition_mapping=dg.TimeWindowPartitionMapping(start_offset=-HEALTH_WINDOW)),
        },
    )
    def model_health(
        context: dg.AssetExecutionContext,
        model_store: ModelStore,
        daily_predictions: pd.DataFrame,
        targets: pd.DataFrame,
    ) -> pd.DataFrame:
        """Realized rank IC of the ranking model once its 21-day labels mature, rolling 3-month IC, trend and status
        ("no model" while there is no production ranking model: the scores then come from the rules)."""
        from axion_pipeline.ml.serving import realized_health

        out = realized_health(daily_predictions, targets, project.trading_days_in(*window(context)), MONITORING)
        no_model = no_model_reason(model_store)
        if no_model is not None:  # rule scores are not a model's: nothing to judge, nothing to retrain
            out = out.assign(status="no model", reason=no_model, needs_retraining=False)
        last = out.iloc[-1] if len(out) else None
        add_metadata(
            context,
            {
                **frame_metadata(out, key_column=None),
                "matured_predictions": int(out["ic"].notna().sum()),
                "latest_status": str(last["status"]) if last is not None else "none",
                "latest_rolling_ic_3m": None
                if last is None or pd.isna(last["rolling_ic_3m"])
                else float(last["rolling_ic_3m"]),
                "needs_retraining": bool(last["needs_retraining"]) if last is not None else False,
            },
        )
        return out

    @project.live_asset(GROUP, ins={"features": dg.AssetIn(), "drift_reference": dg.AssetIn()})
    def drift_report(
        context: dg.AssetExecutionContext,
        model_store: ModelStore,
        features: pd.DataFrame,
        drift_reference: pd.DataFrame,
    ) -> pd.DataFrame:
        """PSI of each model feature per day against the production model's training sample
        (0.1 warning, 0.25 drift)."""
        from axion_pipeline.analytics.plots import plot_psi_bars, to_markdown_image
        from axion_pipeline.ml.drift import DegradationDetector
        from axion_pipeline.ml.serving import drift_rows

        start, end = window(context)
        require_rows(features, "features", start, end)
        if drift_reference.empty:  # no production ranking model was trained: no reference to drift from
            context.log.warning("drift_reference is empty (no production ranking model): nothing to compare")
            add_metadata(context, {"status": "no model", "reason": no_model_reason(model_store)})
            return pd.DataFrame(
                {
                    "date": pd.Series(dtype="datetime64[ns]"),
                    "feature": pd.Series(dtype=object),
                    "psi": pd.Series(dtype="float64"),
                    "status": pd.Series(dtype=object),
                    "overall_drift": pd.Series(dtype=bool),
                }
            )
        out, last = drift_rows(DegradationDetector(MONITORING), drift_reference, features)
        psi = pd.Series(last["psi"]).sort_values(ascending=False)
        add_metadata(
            context,
            {
                **frame_metadata(out, key_column=None),
                "latest_date": last["date"],
                "latest_overall_drift": last["overall_drift"],
                "latest_drifted_features": last["drifted_features"],
                "latest_level_shifts": last["level_shifts"],
                "days_with_drift": int(out.groupby("date")["overall_drift"].first().sum()),
                "date_level_columns_not_scored": last["date_level"],
                "psi_latest": dg.MetadataValue.md(to_markdown_image(plot_psi_bars(psi), f"PSI on {last['date']}")),
            },
        )
        return out

    @project.live_asset(GROUP, kinds={"shap", "duckdb"}, ins={"features": dg.AssetIn()})
    def shap_explanations(
        context: dg.AssetExecutionContext, model_store: ModelStore, features: pd.DataFrame
    ) -> pd.DataFrame:
        """Every ticker's top SHAP contributions to its ML score per day, in long form (why a stock ranks where it
        does)."""
        from axion_pipeline.analytics.plots import plot_shap_summary, to_markdown_image
        from axion_pipeline.ml.feature_inputs import from_long
        from axion_pipeline.ml.serving import explain_rankings, production_predictor

        start, end = window(context)
        require_rows(features, "features", start, end)
        predictor = production_predictor(load_production(model_store), names=("ranking",))
        out, info = explain_rankings(predictor, from_long(features), SHAP_TOP_K)
        if out is None:  # no model, or one refused on load or on these features: the scores came from the rules
            status = model_status_metadata(predictor, "ranking")
            context.log.warning(f"no SHAP explanations (predictions use the rule scores): {info['reason']}")
            add_metadata(context, {"status": "no explanations", "reason": info["reason"], **status})
            return SHAP_COLUMNS.copy()
        wide, method = info["wide"], info["method"]
        add_metadata(
            context,
            {
                **frame_metadata(out),
                "method": method,
                "top_k_per_ticker": SHAP_TOP_K,
                "model_version": predictor.get_model_status()["ranking"]["version"],
                "most_frequent_top_feature": markdown_table(
                    out.loc[out["rank"] == 1, "feature"]
                    .value_counts()
                    .head(10)
                    .rename_axis("feature")
                    .reset_index(name="ticker_days")
                ),
                "shap_summary_latest": dg.MetadataValue.md(
                    to_markdown_image(plot_shap_summary(wide), "mean |SHAP| latest day")
                ),
            },
        )
        return out

    return [model_health, drift_report, shap_explanations]
