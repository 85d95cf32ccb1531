"""The project's settings: one frozen object, built from the environment once, passed explicitly.

``ProjectSettings.from_env()`` is the only place that reads ``AXION_*`` variables; everything else
(the Dagster definitions, the build runner, the warehouse helpers) takes the object or the values
it needs as arguments, so one process can hold two configurations (say, the generated market and
a real data folder) and nothing is read or computed at import.

What it holds, and the variable that sets each part (defaults from the library's dataclasses):

- the source: ``AXION_DATA_DIR`` (a folder of real files; unset: the generated market, whose
  ``SimulationConfig`` takes ``AXION_SIM_SEED``, ``AXION_SIM_TICKERS``, ``AXION_SIM_START``,
  ``AXION_SIM_END``);
- storage: ``AXION_WAREHOUSE`` (DuckDB file; default ``warehouse/axion.duckdb`` for the generated
  market, and for real data one file per data folder, ``warehouse/axion_real_<folder>_<hash of
  its path>.duckdb``, so two datasets never share a warehouse; ``make run`` also refuses a warehouse
  that another source built, see ``source_identity``), ``AXION_MODEL_DIR``
  (default ``<warehouse>_models``), ``AXION_DUCKDB_QUEUE_WAIT`` and ``AXION_DUCKDB_LOCK_WAIT``
  (seconds a step waits for the warehouse's turn, a plain reader for another program's lock);
- the walk-forward plan: ``AXION_WF_TRAIN_DAYS``, ``AXION_WF_TEST_DAYS``, ``AXION_WF_FOLDS``,
  ``AXION_WF_VALIDATION_DAYS`` (default: the test size), ``AXION_WF_EXPANDING`` (1 or 0). The gap
  equals the label horizon and is not a knob: shorter would leak labels;
- the build: ``AXION_BACKFILL_MAX_STOCK_DAYS`` (stock-days per run of the daily history) and
  ``AXION_BACKFILL_MAX_DAYS`` (trading days per run, 300: a range run of at most 300 partitions
  records each check's result per day, so the UI shows every day passed or failed, and its run
  page stays small enough to open quickly);
- the multi-machine code location (``defs.executors.celery_defs``): ``AXION_SHARED_DIR`` (a folder every
  worker mounts: the Parquet warehouse and the model store), ``AXION_CELERY_BROKER`` (the broker's URL,
  e.g. ``redis://broker:6379/0``) and ``AXION_CELERY_BACKEND`` (Celery's result store; default: the broker).

Derived, not set: the trading calendar (weekdays of the generated market, or the price file's
dates), the fold plan on it, and the lookbacks the daily assets load (from ``FeatureConfig`` and
the factor engine's price history). The calendar and the plan are computed on first use.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
from collections.abc import Mapping
from dataclasses import MISSING, asdict, dataclass, field, fields, replace
from functools import cached_property
from pathlib import Path

import pandas as pd

from axion_pipeline.data.simulator.config import SimulationConfig
from axion_pipeline.ml.config import FORWARD_DAYS, FeatureConfig, WalkForwardConfig

REPO_ROOT = Path(__file__).resolve().parents[2]
# Warm-up: the first this many trading days of a history are never in a training window. 12-1
# month momentum and 52-week highs need 252 days; the momentum overlay's first 15 days after the
# warm-up read category returns of scores still filling their windows (a run loads
# ``factor_lookback_days``, 315, before its first day wherever the history has them).
PRICE_HISTORY_DAYS = 300
# The most recent trading days that no fold touches: scored by the production models only.
LIVE_DAYS = 63
_FALSE = ("0", "false", "no", "off")


class SettingsError(ValueError):
    """An ``AXION_*`` variable holds a value the project cannot use."""


@dataclass(frozen=True)
class ProjectSettings:
    """Where the data comes from and goes, and the layout every Dagster definition is built on."""

    data_dir: str | None = None
    simulation: SimulationConfig = field(default_factory=SimulationConfig)
    warehouse: str = ""  # "" means the default for the source (see ``__post_init__``)
    model_dir: str = ""  # "" means ``<warehouse>_models``
    walk_forward: WalkForwardConfig = field(default_factory=WalkForwardConfig)
    horizon: int = FORWARD_DAYS
    warmup_days: int = PRICE_HISTORY_DAYS
    live_days: int = LIVE_DAYS
    features: FeatureConfig = field(default_factory=FeatureConfig)
    reporting_lag_days: int = 90
    max_reject_share: float = 0.05
    queue_wait_seconds: float = 3600.0
    lock_wait_seconds: float = 120.0
    backfill_max_stock_days: int = 1_000_000
    backfill_max_days: int = 300
    shared_dir: str | None = None
    celery_broker: str | None = None
    celery_backend: str | None = None

    def __post_init__(self) -> None:
        if self.data_dir is not None:
            object.__setattr__(self, "data_dir", str(Path(self.data_dir).expanduser().resolve()))
        if not self.warehouse:
            object.__setattr__(self, "warehouse", str(REPO_ROOT / "warehouse" / default_warehouse_name(self.data_dir)))
        if not self.model_dir:
            object.__setattr__(self, "model_dir", str(Path(self.warehouse).with_suffix("")) + "_models")
        if self.walk_forward.gap < self.horizon:
            raise SettingsError(
                f"walk-forward gap {self.walk_forward.gap} is shorter than the {self.horizon}-day "
                "label horizon: training labels would overlap the test returns"
            )

    # -- construction ---------------------------------------------------------------------------
    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ProjectSettings:
        """Settings from ``environ`` (default ``os.environ``); unset or empty variables keep the defaults."""
        env = os.environ if environ is None else environ
        get = _Reader(env)
        sim_defaults, wf_defaults = SimulationConfig(), WalkForwardConfig()
        test_days = get.integer("AXION_WF_TEST_DAYS", wf_defaults.test_size)
        try:
            simulation = SimulationConfig(
                seed=get.integer("AXION_SIM_SEED", sim_defaults.seed),
                n_tickers=get.integer("AXION_SIM_TICKERS", sim_defaults.n_tickers),
                start=get.date("AXION_SIM_START", sim_defaults.start),
                end=get.date("AXION_SIM_END", sim_defaults.end),
            )
        except ValueError as exc:
            raise SettingsError(f"AXION_SIM_*: {exc}") from exc
        walk_forward = replace(
            wf_defaults,
            n_splits=get.integer("AXION_WF_FOLDS", wf_defaults.n_splits),
            train_size=get.integer("AXION_WF_TRAIN_DAYS", wf_defaults.train_size),
            test_size=test_days,
            validation_size=get.integer("AXION_WF_VALIDATION_DAYS", test_days),
            expanding=get.flag("AXION_WF_EXPANDING", wf_defaults.expanding),
        )
        defaults = {f.name: f.default for f in fields(cls) if f.default is not MISSING}
        return cls(
            data_dir=get.text("AXION_DATA_DIR"),
            simulation=simulation,
            warehouse=get.text("AXION_WAREHOUSE") or "",
            model_dir=get.text("AXION_MODEL_DIR") or "",
            walk_forward=walk_forward,
            queue_wait_seconds=get.number("AXION_DUCKDB_QUEUE_WAIT", defaults["queue_wait_seconds"]),
            lock_wait_seconds=get.number("AXION_DUCKDB_LOCK_WAIT", defaults["lock_wait_seconds"]),
            backfill_max_stock_days=get.integer("AXION_BACKFILL_MAX_STOCK_DAYS", defaults["backfill_max_stock_days"]),
            backfill_max_days=get.integer("AXION_BACKFILL_MAX_DAYS", defaults["backfill_max_days"]),
            shared_dir=get.text("AXION_SHARED_DIR"),
            celery_broker=get.text("AXION_CELERY_BROKER"),
            celery_backend=get.text("AXION_CELERY_BACKEND"),
        )

    def to_env(self) -> dict[str, str]:
        """The ``AXION_*`` variables that make ``from_env`` rebuild these settings (for a child process)."""
        sim, wf = self.simulation, self.walk_forward
        env = {
            "AXION_SIM_SEED": str(sim.seed),
            "AXION_SIM_TICKERS": str(sim.n_tickers),
            "AXION_SIM_START": sim.start,
            "AXION_SIM_END": sim.end,
            "AXION_WAREHOUSE": self.warehouse,
            "AXION_MODEL_DIR": self.model_dir,
            "AXION_WF_FOLDS": str(wf.n_splits),
            "AXION_WF_TRAIN_DAYS": str(wf.train_size),
            "AXION_WF_TEST_DAYS": str(wf.test_size),
            "AXION_WF_VALIDATION_DAYS": str(wf.validation_size),
            "AXION_WF_EXPANDING": "1" if wf.expanding else "0",
            "AXION_DUCKDB_QUEUE_WAIT": str(self.queue_wait_seconds),
            "AXION_DUCKDB_LOCK_WAIT": str(self.lock_wait_seconds),
            "AXION_BACKFILL_MAX_STOCK_DAYS": str(self.backfill_max_stock_days),
            "AXION_BACKFILL_MAX_DAYS": str(self.backfill_max_days),
            "AXION_DATA_DIR": self.data_dir or "",
            "AXION_SHARED_DIR": self.shared_dir or "",
            "AXION_CELERY_BROKER": self.celery_broker or "",
            "AXION_CELERY_BACKEND": self.celery_backend or "",
        }
        return env

    def to_json(self) -> str:
        """The settings as JSON text (``from_json`` rebuilds them, e.g. in a run's worker process)."""
        return json.dumps(asdict(self), sort_keys=True)

    @classmethod
    def from_json(cls, text: str) -> ProjectSettings:
        values = json.loads(text)
        nested = {"simulation": SimulationConfig, "walk_forward": WalkForwardConfig, "features": FeatureConfig}
        return cls(**{k: nested[k](**v) if k in nested else v for k, v in values.items()})

    # -- the source -----------------------------------------------------------------------------
    @property
    def uses_real_data(self) -> bool:
        return self.data_dir is not None

    @property
    def source_identity(self) -> str:
        """What a warehouse built from these settings holds: the resolved data folder, or the generated
        market's seed, size and span. ``make run`` records it in the warehouse and refuses to add a
        different source's rows to it (``axion_pipeline.storage.warehouse.claim_warehouse``)."""
        if self.data_dir:
            return f"data folder {self.data_dir}"
        sim = self.simulation
        return f"generated market seed {sim.seed}, {sim.n_tickers} tickers, {sim.start} .. {sim.end}"

    def describe_source(self) -> str:
        if self.data_dir:
            return f"real data at {self.data_dir}"
        sim = self.simulation
        return f"generated market (seed {sim.seed}, {sim.n_tickers} tickers, {sim.start} .. {sim.end})"

    # -- derived layout (computed once, on first use) -------------------------------------------
    @cached_property
    def calendar(self) -> pd.DatetimeIndex:
        """Trading days of the source: weekdays of the generated market, or the price file's dates."""
        from axion_pipeline.data.calendar import trading_calendar

        return trading_calendar(self.data_dir, self.simulation.start, self.simulation.end)

    @cached_property
    def plan(self):
        """The ``FoldPlan``: fold windows, the production window and the live span on the calendar."""
        from axion_pipeline.ml.datasets import plan_walk_forward

        return plan_walk_forward(
            self.calendar,
            self.walk_forward,
            horizon=self.horizon,
            warmup_days=self.warmup_days,
            live_days=self.live_days,
        )

    @property
    def factor_lookback_days(self) -> int:
        """Trading days of prices and market series loaded before a factor-scores run: all the days a
        date's scores depend on (``history_days_needed``), so a one-day run stores what a range run
        or a backfill stored for that day."""
        from axion_pipeline.factor_engine.panel import history_days_needed

        return history_days_needed()

    @property
    def feature_lookback_days(self) -> int:
        """Trading days of factor scores loaded before a features run (``FeatureConfig.history_days``)."""
        return self.features.history_days

    @property
    def regime_lookback_days(self) -> int:
        """Trading days of market series loaded before a regime-features run (their longest window)."""
        from axion_pipeline.ml.regime_features import HISTORY

        return HISTORY

    @property
    def target_lookback_days(self) -> int:
        """Trading days of prices loaded before a targets run: the forward window of its oldest target."""
        return self.horizon


def default_warehouse_name(data_dir: str | None) -> str:
    """``axion.duckdb`` for the generated market; for a data folder ``axion_real_<folder name>_<first
    8 hex digits of the SHA-256 of its resolved path>.duckdb``: readable, and distinct for two
    folders of the same name."""
    if not data_dir:
        return "axion.duckdb"
    path = Path(data_dir).expanduser().resolve()
    slug = re.sub(r"[^A-Za-z0-9]+", "_", path.name).strip("_")[:40] or "root"
    return f"axion_real_{slug}_{hashlib.sha256(str(path).encode()).hexdigest()[:8]}.duckdb"


class _Reader:
    """Typed reads of environment variables with errors that name the variable."""

    def __init__(self, env: Mapping[str, str]):
        self.env = env

    def text(self, name: str) -> str | None:
        value = self.env.get(name, "").strip()
        return value or None

    def integer(self, name: str, default: int) -> int:
        value = self.text(name)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise SettingsError(f"{name} must be a whole number, got {value!r}") from None

    def number(self, name: str, default: float) -> float:
        value = self.text(name)
        if value is None:
            return default
        try:
            return float(value)
        except ValueError:
            raise SettingsError(f"{name} must be a number, got {value!r}") from None

    def flag(self, name: str, default: bool) -> bool:
        value = self.text(name)
        return default if value is None else value.lower() not in _FALSE

    def date(self, name: str, default: str) -> str:
        value = self.text(name)
        if value is None:
            return default
        try:
            return str(pd.Timestamp(value).date())
        except ValueError:
            raise SettingsError(f"{name} must be a date (YYYY-MM-DD), got {value!r}") from None
