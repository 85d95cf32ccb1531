"""The model store as a table: every stored model, its windows, metrics and native artefact text."""

import dagster as dg
import pandas as pd

from axion_pipeline.defs.common import WAREHOUSE_POOL, add_metadata, group_attributes, markdown_table
from axion_pipeline.defs.project import DagsterProject
from axion_pipeline.defs.resources import ModelStore
from axion_pipeline.defs.training.models import FOLD_ASSET_KEYS, GROUP


def build_store(project: DagsterProject) -> dg.AssetsDefinition:
    fold_keys = project.folds.get_partition_keys()  # none when no walk-forward plan fits the history

    @dg.asset(
        **group_attributes(GROUP, "whole-history"),
        kinds={"duckdb"},
        metadata={"schema": GROUP},
        pool=WAREHOUSE_POOL,
        deps=[
            *[dg.AssetDep(key, partition_mapping=dg.AllPartitionMapping()) for key in FOLD_ASSET_KEYS],
            dg.AssetDep("production_models"),
        ],
    )
    def model_store(context: dg.AssetExecutionContext, model_store: ModelStore) -> pd.DataFrame:
        """Every stored model (per fold and every production version): windows, metrics, feature names, SHA-256 and the
        artefacts' text (LightGBM text, XGBoost/sklearn JSON), one row per model; a model the data could not train
        is a row with status "skipped: <reason>"."""
        from axion_pipeline.ml.model_store import catalog_models

        table = catalog_models(model_store.path, fold_keys)
        if table.empty:  # every model skipped, or nothing trained yet: an empty catalogue, said so
            context.log.warning(f"no stored model under {model_store.path}")
        counts = table.groupby(["model_name", "kind"]).size().rename("models").reset_index()
        add_metadata(
            context,
            {
                "root": str(model_store.path),
                "unverified": int((~table["verified"] & (table["status"] == "trained")).sum()),
                "skipped": markdown_table(
                    table.loc[table["status"] != "trained", ["model_name", "kind", "version", "status"]]
                ),
                "model_text_mb": round(float(table["model_text"].str.len().sum()) / 1e6, 2),
                "by_model": markdown_table(counts),
                "query": dg.MetadataValue.md(
                    "`select model_name, kind, version, test_start, metrics from training.model_store`"
                ),
            },
        )
        return table

    return model_store
