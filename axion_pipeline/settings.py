"""Deployment settings read from the environment, shared by the library and the Dagster layer.

- ``AXION_DATA_DIR``: a folder of real data (the ``../shared/data`` layout or the generic layout of
  ``axion_pipeline.data.generic``). Unset: the generated market is used.
- ``AXION_WAREHOUSE``: the DuckDB file. Default ``warehouse/axion.duckdb`` for the generated market
  and ``warehouse/axion_real.duckdb`` for real data, so the two never mix in one table.
- ``AXION_SIM_SEED``, ``AXION_SIM_TICKERS``, ``AXION_SIM_START``, ``AXION_SIM_END``: the generated
  market's configuration (defaults 7, 300, 2017-01-02, 2024-12-31).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_SIM = {"seed": 7, "n_tickers": 300, "start": "2017-01-02", "end": "2024-12-31"}


@dataclass(frozen=True)
class Settings:
    data_dir: str | None
    warehouse: str
    sim_seed: int
    sim_tickers: int
    sim_start: str
    sim_end: str

    @property
    def uses_real_data(self) -> bool:
        return self.data_dir is not None

    @property
    def model_dir(self) -> str:
        return str(Path(self.warehouse).with_suffix("")) + "_models"


def get_settings() -> Settings:
    data_dir = os.environ.get("AXION_DATA_DIR") or None
    if data_dir is not None:
        data_dir = str(Path(data_dir).expanduser().resolve())
    default_wh = REPO_ROOT / "warehouse" / ("axion_real.duckdb" if data_dir else "axion.duckdb")
    return Settings(
        data_dir=data_dir,
        warehouse=os.environ.get("AXION_WAREHOUSE") or str(default_wh),
        sim_seed=int(os.environ.get("AXION_SIM_SEED", DEFAULT_SIM["seed"])),
        sim_tickers=int(os.environ.get("AXION_SIM_TICKERS", DEFAULT_SIM["n_tickers"])),
        sim_start=os.environ.get("AXION_SIM_START", DEFAULT_SIM["start"]),
        sim_end=os.environ.get("AXION_SIM_END", DEFAULT_SIM["end"]),
    )
