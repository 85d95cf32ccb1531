"""Asset checks of serving and monitoring: universe coverage, score range, SHAP additivity, health present."""

from collections.abc import Iterator

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.defs.adapters.partition_results import partition_results
from axion_pipeline.defs.common import WAREHOUSE_POOL, only, window
from axion_pipeline.defs.inference.assets import load_production
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore

SHAP_SAMPLE_ROWS = 25


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    @dg.asset_check(
        pool=WAREHOUSE_POOL,
        asset="daily_predictions",
        partitions_def=project.live_days,
        blocking=True,
        additional_ins={"features": only("date", "ticker")},
    )
    def predictions_cover_universe(
        context: dg.AssetCheckExecutionContext, daily_predictions: pd.DataFrame, features: pd.DataFrame
    ) -> Iterator:
        """Every (date, ticker) with features has a prediction (ML or rule fallback), none extra."""
        want = set(zip(features["date"], features["ticker"]))
        got = set(zip(daily_predictions["date"], daily_predictions["ticker"]))
        result = dg.AssetCheckResult(
            passed=want == got,
            metadata={
                "expected": len(want),
                "predicted": len(got),
                "missing": len(want - got),
                "extra": len(got - want),
            },
        )
        yield from partition_results(context, result, {d for d, _ in want ^ got})

    @dg.asset_check(pool=WAREHOUSE_POOL, asset="hybrid_scores", partitions_def=project.live_days, blocking=True)
    def hybrid_scores_within_unit_interval(
        context: dg.AssetCheckExecutionContext, hybrid_scores: pd.DataFrame
    ) -> Iterator:
        """Hybrid scores are finite percentiles in [0, 1]."""
        values = hybrid_scores["hybrid_score"].to_numpy(dtype="float64")
        bad = ~np.isfinite(values) | (values < 0) | (values > 1)
        result = dg.AssetCheckResult(passed=not bad.any(), metadata={"bad_values": int(bad.sum()), "rows": len(values)})
        yield from partition_results(context, result, hybrid_scores.loc[bad, "date"])

    @dg.asset_check(
        pool=WAREHOUSE_POOL,
        asset="shap_explanations",
        partitions_def=project.live_days,
        additional_ins={"features": dg.AssetIn()},
    )
    def shap_values_add_up(
        context: dg.AssetCheckExecutionContext,
        model_store: ModelStore,
        shap_explanations: pd.DataFrame,
        features: pd.DataFrame,
    ) -> Iterator:
        """On a sample of rows, all features' contributions sum to score - base value (1e-6) and the
        stored scores equal the model's prediction."""
        from axion_pipeline.ml.explain import ModelExplainer
        from axion_pipeline.ml.feature_inputs import from_long

        if shap_explanations.empty:  # no usable production model: the asset explained nothing (its status says why)
            result = dg.AssetCheckResult(passed=True, metadata={"rows": 0, "note": "no explanations to check"})
            yield from partition_results(context, result)
            return
        model, _ = load_production(model_store)("ranking_model")
        X = from_long(features)[model.feature_names]
        sample = X.iloc[np.linspace(0, len(X) - 1, min(SHAP_SAMPLE_ROWS, len(X))).astype(int)]
        contrib, base, score, method = ModelExplainer().contributions(model, sample)
        gap = float(np.max(np.abs(contrib.to_numpy().sum(axis=1) - (np.asarray(score) - np.asarray(base)))))
        predicted = model.predict(sample)["score"].to_numpy()
        stored = shap_explanations.drop_duplicates(["date", "ticker"]).set_index(["date", "ticker"])["score"]
        stored = stored.reindex(
            pd.MultiIndex.from_arrays([sample.index.get_level_values(0), sample.index.get_level_values(1)])
        ).to_numpy()
        score_gap = float(np.nanmax(np.abs(stored - predicted)))
        result = dg.AssetCheckResult(
            passed=gap < 1e-6 and score_gap < 1e-9,
            metadata={
                "max_additivity_gap": gap,
                "max_stored_score_gap": score_gap,
                "rows": len(sample),
                "method": method,
            },
        )
        yield from partition_results(context, result)

    @dg.asset_check(pool=WAREHOUSE_POOL, asset="model_health", partitions_def=project.live_days, blocking=True)
    def health_status_present(context: dg.AssetCheckExecutionContext, model_health: pd.DataFrame) -> Iterator:
        """One health row with a status for every trading day of the window."""
        days = set(project.trading_days_in(*window(context)))
        present = set(pd.to_datetime(model_health.dropna(subset=["status"])["date"]))
        metadata = {"days": len(days), "missing": len(days - present)}
        result = dg.AssetCheckResult(passed=days <= present, metadata=metadata)
        yield from partition_results(context, result, days - present)

    return [predictions_cover_universe, hybrid_scores_within_unit_interval, shap_values_add_up, health_status_present]
