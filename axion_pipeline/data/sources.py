"""Choose the loader for a data folder: the shared real-data layout or the generic layout.

The generated (simulated) market, used when no folder is configured, is wired in the Dagster
resource, not here.
"""

from __future__ import annotations

import os
from pathlib import Path

from axion_pipeline.data.contracts import MarketData
from axion_pipeline.data.generic import find_file, load_generic_market, looked_for
from axion_pipeline.data.real import load_real_market
from axion_pipeline.data.real_prices import PRICE_FILE

ENV_VAR = "AXION_DATA_DIR"


def detect_layout(data_dir: str | Path) -> str:
    """'shared' (``prices/all_stocks_5yr.csv.gz``), 'generic' (``prices.parquet|csv|csv.gz``) or raise."""
    root = Path(data_dir)
    if not root.is_dir():
        raise FileNotFoundError(f"data folder {root} does not exist")
    if (root / PRICE_FILE).is_file():
        return "shared"
    if find_file(root, "prices") is not None:
        return "generic"
    raise FileNotFoundError(
        f"data folder {root} holds no known layout: looked for {root / PRICE_FILE} (shared real-data layout) "
        f"and {root}/{looked_for('prices')} (generic layout, see axion_pipeline.data.generic)"
    )


def load_source(data_dir: str | Path | None, **kwargs) -> MarketData:
    """Load ``data_dir`` (default: ``$AXION_DATA_DIR``) with the loader of its layout.

    ``kwargs`` go to the loader: ``reporting_lag_days``, ``max_reject_share``, ``today``.
    """
    if data_dir is None:
        data_dir = os.environ.get(ENV_VAR) or None
    if data_dir is None:
        raise ValueError(
            f"no data folder given and {ENV_VAR} is unset; the generated market is "
            "provided by the Dagster resource, not by load_source"
        )
    layout = detect_layout(data_dir)
    loader = load_real_market if layout == "shared" else load_generic_market
    return loader(data_dir, **kwargs)
