"""The column registry knows every column the library writes: the fixed tables column for column,
every factor and every feature name its rules generate, and lineage only to columns that exist.
(Every stored table of a whole build is checked against it in ``defs/test_serving.py``.)"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.storage.columns import TABLES, describe, feature_column, fixed_columns, sources


def _duckdb(dtype) -> str:
    from axion_pipeline.defs.io_manager import _duckdb_type

    return _duckdb_type(pd.Series(dtype=dtype).dtype)


def _library_columns() -> dict[str, list[str]]:
    """Table -> its columns as the library names them, for every fixed table with such a list."""
    from axion_pipeline.data import contracts as c
    from axion_pipeline.data.quality import NOTE_COLUMNS
    from axion_pipeline.defs.training.production import PRODUCTION_COLUMNS
    from axion_pipeline.factor_engine.regime import INDICATOR_COLUMNS
    from axion_pipeline.ml.model_store import CATALOG_COLUMNS
    from axion_pipeline.ml.regime_features import REGIME_FEATURE_COLUMNS
    from axion_pipeline.ml.serving import EARNINGS_PREDICTION_COLUMNS
    from axion_pipeline.ml.training import CURVE_COLUMNS

    return {
        "prices": c.PRICE_COLUMNS,
        "market_series": c.MARKET_SERIES_COLUMNS,
        "fundamentals": c.FUNDAMENTAL_COLUMNS,
        "sectors": c.SECTOR_COLUMNS,
        "earnings_events": c.EARNINGS_COLUMNS,
        "universe": c.UNIVERSE_COLUMNS,
        "rejected_rows": c.REJECTED_COLUMNS,
        "source_notes": NOTE_COLUMNS,
        "true_regimes": c.TRUE_REGIME_COLUMNS,
        "regime_features": ["date", *REGIME_FEATURE_COLUMNS],
        "market_regime": ["date", "regime", *INDICATOR_COLUMNS, *(f"weight_{k}" for k in c.CATEGORIES)],
        "earnings_predictions": EARNINGS_PREDICTION_COLUMNS,
        "production_models": PRODUCTION_COLUMNS,
        "model_store": CATALOG_COLUMNS,
        "ranking_validation": CURVE_COLUMNS,
    }


def _library_dtypes() -> dict[str, dict[str, str]]:
    """Table -> column -> DuckDB type, for the fixed tables whose empty frame the library types."""
    from axion_pipeline.defs.monitoring.assets import SHAP_COLUMNS
    from axion_pipeline.defs.training.evaluation import EMPTY_COLUMNS
    from axion_pipeline.ml.training import empty_predictions

    frames = {name: empty_predictions(name) for name in ("ranking_model", "earnings_model", "factor_timing_model")}
    frames["alpha158_reference"] = empty_predictions("alpha158_reference")
    frames["shap_explanations"] = SHAP_COLUMNS
    out = {name: {col: _duckdb(dtype) for col, dtype in frame.dtypes.items()} for name, frame in frames.items()}
    out.update({name: {col: _duckdb(dtype) for col, dtype in cols.items()} for name, cols in EMPTY_COLUMNS.items()})
    return out


def test_every_table_column_has_a_description():
    for table, spec in TABLES.items():
        for column, (_, text) in spec.columns.items():
            assert len(text) > 12 and text.endswith("."), (table, column, text)


@pytest.mark.parametrize("table", sorted(_library_columns()))
def test_fixed_tables_list_the_librarys_columns_in_order(table):
    assert list(fixed_columns(table)) == list(_library_columns()[table])


@pytest.mark.parametrize("table", sorted(_library_dtypes()))
def test_fixed_tables_have_the_types_of_the_librarys_empty_frames(table):
    assert fixed_columns(table) == _library_dtypes()[table]


def test_every_sub_factor_of_the_registry_is_described_with_its_formula():
    from axion_pipeline.factors.registry import create_default_registry

    for category, calculator in create_default_registry():
        for sub in calculator.sub_factors():
            text = describe("factor_scores", sub.name)
            assert text.startswith(f"{category.capitalize()} sub-factor score") and sub.formula in text, sub.name


def _raw_panel(columns: list[str], n_dates: int = 70, n_symbols: int = 8) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    dates = pd.bdate_range("2023-01-02", periods=n_dates)
    idx = pd.MultiIndex.from_product([dates, [f"S{i}" for i in range(n_symbols)]], names=["date", "symbol"])
    return pd.DataFrame(rng.random((len(idx), len(columns))), index=idx, columns=columns)


@pytest.mark.parametrize(
    "config",
    [{}, {"lag_periods": [3], "rolling_windows": [10, 40], "step_columns": []}],
    ids=["default", "other lags and windows"],
)
def test_every_feature_the_engineer_builds_is_described_with_its_sources(config):
    """Built by the library on random inputs with every factor and macro column the asset passes."""
    from axion_pipeline.ml.config import FeatureConfig
    from axion_pipeline.ml.feature_inputs import FEATURE_INPUT_COLUMNS, feature_panel
    from axion_pipeline.ml.regime_features import REGIME_FEATURE_COLUMNS

    raw = _raw_panel(FEATURE_INPUT_COLUMNS)
    dates = raw.index.get_level_values("date").unique()
    macro = pd.DataFrame(np.random.default_rng(1).random((len(dates), 10)), index=dates, columns=REGIME_FEATURE_COLUMNS)
    sectors = pd.Series({f"S{i}": f"sector{i % 3}" for i in range(8)})
    panel = feature_panel(raw, macro=macro, sectors=sectors, config=FeatureConfig(**config), start=dates[-1])
    assert len(panel.columns) > 100
    for column in panel.columns:
        found = feature_column(column)
        assert found is not None and found[0], column
        text, upstream = found
        for table, name in upstream:
            assert name in text or table == "sectors", (column, text)
            assert describe(table, name), (column, table, name)
    assert describe("features", "value_rank_x") is None and describe("prices", "adjusted_close") is None


def test_lineage_names_columns_the_registry_knows():
    from axion_pipeline.storage.columns import LINEAGE

    for table, columns in LINEAGE.items():
        for column, upstream in columns.items():
            assert describe(table, column), (table, column)
            for up_table, up_column in upstream:
                assert describe(up_table, up_column), (table, column, up_table, up_column)
    assert sources("hybrid_scores", "hybrid_score") == [("factor_scores", "composite"), ("daily_predictions", "score")]
    assert sources("features", "momentum_sector_rank") == [("factor_scores", "momentum"), ("sectors", "sector")]
    assert sources("drift_reference", "beta_x_sp500_return_60d") == [("features", "beta_x_sp500_return_60d")]
    assert sources("daily_predictions", "score") == []  # a model's output: no column lineage claimed
