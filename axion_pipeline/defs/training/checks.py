"""Asset checks of the training group: purged and disjoint fold windows, a ranking model chosen on
no later validation slice, full test coverage, the
production cutoff, and a warning when the model loses to a baseline. No NaN/inf model inputs is
enforced inside training itself: an infinite feature fails the run with the column names
(``require_finite``); missing values are LightGBM's / the models' documented missing-value
handling and their share is in the metadata."""

import dagster as dg
import numpy as np
import pandas as pd

from axion_pipeline.defs.common import WAREHOUSE_POOL
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore
from axion_pipeline.ml.model_store import STORE_NAMES

MIN_DAY_COVERAGE = 0.95


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    plan = project.plan
    per_fold = dict(pool=WAREHOUSE_POOL, asset="ranking_model", partitions_def=project.folds)

    @dg.asset_check(blocking=True, **per_fold)
    def fold_windows_disjoint(
        context: dg.AssetCheckExecutionContext, ranking_model: pd.DataFrame, model_store: ModelStore
    ) -> dg.AssetCheckResult:
        """Train, validation and test windows of the fold are ordered and purged (>= gap trading days apart), test
        windows of all folds are disjoint, and the stored model was fitted, and scored, inside them."""
        from axion_pipeline.ml.datasets import overlapping_tests, window_violations

        key = context.partition_key
        window = plan.window(key)
        skipped = model_store.fold_skipped("ranking_model", key)
        if skipped is not None and ranking_model.empty:  # no model: the plan's windows are still checked
            meta, fitted = None, None
        else:  # a model that should be there and is not (or is broken) fails loudly here
            meta = model_store.fold_metadata("ranking_model", key)
            fitted = (meta.train_start, meta.train_end)
        problems = window_violations(
            plan.calendar,
            window,
            plan.config.gap + plan.config.embargo,
            fitted=fitted,
            test_dates=ranking_model["date"],
        )
        problems += overlapping_tests(list(plan.windows))
        if window.test_end >= plan.live_start:
            problems.append(f"{key}: test window reaches into the live span starting {plan.live_start.date()}")
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={
                "problems": problems[:20],
                "window": window.to_dict(),
                "fitted": f"{meta.train_start} .. {meta.train_end}" if meta else f"skipped: {skipped['reason']}",
                "gap": plan.config.gap,
                "embargo": plan.config.embargo,
            },
        )

    @dg.asset_check(blocking=True, **per_fold)
    def ranking_selection_sees_no_later_slice(
        context: dg.AssetCheckExecutionContext, model_store: ModelStore
    ) -> dg.AssetCheckResult:
        """The fold's tree size and rounds were chosen on validation slices that end on or before its own training
        end (its own and earlier folds'), never on a later fold's, whose labels reach into this fold's test window."""
        key = context.partition_key
        window = plan.window(key)
        skipped = model_store.fold_skipped("ranking_model", key)
        if skipped is not None:  # no model, no choice to check
            return dg.AssetCheckResult(passed=True, metadata={"model": f"skipped: {skipped['reason']}"})
        meta = model_store.fold_metadata("ranking_model", key)
        selection = meta.extra.get("ranking_selection") or {}
        used = list(selection.get("selection_windows") or [])
        later = [k for k in used if k not in plan.keys or plan.window(k).train_end > window.train_end]
        return dg.AssetCheckResult(
            passed=not later,
            metadata={
                "selection_windows": ", ".join(used) or "none (no validation slice)",
                "later_slices": ", ".join(later) or "none",
                "num_leaves": selection.get("num_leaves"),
                "rounds": selection.get("rounds"),
                "pooled_validation_ic": selection.get("pooled_validation_ic"),
            },
        )

    @dg.asset_check(**per_fold)
    def ranking_predictions_cover_test_window(
        context: dg.AssetCheckExecutionContext, ranking_model: pd.DataFrame, model_store: ModelStore
    ) -> dg.AssetCheckResult:
        """Every trading day of the test window is scored, each day with >= 95% of the window's largest daily cross-
        section, and every score is finite and in [0, 1]; nothing to cover when the fold's model was skipped (its
        reason is in the metadata, serving uses the rules)."""
        window = plan.window(context.partition_key)
        skipped = model_store.fold_skipped("ranking_model", context.partition_key)
        if skipped is not None and ranking_model.empty:
            return dg.AssetCheckResult(passed=True, metadata={"model": f"skipped: {skipped['reason']}"})
        expected = plan.calendar[(plan.calendar >= window.test_start) & (plan.calendar <= window.test_end)]
        per_day = ranking_model.groupby("date").size().reindex(expected, fill_value=0)
        scores = ranking_model["score"].to_numpy(dtype="float64")
        bad_scores = int((~np.isfinite(scores) | (scores < 0) | (scores > 1)).sum())
        missing_days = [str(d.date()) for d in per_day.index[per_day == 0]]
        thin_days = [str(d.date()) for d in per_day.index[(per_day > 0) & (per_day < MIN_DAY_COVERAGE * per_day.max())]]
        passed = len(ranking_model) > 0 and not missing_days and not thin_days and bad_scores == 0
        return dg.AssetCheckResult(
            passed=passed,
            metadata={
                "test_days": len(expected),
                "missing_days": missing_days[:20],
                "thin_days": thin_days[:20],
                "invalid_scores": bad_scores,
                "min_tickers_per_day": int(per_day.min()),
                "max_tickers_per_day": int(per_day.max()),
            },
        )

    @dg.asset_check(pool=WAREHOUSE_POOL, asset="production_models", blocking=True)
    def production_models_respect_cutoff(
        production_models: pd.DataFrame, model_store: ModelStore
    ) -> dg.AssetCheckResult:
        """Every production model (the version LATEST names) was trained on data ending at or before the production
        cutoff, which precedes the live span by the gap; a skipped model has no LATEST."""
        cutoff, live_start = plan.production_cutoff, plan.live_start
        problems = []
        for name in STORE_NAMES:
            rows = production_models.loc[production_models["model_name"] == name]
            latest = model_store.production_version(name)
            if len(rows) == 1 and str(rows["status"].iloc[0]).startswith("skipped"):
                if latest is not None:
                    problems.append(f"{name}: skipped, yet LATEST still names {latest}")
                continue
            if rows.empty or latest != rows["version"].iloc[0]:
                problems.append(f"{name}: LATEST is {latest}, the table lists {rows['version'].tolist()}")
                continue
            fitted_end = model_store.load_production(name).metadata.train_end
            if (
                fitted_end is None
                or pd.Timestamp(fitted_end) > cutoff
                or pd.Timestamp(rows["train_end"].iloc[0]) > cutoff
            ):
                problems.append(f"{name}: trained up to {fitted_end}, after the cutoff {cutoff.date()}")
        gap_days = int(((plan.calendar > cutoff) & (plan.calendar < live_start)).sum())
        if gap_days < plan.config.gap:
            problems.append(
                f"only {gap_days} trading days between the cutoff and the live span, need {plan.config.gap}"
            )
        return dg.AssetCheckResult(
            passed=not problems,
            metadata={
                "problems": problems,
                "production_cutoff": str(cutoff.date()),
                "live_start": str(live_start.date()),
                "gap_days": gap_days,
            },
        )

    @dg.asset_check(pool=WAREHOUSE_POOL, asset="model_vs_baselines")
    def model_does_not_lose_to_a_baseline(model_vs_baselines: pd.DataFrame) -> dg.AssetCheckResult:
        """Warns when the ranking model's out-of-sample IC is significantly below another signal's on the same dates
        (paired Newey-West t at or below minus the configured significant t, default 2): the rule composite, a
        category, a one-factor baseline or the Alpha158 reference does better than the model."""
        from axion_pipeline.defs.common import markdown_table

        table = model_vs_baselines
        if table.empty or "diff_tstat_nw" not in table:
            return dg.AssetCheckResult(
                passed=False,
                severity=dg.AssetCheckSeverity.WARN,
                metadata={"problem": "no paired test: the model evaluation was skipped (see its status)"},
            )
        losses = table.loc[table["verdict"] == "loses"]
        return dg.AssetCheckResult(
            passed=losses.empty,
            severity=dg.AssetCheckSeverity.WARN,
            metadata={
                "loses_to": losses["baseline"].tolist(),
                "beats": table.loc[table["verdict"] == "beats", "baseline"].tolist(),
                "paired_tests": markdown_table(table[["baseline", "kind", "diff_mean", "diff_tstat_nw", "verdict"]]),
            },
        )

    return [
        fold_windows_disjoint,
        ranking_selection_sees_no_later_slice,
        ranking_predictions_cover_test_window,
        production_models_respect_cutoff,
        model_does_not_lose_to_a_baseline,
    ]
