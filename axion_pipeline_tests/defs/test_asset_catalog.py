"""What the Dagster UI shows of every asset without running anything: owners and tags per group."""

from __future__ import annotations

import dagster as dg

from axion_pipeline.defs.common import CADENCES, GROUPS


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
