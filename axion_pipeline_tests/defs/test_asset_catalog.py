"""What the Dagster UI shows of every asset without running anything: owners and tags per group, and
definitions that load without Dagster's beta, preview or deprecation warnings."""

from __future__ import annotations

import warnings

import dagster as dg

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
