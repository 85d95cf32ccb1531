"""Resources: the market data source (generated market or real files) and the warehouse."""

from __future__ import annotations

from functools import lru_cache
from typing import Optional

import dagster as dg

from axion_pipeline.data.contracts import MarketData
from axion_pipeline.settings import get_settings


@lru_cache(maxsize=2)
def _load_market(data_dir, seed, n_tickers, start, end, reporting_lag_days, max_reject_share) -> MarketData:
    if data_dir:
        from axion_pipeline.data.sources import load_source

        return load_source(data_dir, reporting_lag_days=reporting_lag_days, max_reject_share=max_reject_share)
    from axion_pipeline.data.simulator import SimulationConfig, simulate_market

    return simulate_market(SimulationConfig(seed=seed, n_tickers=n_tickers, start=start, end=end))


class MarketDataSource(dg.ConfigurableResource):
    """Where market data comes from: real files under ``data_dir`` or, when unset, the generated market.

    The whole source is loaded once per process and cached; assets slice it by partition.
    """

    data_dir: Optional[str] = None
    seed: int = 7
    n_tickers: int = 300
    start: str = "2017-01-02"
    end: str = "2024-12-31"
    reporting_lag_days: int = 90
    max_reject_share: float = 0.05

    def load(self) -> MarketData:
        return _load_market(
            self.data_dir, self.seed, self.n_tickers, self.start, self.end,
            self.reporting_lag_days, self.max_reject_share,
        )

    @property
    def is_real(self) -> bool:
        return bool(self.data_dir)


def default_market_source() -> MarketDataSource:
    s = get_settings()
    return MarketDataSource(
        data_dir=s.data_dir, seed=s.sim_seed, n_tickers=s.sim_tickers, start=s.sim_start, end=s.sim_end
    )


class Warehouse(dg.ConfigurableResource):
    """Read access to the DuckDB warehouse (parameterised queries, in the warehouse's turn): for
    sensors, checks, and the ranking models' read of only the feature rows they use. The I/O
    manager handles asset storage and the other inputs."""

    path: str

    def count_non_finite(self, schema: str, table: str, where: str = "", params: list | None = None) -> dict[str, int]:
        from axion_pipeline.warehouse import count_non_finite

        return count_non_finite(self.path, schema, table, where, params)

    def read(self, schema: str, table: str, where: str = "", params: list | None = None,
             columns: list[str] | None = None):
        from axion_pipeline.warehouse import read_table

        return read_table(self.path, schema, table, where, params, columns)
