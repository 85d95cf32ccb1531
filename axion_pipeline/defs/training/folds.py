"""Walk-forward fold partitions of the training group, derived from one ``WalkForwardConfig``.

Built at import from the source's trading calendar (``source_calendar``): the first
``WARMUP_DAYS`` trading days are dropped (factor scores need a year of price history), the last
``LIVE_DAYS`` form the live span that no fold touches (scored by the production models), and
``plan_walk_forward`` cuts the folds right before it. See ``axion_pipeline.ml.datasets``.

Environment knobs (read at import; the defaults fit the real data's 1,259 trading days):

- ``AXION_WF_TRAIN_DAYS`` (504), ``AXION_WF_TEST_DAYS`` (63), ``AXION_WF_FOLDS`` (5);
- ``AXION_WF_VALIDATION_DAYS``: early-stopping slice at the end of each training window
  (default: the test size), separated from the fitted dates by another gap;
- ``AXION_WF_EXPANDING`` (default ``1``): every window starts at the first fold date (after the
  warm-up) and grows; ``0``: a sliding window of ``AXION_WF_TRAIN_DAYS``. Factor premia shift with
  the market regime and a 2-year window holds few regime spells (on the generated market the
  ranking model's out-of-sample IC measured 0.023 sliding vs 0.037 expanding, same features).
  ``AXION_WF_TRAIN_DAYS`` still sets the first fold's minimum history.

The gap (21 trading days) equals the label horizon and is not a knob: shorter would leak labels.
A calendar too short for the configuration fails the import with a message saying what is needed.
"""

import os

import dagster as dg
import pandas as pd

from axion_pipeline.defs.partitions import source_calendar
from axion_pipeline.ml.config import WalkForwardConfig
from axion_pipeline.ml.datasets import FoldPlan, TrainWindow, plan_walk_forward
from axion_pipeline.ml.walk_forward import Fold

LABEL_HORIZON = 21  # trading days of the forward return the ranking labels are cut from
WARMUP_DAYS = 300  # factor warm-up: 12-1 month momentum and 52-week highs need 252 days
LIVE_DAYS = 63  # the most recent quarter: never in a fold, scored by the production models


def walk_forward_config() -> WalkForwardConfig:
    """The project's walk-forward configuration, with the ``AXION_WF_*`` overrides."""
    test = int(os.environ.get("AXION_WF_TEST_DAYS", 63))
    return WalkForwardConfig(
        n_splits=int(os.environ.get("AXION_WF_FOLDS", 5)),
        train_size=int(os.environ.get("AXION_WF_TRAIN_DAYS", 504)),
        test_size=test,
        gap=LABEL_HORIZON,
        embargo=0,
        validation_size=int(os.environ.get("AXION_WF_VALIDATION_DAYS", test)),
        expanding=os.environ.get("AXION_WF_EXPANDING", "1").strip().lower() not in ("0", "false", "no", ""),
    )


PLAN: FoldPlan = plan_walk_forward(source_calendar(), walk_forward_config(), horizon=LABEL_HORIZON,
                                   warmup_days=WARMUP_DAYS, live_days=LIVE_DAYS)
fold_partitions = dg.StaticPartitionsDefinition(PLAN.keys)


def fold_window(fold_key: str) -> TrainWindow:
    """Training (fit + validation), gap and test dates of one fold partition, e.g. ``fold_0``.

    A ``TrainWindow`` holds the dates of the library's ``Fold`` (``fold()``) plus the last fitted
    date before the validation slice, which ``Fold`` only has as a position."""
    if fold_key not in PLAN.keys:
        raise KeyError(f"unknown fold {fold_key!r}; the folds are {PLAN.keys}")
    return PLAN.window(fold_key)


def fold(fold_key: str) -> Fold:
    """The library's ``Fold`` of a partition (window dates and positions among the fold dates)."""
    fold_window(fold_key)
    return PLAN.fold(fold_key)


def fold_windows_frame() -> pd.DataFrame:
    """Every fold's windows and the production window, with date counts, gap and embargo."""
    return PLAN.frame()


def production_window() -> TrainWindow:
    """The production models' window: ``train_start .. production_cutoff()``; its test span is the live span."""
    return PLAN.production


def production_cutoff() -> pd.Timestamp:
    """Last date of training data allowed for production models: live span start minus the gap."""
    return PLAN.production_cutoff


def live_span() -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last trading day of the live span (out of every fold)."""
    return PLAN.live_start, PLAN.calendar[-1]
