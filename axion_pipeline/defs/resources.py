"""Resources: the market data source (generated market or real files), the warehouse and the model store.

Their fields have no defaults of their own: ``build_resources`` sets them from ``ProjectSettings``.
"""

from __future__ import annotations

import shutil
from functools import lru_cache
from pathlib import Path
from typing import Any, Optional

import dagster as dg

from axion_pipeline.data.contracts import MarketData
from axion_pipeline.data.simulator.config import SimulationConfig
from axion_pipeline.project import ProjectSettings


@lru_cache(maxsize=2)
def _load_market(
    data_dir: str | None, simulation: SimulationConfig, reporting_lag_days: int, max_reject_share: float
) -> MarketData:
    if data_dir:
        from axion_pipeline.data.sources import load_source

        return load_source(data_dir, reporting_lag_days=reporting_lag_days, max_reject_share=max_reject_share)
    from axion_pipeline.data.simulator import simulate_market

    return simulate_market(simulation)


@lru_cache(maxsize=4)
def _simulation(seed: int, n_tickers: int, start: str, end: str) -> SimulationConfig:
    """The generated market's config, built (and validated: its trading days computed) once per
    process instead of on each ``load``: several steps of a run call ``load``."""
    return SimulationConfig(seed=seed, n_tickers=n_tickers, start=start, end=end)


class MarketDataSource(dg.ConfigurableResource):
    """Where market data comes from: real files under ``data_dir`` or, when unset, the generated market.

    The whole source is loaded once per process and cached; assets slice it by partition.
    """

    data_dir: Optional[str]
    seed: int
    n_tickers: int
    start: str
    end: str
    reporting_lag_days: int
    max_reject_share: float

    @classmethod
    def from_settings(cls, settings: ProjectSettings) -> MarketDataSource:
        sim = settings.simulation
        return cls(
            data_dir=settings.data_dir,
            seed=sim.seed,
            n_tickers=sim.n_tickers,
            start=sim.start,
            end=sim.end,
            reporting_lag_days=settings.reporting_lag_days,
            max_reject_share=settings.max_reject_share,
        )

    def load(self) -> MarketData:
        simulation = _simulation(self.seed, self.n_tickers, self.start, self.end)
        return _load_market(self.data_dir, simulation, self.reporting_lag_days, self.max_reject_share)

    @property
    def is_real(self) -> bool:
        return bool(self.data_dir)


class Warehouse(dg.ConfigurableResource):
    """Read access to the DuckDB warehouse (parameterised queries, in the warehouse's turn): for
    sensors, checks, and the ranking models' read of only the feature rows they use. The I/O
    manager handles asset storage and the other inputs.

    ``dates`` (first, last) keeps the rows whose ``date`` lies in that span, like the same clause in
    ``where``; given apart, it lets the Parquet warehouse (``SharedWarehouse``) open only those days'
    files of a table partitioned by ``date``."""

    path: str
    queue_wait_seconds: float

    def _store(self):
        """What the reads go to: ``storage.warehouse.WarehouseFile`` here, ``ParquetStore`` when shared."""
        from axion_pipeline.storage.warehouse import WarehouseFile

        return WarehouseFile(self.path, self.queue_wait_seconds)

    def count_non_finite(
        self, schema: str, table: str, where: str = "", params: list | None = None, dates: tuple | None = None
    ) -> dict[str, int]:
        return self._store().count_non_finite(schema, table, where, params, dates=dates)

    def count_rows(self, schema: str, table: str, by: str | None = None) -> int | dict[str, int] | None:
        """Rows of a table (per value of ``by``); None when the table does not exist."""
        return self._store().count_rows(schema, table, by)

    def read(
        self,
        schema: str,
        table: str,
        where: str = "",
        params: list | None = None,
        columns: list[str] | None = None,
        dates: tuple | None = None,
    ):
        return self._store().read(schema, table, where, params, columns, dates=dates)


class SharedWarehouse(Warehouse):
    """The ``Warehouse`` reads over the Parquet partitions of a shared folder (``storage.parquet_store``)
    instead of a DuckDB file: what steps on several machines read (``path`` is the folder; no turn is
    taken, since readers hold no lock and writers replace whole files)."""

    def _store(self):
        from axion_pipeline.storage.parquet_store import ParquetStore

        return ParquetStore(self.path)


