"""Asset checks of the feature group: the leakage audit, target windows, finite values."""

from collections.abc import Iterator
from functools import partial

import dagster as dg
import pandas as pd

from axion_pipeline.data.frames import sector_map
from axion_pipeline.defs.adapters.partition_results import partition_results
from axion_pipeline.defs.common import WAREHOUSE_POOL, window
from axion_pipeline.defs.config import FeatureSettings
from axion_pipeline.defs.features.assets import FACTOR_SCORE_COLUMNS, PRICE_COLUMNS, build_features, feature_config
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import Warehouse
from axion_pipeline.factors.residual_reversal import HISTORY_DAYS as RESIDUAL_HISTORY_DAYS

AUDIT_DATES = 3


def run_feature_settings(run_config: dict | None) -> FeatureSettings:
    """The ``features`` asset's settings in a run's config (defaults when the run sets none): the
    audit must rebuild with the settings the stored rows were built with."""
    ops = (run_config or {}).get("ops") or {}
    return FeatureSettings(**((ops.get("features") or {}).get("config") or {}))


def build_checks(project: DagsterProject) -> list[dg.AssetChecksDefinition]:
    settings = project.settings
    feature_days, target_days = settings.feature_lookback_days, settings.target_lookback_days
    daily = dict(pool=WAREHOUSE_POOL, partitions_def=project.trading_days, blocking=True)

    def lookback_start(day: pd.Timestamp, days: int) -> pd.Timestamp:
        """The trading day ``days`` trading days before ``day`` (the first one when there are fewer)."""
        cal = project.calendar
        return cal[max(int(cal.searchsorted(day)) - days, 0)]

    def with_lookback(context, warehouse: Warehouse, schema: str, table: str, days: int) -> pd.DataFrame:
        """Rows of the run's window plus ``days`` trading days before it, read with a parameterised
        range query (a partitioned check's extra inputs are not widened by partition mappings)."""
        start, end = window(context)
        first = lookback_start(start, days)
        return warehouse.read(
            schema, table, "date < ?", [end.to_pydatetime()], dates=(first.to_pydatetime(), end.to_pydatetime())
        )

    @dg.asset_check(
        asset="features",
        additional_ins={"regime_features": dg.AssetIn(), "sectors": dg.AssetIn(), "universe": dg.AssetIn()},
        **daily,
    )
    def features_leakage_audit(
        context: dg.AssetCheckExecutionContext,
        warehouse: Warehouse,
        regime_features: pd.DataFrame,
        sectors: pd.DataFrame,
        universe: pd.DataFrame,
    ) -> Iterator:
        """For sampled dates t, rebuild features from inputs cut after t (membership intervals too: those
        starting after t dropped, ends after t open): stored rows must match exactly.

        Reads only the sampled dates' stored rows and each one's factor-score lookback (parameterised
        range queries), not the whole backfill: on a full history that would double the run's peak memory.
        A range run gives every day the verdict of the sampled dates (``evaluated_over`` says so)."""
        from axion_pipeline.ml.feature_inputs import from_long, macro_frame, raw_factor_frame
        from axion_pipeline.ml.leakage import audit_feature_leakage, make_truncating_builder, sample_audit_dates

        start, end = window(context)
        span = [start.to_pydatetime(), end.to_pydatetime()]
        stored_dates = warehouse.read("features", "features", "date < ?", span[1:], columns=["date"], dates=span)[
            "date"
        ]
        dates = sample_audit_dates(stored_dates, AUDIT_DATES)
        if not dates:
            reason = f"no stored feature rows in {start.date()} .. {end.date()}"
            yield from partition_results(context, dg.AssetCheckResult(passed=False, metadata={"reason": reason}))
            return
        marks = ", ".join("?" for _ in dates)
        stored = from_long(
            warehouse.read(
                "features",
                "features",
                f"date in ({marks})",
                [d.to_pydatetime() for d in dates],
                dates=(min(dates).to_pydatetime(), max(dates).to_pydatetime()),
            )
        )
        # columns empty on every stored row are another configuration's (the table keeps the union of
        # the columns ever built; these rows never had them): left out unless the rebuild fills them
        stale = [c for c in stored.columns if stored[c].isna().all()]
        stored = stored.drop(columns=stale)
        macro = macro_frame(regime_features)
        static = partial(
            build_features,
            sectors=sector_map(sectors),
            config=feature_config(run_feature_settings(context.run.run_config), feature_days),
        )

        def rebuild(t: pd.Timestamp) -> pd.DataFrame:
            # the asset's own inputs: the lookback of factor scores before t (what a partition run of t
            # loads) and regime features up to t; everything after t is cut by the audit
            first = lookback_start(t, feature_days)
            scores = warehouse.read(
                "factors",
                "factor_scores",
                columns=FACTOR_SCORE_COLUMNS,
                dates=(first.to_pydatetime(), t.to_pydatetime()),
            )
            # only t's rows are compared: built from t on (``start``), as a one-day run of t builds them;
            # the lags and rolling windows still read the lookback before t
            prices = warehouse.read(
                "market",
                "prices",
                columns=PRICE_COLUMNS,
                dates=(lookback_start(t, RESIDUAL_HISTORY_DAYS).to_pydatetime(), t.to_pydatetime()),
            )
            cut = make_truncating_builder(
                partial(static, start=t),
                raw=raw_factor_frame(scores),
                macro=macro,
                membership=universe,
                prices=prices,
            )
            rebuilt = cut(t)
            return rebuilt.drop(columns=[c for c in stale if c in rebuilt.columns and rebuilt[c].isna().all()])

        report = audit_feature_leakage(rebuild, stored, dates)
        result = dg.AssetCheckResult(
            passed=report.passed,
            metadata={
                "dates_checked": [str(d.date()) for d in report.checked_dates],
                "values_compared": report.n_values_compared,
                "leaking_columns": report.leaking_columns[:50],
            },
        )
        yield from partition_results(context, result)

    @dg.asset_check(asset="targets", additional_ins={"universe": dg.AssetIn()}, **daily)
    def targets_use_only_the_forward_window(
        context: dg.AssetCheckExecutionContext, warehouse: Warehouse, targets: pd.DataFrame, universe: pd.DataFrame
    ) -> Iterator:
        """Each sampled target at t equals the one recomputed from returns in (t, t + horizon] alone, ranked among
        the index members of t."""
        from axion_pipeline.ml.feature_inputs import NUM_QUINTILES, returns_panel
        from axion_pipeline.ml.leakage import audit_target_window, sample_audit_dates

        if targets.empty:
            # A label matures `horizon` trading days after its date: the history's first days hold none.
            first_label = project.calendar[min(settings.horizon, len(project.calendar) - 1)]
            start, end = window(context)
            early = end <= first_label
            result = dg.AssetCheckResult(
                passed=bool(early),
                metadata={
                    "dates_checked": [],
                    "reason": f"no label matures before {first_label.date()} ({settings.horizon} trading days after "
                    "the history's first day): nothing to audit in these days"
                    if early
                    else f"no targets stored for {start.date()} .. {end.date()}, where labels should have matured",
                },
            )
            yield from partition_results(context, result)
            return
        prices = with_lookback(context, warehouse, "market", "prices", target_days)
        stored = targets.set_index(["date", "ticker"])[["fwd_return", "label"]].sort_index()
        report = audit_target_window(
            returns_panel(prices),
            stored,
            settings.horizon,
            sample_audit_dates(targets["date"], AUDIT_DATES),
            NUM_QUINTILES,
            membership=universe,
        )
        result = dg.AssetCheckResult(
            passed=report.passed,
            metadata={
                "dates_checked": [str(d.date()) for d in report.checked_dates],
                "mismatches": [f"{d.date()}:{c}" for d, c in report.mismatches][:50],
            },
        )
        yield from partition_results(context, result, [d for d, _ in report.mismatches])

    @dg.asset_check(asset="features", **daily)
    def features_are_finite(context: dg.AssetCheckExecutionContext, warehouse: Warehouse) -> Iterator:
        """No +-inf anywhere in the run's model inputs (missing values are allowed and handled by the
        models; columns missing on every row are listed). Counted inside DuckDB over the run's
        dates, so a backfill is not loaded into memory."""
        start, end = window(context)
        counts = warehouse.count_non_finite(
            "features",
            "features",
            "date < ?",
            [end.to_pydatetime()],
            dates=(start.to_pydatetime(), end.to_pydatetime()),
        )
        share = counts["missing"] / counts["values"] if counts["values"] else None
        result = dg.AssetCheckResult(
            passed=counts["infinite"] == 0 and counts["rows"] > 0,
            metadata={
                "infinite_values": counts["infinite"],
                "share_missing": share,
                "rows_checked": counts["rows"],
                "all_missing_columns": counts["all_missing_columns"][:50],
            },
        )
        yield from partition_results(context, result)

    return [features_leakage_audit, targets_use_only_the_forward_window, features_are_finite]
