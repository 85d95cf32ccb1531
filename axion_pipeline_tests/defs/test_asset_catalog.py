"""What the Dagster UI shows of every asset without running anything: owners and tags per group, the
serving assets' freshness policy, and definitions that load without Dagster's beta, preview or
deprecation warnings."""

from __future__ import annotations

import datetime as dt
import warnings

import dagster as dg
import pandas as pd
import pytest

from axion_pipeline.defs.common import CADENCES, GROUPS


def test_building_the_definitions_warns_nothing_from_dagster(settings):
    """The APIs Dagster marks beta or preview that the project needs are accepted where they are
    called (their warning filtered there, by message); nothing else may warn."""
    from axion_pipeline.definitions import build_definitions

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")  # over pytest's filterwarnings, which ignore these categories
        build_definitions(settings).get_repository_def()
    dagster_warnings = [
        f"{w.category.__name__}: {w.message} ({w.filename}:{w.lineno})"
        for w in caught
        if issubclass(w.category, (dg.BetaWarning, dg.PreviewWarning, DeprecationWarning))
        and ("dagster" in w.filename or issubclass(w.category, (dg.BetaWarning, dg.PreviewWarning)))
    ]
    assert not dagster_warnings, "\n".join(dagster_warnings)


def test_every_asset_has_its_groups_owner_and_layer_and_a_cadence(defs):
    specs = list(defs.resolve_all_asset_specs())
    assert {s.group_name for s in specs} == set(GROUPS)
    for spec in specs:
        name = spec.key.to_user_string()
        group = GROUPS[spec.group_name]
        assert spec.owners == [group.owner], name
        assert spec.tags.get("layer") == group.layer, name
        assert spec.tags.get("cadence") in CADENCES, name
        partitioned = spec.partitions_def is not None
        expected = {"trading": "daily", "fold": "per-fold"}
        if partitioned:
            kind = "trading" if isinstance(spec.partitions_def, dg.TimeWindowPartitionsDefinition) else "fold"
            assert spec.tags["cadence"] == expected[kind], name
        else:
            assert spec.tags["cadence"] in ("whole-history", "on-demand"), name


def _serving(specs) -> list:
    from axion_pipeline.defs.project import SERVING_GROUPS

    return [s for s in specs if s.group_name in SERVING_GROUPS]


def test_a_finished_history_gets_no_freshness_policy_and_says_why(defs):
    """The small generated market ended in 2023: no newer day will come, so a policy on the age of
    the last materialization would turn red with nothing wrong."""
    specs = list(defs.resolve_all_asset_specs())
    serving = _serving(specs)
    assert {s.key.to_user_string() for s in serving} >= {"daily_predictions", "hybrid_scores", "model_health"}
    for spec in specs:
        assert spec.freshness_policy is None, spec.key
    for spec in serving:
        assert "Freshness: no policy. The history ended on 2023-06-30" in spec.description, spec.key
    hybrid = next(s for s in serving if s.key == dg.AssetKey("hybrid_scores"))
    assert hybrid.description.startswith("Blend of the rule composite and the ML score")  # the docstring, then the note


def test_a_live_history_gives_the_serving_assets_a_freshness_policy(settings, monkeypatch):
    from axion_pipeline.definitions import build_definitions
    from axion_pipeline.defs import project

    monkeypatch.setattr(project, "FINISHED_AFTER", dt.timedelta(days=100 * 365))  # 2023 counts as live
    specs = list(build_definitions(settings).resolve_all_asset_specs())
    serving = {s.key for s in _serving(specs)}
    for spec in specs:
        if spec.key in serving:
            assert spec.freshness_policy == dg.FreshnessPolicy.time_window(
                fail_window=dt.timedelta(hours=102), warn_window=dt.timedelta(hours=78)
            ), spec.key
            assert "Freshness: The daily schedule materializes this asset every weekday" in spec.description
        else:
            assert spec.freshness_policy is None, spec.key


@pytest.mark.parametrize(
    ("now", "live"),
    [("2024-12-31 10:00", True), ("2025-01-07 00:00", True), ("2025-01-07 00:00:01", False), ("2026-06-01", False)],
)
def test_serving_freshness_is_for_a_history_whose_last_day_is_within_a_week(now, live):
    from axion_pipeline.defs.project import serving_freshness

    calendar = pd.bdate_range("2024-12-02", "2024-12-31")
    policy, note = serving_freshness(calendar, now=pd.Timestamp(now))
    assert (policy is not None) == live
    assert note.startswith("Freshness: ")