class ModelStore(dg.ConfigurableResource):
    """Directory of trained models in native formats (layout: ``axion_pipeline.ml.model_store``).

    Fold models live under ``<name>/<fold_key>/`` and are replaced atomically on re-training;
    production models under ``<name>/production/<version>/`` with ``LATEST``; Optuna studies in
    ``hyperparameter_search/optuna.db``. Loading verifies the SHA-256 manifest and never unpickles.
    """

    root: str

    @property
    def path(self) -> Path:
        return Path(self.root)

    def fold_dir(self, name: str, fold_key: str) -> Path:
        return self.path / name / fold_key

    def save_fold(self, name: str, fold_key: str, model: Any) -> Path:
        """Save a fold's model, replacing the previous one only once the new one is complete.

        The new model is written to a staging directory; the old one is renamed aside, the staging
        directory renamed into place, then the old one deleted. A process killed at any point leaves
        a complete model under the fold's name or aside (``_settle`` puts it back), never a partial one.
        """
        target = self.fold_dir(name, fold_key)
        staging, retired = target.with_name(f".{fold_key}.staging"), target.with_name(f".{fold_key}.retired")
        self._settle(target, retired)
        shutil.rmtree(staging, ignore_errors=True)
        model.save(staging)
        if target.exists():
            target.rename(retired)
        staging.rename(target)
        shutil.rmtree(retired, ignore_errors=True)
        return target

    def remove_fold(self, name: str, fold_key: str) -> None:
        """Delete a fold's model (a model that could not be retrained on the current data)."""
        target = self.fold_dir(name, fold_key)
        for path in (target, target.with_name(f".{fold_key}.retired"), target.with_name(f".{fold_key}.staging")):
            shutil.rmtree(path, ignore_errors=True)

    def skip_fold(self, name: str, fold_key: str, reason: str, window: dict | None = None) -> Path:
        """A fold the data cannot train: its previous model is deleted (it no longer matches the data)
        and ``SKIPPED.json`` with the reason takes its place; ``save_fold`` replaces it later."""
        from axion_pipeline.ml.model_store import write_skipped

        self.remove_fold(name, fold_key)
        return write_skipped(self.fold_dir(name, fold_key), reason, window=window or {})

    def fold_skipped(self, name: str, fold_key: str) -> dict | None:
        """The fold's skip record (reason, window), or None when it was not skipped."""
        from axion_pipeline.ml.model_store import read_skipped

        return read_skipped(self.fold_dir(name, fold_key))

    @staticmethod
    def _settle(target: Path, retired: Path) -> None:
        """After a crash between the two renames of ``save_fold``: restore the retired model."""
        if retired.exists():
            if target.exists():
                shutil.rmtree(retired, ignore_errors=True)
            else:
                retired.rename(target)

    def _settled_fold_dir(self, name: str, fold_key: str) -> Path:
        target = self.fold_dir(name, fold_key)
        self._settle(target, target.with_name(f".{fold_key}.retired"))
        return target

    def load_fold(self, name: str, fold_key: str) -> Any:
        from axion_pipeline.ml.model_store import model_class

        return model_class(name).load(self._settled_fold_dir(name, fold_key))

    def fold_metadata(self, name: str, fold_key: str) -> Any:
        """A fold model's ``ModelMetadata`` (manifest and artefact hashes verified, no model parsed)."""
        from axion_pipeline.ml.base import METADATA_FILE, ModelMetadata
        from axion_pipeline.ml.model_store import model_class

        target = self._settled_fold_dir(name, fold_key)
        payload = model_class(name).read_manifest(target)
        return ModelMetadata.from_dict(payload["metadata"], source=target / METADATA_FILE)

    def save_production(self, name: str, model: Any, fingerprint: str, config: dict) -> tuple[str, Path]:
        """Save under a new ``production/<version>/``, point ``production/LATEST`` at it and drop
        the skip record of an earlier skipped training."""
        from axion_pipeline.ml.model_store import PRODUCTION, SKIPPED_FILE, save_version

        saved = save_version(self.path / name / PRODUCTION, model, fingerprint, config)
        (self.path / name / PRODUCTION / SKIPPED_FILE).unlink(missing_ok=True)
        return saved

    def retire_production(self, name: str, reason: str | None = None, window: dict | None = None) -> None:
        """Remove ``production/LATEST`` (the versions stay): serving finds no production model and uses
        its rule fallback, as after a model could not be trained on the current data. With a
        ``reason``, ``production/SKIPPED.json`` records it."""
        from axion_pipeline.ml.model_store import PRODUCTION, write_skipped

        (self.path / name / PRODUCTION / "LATEST").unlink(missing_ok=True)
        if reason is not None:
            write_skipped(self.path / name / PRODUCTION, reason, window=window or {})

    def production_version(self, name: str) -> str | None:
        from axion_pipeline.ml.model_store import PRODUCTION, read_latest

        return read_latest(self.path / name / PRODUCTION)

    def load_production(self, name: str) -> Any:
        """The production model LATEST names (verified, never unpickled); raises when there is none."""
        from axion_pipeline.ml.model_store import PRODUCTION, load_latest

        try:
            return load_latest(self.path / name / PRODUCTION, name)[0]
        except FileNotFoundError:
            raise FileNotFoundError(
                f"no production {name} in {self.path}: materialize production_models first"
            ) from None

    def hyperopt_storage(self) -> str:
        directory = self.path / "hyperparameter_search"
        directory.mkdir(parents=True, exist_ok=True)
        return f"sqlite:///{directory / 'optuna.db'}"


def build_resources(settings: ProjectSettings) -> dict[str, Any]:
    """Every resource of the code location, configured from the settings (the DuckDB warehouse)."""
    from axion_pipeline.defs.io_manager import AxionDuckDBIOManager

    return {
        "io_manager": AxionDuckDBIOManager(database=settings.warehouse, queue_wait_seconds=settings.queue_wait_seconds),
        "market_source": MarketDataSource.from_settings(settings),
        "model_store": ModelStore(root=settings.model_dir),
        "warehouse": Warehouse(path=settings.warehouse, queue_wait_seconds=settings.queue_wait_seconds),
    }


def build_shared_resources(settings: ProjectSettings, shared_root: str) -> dict[str, Any]:
    """The resources of a code location whose steps run on several machines: the warehouse as Parquet
    partitions under ``shared_root/warehouse`` and the model store under ``shared_root/models`` (a
    folder every worker mounts)."""
    from axion_pipeline.defs.parquet_io_manager import SharedParquetIOManager

    warehouse, models = str(Path(shared_root) / "warehouse"), str(Path(shared_root) / "models")
    return {
        "io_manager": SharedParquetIOManager(root=warehouse),
        "market_source": MarketDataSource.from_settings(settings),
        "model_store": ModelStore(root=models),
        "warehouse": SharedWarehouse(path=warehouse, queue_wait_seconds=0.0),
    }
