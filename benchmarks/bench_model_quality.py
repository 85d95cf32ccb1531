"""Out-of-sample quality of the ranking model: walk-forward rank IC per fold and overall.

Run: ``.venv/bin/python benchmarks/bench_model_quality.py [--baseline] [--no-real] [--no-write]``

Sources: the embedded generated market (default ``SimulationConfig``: 300 tickers, 2017-2024) and,
when the folder exists, the real data of ``AXION_DATA_DIR`` (default ``../shared/data``). Each is
run through the library exactly as the Dagster assets do it (``ranking_inputs``: factor scores,
regime features, features, matured 21-day targets; ``walk_forward_ranking``: ``train_ranking`` per
fold with the library's defaults) on the walk-forward windows of the project's
defaults (``AXION_WF_TRAIN_DAYS`` 504, ``AXION_WF_TEST_DAYS`` 63, ``AXION_WF_FOLDS`` 5, validation =
test size, gap 21, expanding unless ``AXION_WF_EXPANDING=0``; 300 warm-up days, 63 live days).

Every figure is out of sample: per-date Spearman IC of the score with the realised 21-day return
on the test dates only. The oracle IC (generated market only) is the rank IC of the planted
expected return on the same rows. ``--baseline`` adds the configuration before issue #5 (sliding
504-day window, category features only, ``max_features`` 100) for comparison. The table is
printed and appended to ``BENCHMARKS.md`` (``--no-write``: print only).
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from dataclasses import replace
from pathlib import Path

import pandas as pd
from _common import machine

REPO = Path(__file__).resolve().parent.parent
HORIZON, WARMUP, LIVE = 21, 300, 63


def walk_forward_config(expanding: bool):
    """The project's walk-forward settings (``AXION_WF_*``), sliding or expanding."""
    from axion_pipeline.project import ProjectSettings

    return replace(ProjectSettings.from_env().walk_forward, expanding=expanding)


def configurations(baseline: bool):
    """(name, expanding, model config, feature config, every_n) per configuration to measure."""
    from axion_pipeline.ml.config import FeatureConfig, MLConfig, RankingModelConfig

    wf = walk_forward_config(True)
    model, features, every_n = RankingModelConfig(), FeatureConfig(), MLConfig().sample_every_n_days
    out = [("current", wf.expanding, model, features, every_n)]
    if baseline:
        old = replace(features, max_features=100, rank_only_columns=[], include_regime_interactions=False)
        out.append(("before #5", False, model, old, every_n))
    return out


def measure(source: str, data, configs) -> list[dict]:
    from axion_pipeline.ml.datasets import plan_walk_forward
    from axion_pipeline.ml.feature_inputs import ranking_inputs
    from axion_pipeline.ml.training import walk_forward_ranking

    rows = []
    inputs: dict[bool, tuple] = {}
    for name, expanding, model_config, feature_config, every_n in configs:
        started = time.perf_counter()
        key = bool(feature_config.rank_only_columns or feature_config.include_regime_interactions)
        if key not in inputs:
            inputs[key] = ranking_inputs(data, feature_config)
        features, targets, calendar = inputs[key]
        build_seconds = time.perf_counter() - started
        plan = plan_walk_forward(
            calendar, walk_forward_config(expanding), horizon=HORIZON, warmup_days=WARMUP, live_days=LIVE
        )
        table, _, runs = walk_forward_ranking(
            features, targets, plan.windows, model_config, feature_config, every_n, true_alpha=data.true_alpha
        )
        seconds = {run.predictions["fold"].iloc[0]: run.info["train_seconds"] for run in runs}
        for _, r in table.iterrows():
            rows.append(
                {
                    "source": source,
                    "config": name,
                    "fold": r["fold"],
                    "test": f"{pd.Timestamp(r['test_start']).date()}..{pd.Timestamp(r['test_end']).date()}",
                    "ic": r["ic_mean"],
                    "icir": r["icir"],
                    "hit_rate": r["hit_rate"],
                    "oracle_ic": r.get("oracle_ic_mean"),
                    "ratio": r.get("model_oracle_ratio"),
                    "train_s": sum(seconds.values()) if r["fold"] == "all" else seconds.get(r["fold"]),
                }
            )
        print(
            f"{source} / {name}: features {build_seconds:.1f} s, training {sum(seconds.values()):.1f} s, "
            f"OOS IC {table.iloc[-1]['ic_mean']:.4f}",
            flush=True,
        )
    return rows


def markdown(rows: list[dict]) -> str:
    from axion_pipeline.analytics.markdown import markdown_table

    def fmt(v, digits=4):
        if v is None or (isinstance(v, float) and v != v):
            return "-"
        return f"{v:.{digits}f}" if isinstance(v, float) else str(v)

    def bold(r, text):
        return f"**{text}**" if r["fold"] == "all" else text

    header = [
        "source",
        "config",
        "fold",
        "test dates",
        "OOS IC",
        "ICIR",
        "hit rate",
        "oracle IC",
        "IC / oracle",
        "train s",
    ]
    body = [
        [
            r["source"],
            r["config"],
            bold(r, r["fold"]),
            r["test"],
            bold(r, fmt(r["ic"])),
            fmt(r["icir"], 2),
            fmt(r["hit_rate"], 2),
            fmt(r["oracle_ic"]),
            fmt(r["ratio"], 2),
            fmt(r["train_s"], 1),
        ]
        for r in rows
    ]
    return markdown_table(header, body)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", action="store_true", help="also measure the configuration before issue #5")
    parser.add_argument("--no-real", action="store_true", help="skip the real data")
    parser.add_argument("--no-write", action="store_true", help="print only, do not append to BENCHMARKS.md")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from axion_pipeline.data.simulator import SimulationConfig, simulate_market

    configs = configurations(args.baseline)
    rows = measure("generated", simulate_market(SimulationConfig()), configs)
    data_dir = Path(os.environ.get("AXION_DATA_DIR") or REPO.parent / "shared" / "data")
    if not args.no_real and data_dir.is_dir():
        from axion_pipeline.data.sources import load_source

        rows += measure("real", load_source(data_dir), configs)
    elif not args.no_real:
        print(f"real data folder {data_dir} not found: skipped", flush=True)
    table = markdown(rows)
    stamp = pd.Timestamp.now(tz="UTC").strftime("%Y-%m-%d %H:%M UTC")
    wf = walk_forward_config(True)
    section = (
        f"\n\n### Ranking model out-of-sample quality ({stamp})\n\n"
        f"Walk-forward: {wf.n_splits} folds x {wf.test_size} test days, gap {wf.gap}, validation {wf.validation_size}, "
        f"first window {wf.train_size} days (expanding in `current`, sliding in `before #5`); 300 warm-up and "
        f"63 live days kept out. IC: per-date Spearman of score vs realised 21-day return on the test dates only; "
        f"oracle: planted expected return on the same rows (generated market only). `train s`: LightGBM fit "
        f"seconds (features excluded). Machine: {machine()}.\n\n{table}\n"
    )
    print(section)
    if not args.no_write:
        with open(REPO / "BENCHMARKS.md", "a") as fh:
            fh.write(section)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
