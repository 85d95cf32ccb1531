"""The ``hybrid_scores`` asset turns ML on only when the walk-forward report shows an out-of-sample
IC and a Newey-West t-statistic of it that both reach the configured minimums, and says which
condition failed. The asset is invoked directly on hand-made inputs (no warehouse needed)."""

from __future__ import annotations

import dagster as dg
import numpy as np
import pandas as pd
import pytest

T = [f"T{i}" for i in range(5)]


@pytest.fixture(scope="module")
def hybrid_asset():
    from axion_pipeline.defs.inference.assets import build_assets
    from axion_pipeline.defs.project import DagsterProject
    from axion_pipeline_tests.defs.conftest import small_settings

    project = DagsterProject.from_settings(small_settings("unused.duckdb"))
    asset = next(a for a in build_assets(project) if a.key.path[-1] == "hybrid_scores")
    return asset, project.live_keys()[0]


def _run(hybrid_asset, report: pd.DataFrame, **config):
    from axion_pipeline.defs.config import HybridSettings

    asset, key = hybrid_asset
    day = pd.Timestamp(key)
    predictions = pd.DataFrame({"date": day, "ticker": T, "score": np.linspace(0, 1, 5), "source": "ml"})
    rules = pd.DataFrame({"date": day, "ticker": T, "composite": np.linspace(1, 0, 5)})  # the opposite order
    context = dg.build_asset_context(partition_key=key)
    out = asset(
        context=context,
        config=HybridSettings(**config),
        daily_predictions=predictions,
        factor_scores=rules,
        walk_forward_report=report,
    )
    return out, context.get_output_metadata("result")


def _report(ic: float, tstat: float) -> pd.DataFrame:
    return pd.DataFrame({"fold": ["fold_0", "all"], "ic_mean": [0.9, ic], "ic_tstat_nw": [9.0, tstat]})


@pytest.mark.parametrize(
    ("ic", "tstat", "active", "reason"),
    [
        (0.05, 2.5, True, "passed"),
        (0.01, 2.5, False, "IC 0.0100 < min_ic_for_ml 0.03"),
        (0.05, 1.5, False, "t-statistic 1.50 < min_tstat_for_ml 2"),
        (0.05, float("nan"), False, "t-statistic nan"),
    ],
)
def test_ml_is_active_only_when_ic_and_its_t_statistic_pass(hybrid_asset, ic, tstat, active, reason):
    out, meta = _run(hybrid_asset, _report(ic, tstat))
    assert out["ml_active"].all() == active and meta["ml_active"] == active
    assert meta["ml_gate"].startswith(reason) and meta["walk_forward_oos_ic"] == ic
    weights = out["ml_weight"].unique().tolist()
    assert weights == ([0.3] if active else [0.0])
    # ML off: the hybrid is the rule ranking (T0 best); on: 0.7 rule + 0.3 ML still favours T0
    assert out.set_index("ticker")["hybrid_score"].idxmax() == "T0"
    if not active:
        assert out["hybrid_score"].tolist() == out["rule_score"].tolist()


def test_the_t_minimum_is_a_run_config_field(hybrid_asset):
    out, meta = _run(hybrid_asset, _report(0.05, 1.5), min_tstat_for_ml=1.0)
    assert meta["ml_active"] and out["ml_active"].all()


def test_a_report_without_the_t_statistic_keeps_ml_off(hybrid_asset):
    """A walk-forward report written before it carried the Newey-West t shows no evidence of skill."""
    out, meta = _run(hybrid_asset, _report(0.05, 3.0).drop(columns="ic_tstat_nw"))
    assert not meta["ml_active"] and meta["ml_gate"].startswith("t-statistic nan")
    assert meta["walk_forward_oos_ic_tstat_nw"] is None
