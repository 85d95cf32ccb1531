"""Feature drift: Population Stability Index (PSI) of each feature, current vs reference sample.

PSI = sum over bins of (p_cur - p_ref) * ln(p_cur / p_ref), where p are the shares of each sample
in the bins. Bins (numeric columns):

- a point mass, a value holding at least 1/B of the reference's values (B = ``psi_bins``; the 0
  of a feature that is often exactly 0, a clipped bound), gets a bin of its own: values equal to
  it (to 1e-9 relative, so float noise of another code path stays in it). A mass sharing a
  quantile bin with the values next to it made the PSI hinge on which side of an edge it fell;
- the other values get quantile bins, their number in proportion to their share (at least one):
  edges are the quantiles of those reference values, duplicates removed; the outer bins are open
  (-inf, e_1] and (e_k, inf), so current values outside the reference range land in them; bins
  are right-closed;
- a constant reference column is the case of one mass: two bins, "equal to that constant" and
  "anything else", so the PSI is 0 when the current column holds the same constant;
- small samples: with ``min_per_bin`` set (``psi_min_per_bin``, 20 in the monitoring config), the
  bins are at most len(current) / min_per_bin (the largest masses first, then the quantile bins).
  Two samples of one distribution give a PSI of about (bins - 1) / n by chance: 10 bins for a
  40-ticker day would be 0.23, warning level, on nothing;
- missing values (NaN/None) form their own bin on both sides, so a rise in missing values is drift;
- non-numeric columns use one bin per reference category plus one for categories the reference
  lacks; in a numeric column, a current value that is not a number counts as missing.

A share of 0 is replaced by ``psi_epsilon`` (default 1e-4) before the logarithm (the shares are
not renormalised), so an empty bin gives a large but finite term. Convention: PSI < 0.10 stable,
0.10 <= PSI < 0.25 warning (``psi_warning``), PSI >= 0.25 drift (``psi_critical``).
Coverage is compared before distributions: a feature whose share of missing values differs
between the samples by more than ``coverage_change_threshold`` (default 0.10, absolute) has status
"coverage_change", not drift. Its PSI is then computed on the values present on both sides (what
is known about the values), but it counts neither as drifted nor in the share below: a source
that covers only part of the training window (fundamentals from 2012 in a 2005 history) is not a
shift a retrain can fix, and counting it would make the retraining sensor fire every day.
Level shifts (a dated reference, ``DateLevels``): a cross-sectional model's features move
together over time (a year's return is low for every stock after a bear market; a factor times
the VIX term structure is as wide as that day's VIX makes it), so one day's cross-section can sit
far from years of training rows pooled, on a level and spread training days had too. A numeric
feature at drift level whose day median and interquartile range both lie within the ranges of the
reference's per-date medians and ranges, and whose values standardised by them have PSI <
``psi_critical`` against the reference's values standardised by their own date's (the shape
within a date), has status "level_shift": the model was fitted on days like it, so it neither
counts as drifted nor in the share below. A level or spread beyond every training day, or a new
shape, is still drift.
``overall_drift`` is true when the share of drifted features among those compared (coverage
changes and level shifts excluded) exceeds ``drift_share_threshold``. A reference feature absent from (or empty in)
the current data is reported in ``missing_features`` and not compared.

Look-ahead: the reference must be data the model was trained on (or a window before the current
one); the bins come from the reference only, so the current sample never shapes its own yardstick.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

import numpy as np
import pandas as pd

from axion_pipeline.ml.config import MonitoringConfig

DEFAULT_EPSILON = 1e-4


def _shares(codes: np.ndarray, n_bins: int) -> np.ndarray:
    return np.bincount(codes, minlength=n_bins)[:n_bins] / max(len(codes), 1)


def _numeric_codes(
    ref: np.ndarray, cur: np.ndarray, known: np.ndarray, n_bins: int, budget: int
) -> tuple[np.ndarray, np.ndarray, int]:
    """Point-mass bins first (at most the largest ``budget - 1``), then quantile bins of the other
    values, ``budget`` bins in all at most (module docstring)."""
    values, counts = np.unique(known, return_counts=True)
    heavy = np.flatnonzero(counts >= known.size / n_bins)
    masses = values[heavy[np.argsort(-counts[heavy], kind="stable")][: budget - 1]]
    ref_codes, cur_codes = np.full(len(ref), -1), np.full(len(cur), -1)
    rest = np.ones(known.size, dtype=bool)
    for i, mass in enumerate(masses):
        ref_codes[np.isclose(ref, mass, rtol=1e-9, atol=1e-12)] = i
        cur_codes[np.isclose(cur, mass, rtol=1e-9, atol=1e-12)] = i
        rest &= ~np.isclose(known, mass, rtol=1e-9, atol=1e-12)
    others = known[rest]
    n_rest = max(1, round(budget * others.size / known.size))
    edges = np.unique(np.quantile(others, np.linspace(0.0, 1.0, n_rest + 1)[1:-1])) if others.size else np.array([])
    m = len(masses)
    ref_codes = np.where(ref_codes < 0, m + np.searchsorted(edges, ref, side="left"), ref_codes)
    cur_codes = np.where(cur_codes < 0, m + np.searchsorted(edges, cur, side="left"), cur_codes)
    return ref_codes, cur_codes, m + len(edges) + 1


def bin_codes(
    reference: pd.Series, current: pd.Series, n_bins: int, max_bins: int | None = None
) -> tuple[np.ndarray, np.ndarray, int]:
    """Bin index of every value of both samples (the last bin = missing) and the number of bins;
    ``max_bins`` caps the numeric bins (small samples), masses still found at 1/``n_bins``."""
    numeric = pd.api.types.is_numeric_dtype(reference)
    if numeric:  # a non-number in a numeric feature counts as missing
        current = pd.to_numeric(current, errors="coerce")
    ref_missing, cur_missing = reference.isna().to_numpy(), current.isna().to_numpy()
    if not numeric:
        cats = pd.Index(pd.unique(reference[~ref_missing]))
        k = len(cats) + 1  # + "a category the reference lacks"

        def code(s: pd.Series) -> np.ndarray:
            c = cats.get_indexer(s)
            return np.where(c < 0, len(cats), c)

        ref_codes, cur_codes = code(reference), code(current)
    else:
        ref = reference.to_numpy(dtype=float)
        cur = current.to_numpy(dtype=float)
        known = ref[~ref_missing]
        if known.size == 0:  # an all-missing reference: one bin for "any value"
            k = 1
            ref_codes, cur_codes = np.zeros(len(ref), int), np.zeros(len(cur), int)
        else:
            budget = n_bins if max_bins is None else max(1, min(n_bins, max_bins))
            ref_codes, cur_codes, k = _numeric_codes(ref, cur, known, n_bins, budget)
    ref_codes = np.where(ref_missing, k, ref_codes)
    cur_codes = np.where(cur_missing, k, cur_codes)
    return ref_codes, cur_codes, k + 1


def _present(values: pd.Series, reference: pd.Series) -> np.ndarray:
    """Which values count as present: not missing and, in a numeric feature (``reference``
    numeric), a number (as ``bin_codes`` treats them)."""
    if pd.api.types.is_numeric_dtype(reference):
        values = pd.to_numeric(values, errors="coerce")
    return values.notna().to_numpy()


def psi(reference, current, n_bins: int = 10, epsilon: float = DEFAULT_EPSILON, min_per_bin: int = 0) -> float:
    """PSI of ``current`` against ``reference`` (two 1-d samples), with the bins described above
    (``min_per_bin`` > 0: at most len(current) / min_per_bin bins)."""
    ref, cur = pd.Series(reference), pd.Series(current)
    if len(ref) == 0 or len(cur) == 0:
        raise ValueError("PSI needs non-empty reference and current samples")
    max_bins = len(cur) // min_per_bin if min_per_bin > 0 else None
    ref_codes, cur_codes, k = bin_codes(ref, cur, n_bins, max_bins)
    p_ref = np.maximum(_shares(ref_codes, k), epsilon)
    p_cur = np.maximum(_shares(cur_codes, k), epsilon)
    return float(np.sum((p_cur - p_ref) * np.log(p_cur / p_ref)))


class FeatureLevels(NamedTuple):
    """One feature's training days: the range of its per-date medians and interquartile ranges,
    and its values standardised by their own date's median and range."""

    median_range: tuple[float, float]
    spread_range: tuple[float, float]
    within: pd.Series


class DateLevels:
    """What training days looked like, per numeric feature of a dated reference (``FeatureLevels``).
    Dates with fewer than ``min_rows`` values of a feature, or no spread, are left out.

    Computed per feature on first use (``of``) and kept: a day's drift report needs them only for
    the features whose PSI reached drift, a few of a hundred. A feature's figures are the same
    whether computed alone or with the others (each is a per-column computation)."""

    def __init__(self, numeric: pd.DataFrame, keys: pd.Series, min_rows: int):
        self._numeric, self._keys, self._min_rows = numeric, keys, min_rows
        self._done: dict[str, FeatureLevels] = {}

    @property
    def columns(self) -> list[str]:
        return list(self._numeric.columns)

    def of(self, column: str) -> FeatureLevels:
        if column not in self._done:
            values = self._numeric[column].astype("float64")
            median, spread = _median_and_spread(values, self._keys)
            usable = (values.groupby(self._keys).count() >= self._min_rows) & (spread > 0)
            median, spread = median.where(usable), spread.where(usable)
            row_median = median.reindex(self._keys.to_numpy()).set_axis(values.index)
            row_spread = spread.reindex(self._keys.to_numpy()).set_axis(values.index)
            self._done[column] = FeatureLevels(
                (float(median.min()), float(median.max())),
                (float(spread.min()), float(spread.max())),
                (values - row_median) / row_spread,
            )
        return self._done[column]


def _median_and_spread(values: pd.DataFrame | pd.Series, by=None):
    grouped = values.groupby(by) if by is not None else values
    q1, q2, q3 = (grouped.quantile(q) for q in (0.25, 0.5, 0.75))
    return q2, q3 - q1


def date_levels(reference: pd.DataFrame, dates, min_rows: int = 10) -> DateLevels:
    """``DateLevels`` of the numeric columns of ``reference`` whose rows fall on ``dates`` (one
    date per row, e.g. the training rows' own dates)."""
    numeric = reference.select_dtypes("number")
    return DateLevels(numeric, pd.Series(np.asarray(dates), index=numeric.index), min_rows)


@dataclass
class DriftReport:
    """Per-feature PSI and its classification; ``feature_status`` is ok / warning / drift /
    coverage_change / level_shift / missing (module docstring)."""

    overall_drift: bool
    psi_scores: dict[str, float]
    drifted_features: list[str]
    warning_features: list[str] = field(default_factory=list)
    missing_features: list[str] = field(default_factory=list)
    coverage_changes: list[str] = field(default_factory=list)
    level_shifts: list[str] = field(default_factory=list)
    new_features: list[str] = field(default_factory=list)
    feature_status: dict[str, str] = field(default_factory=dict)
    drift_share: float = 0.0
    n_reference: int = 0
    n_current: int = 0

    def to_frame(self) -> pd.DataFrame:
        """One row per reference feature: feature, psi (NaN when missing), status; worst first."""
        frame = pd.DataFrame(
            {
                "feature": list(self.feature_status),
                "psi": [self.psi_scores.get(f, np.nan) for f in self.feature_status],
                "status": list(self.feature_status.values()),
            }
        )
        return frame.sort_values("psi", ascending=False, na_position="first", kind="stable").reset_index(drop=True)


class DegradationDetector:
    """Compares feature distributions of current data with a reference sample (module docstring)."""

    def __init__(self, config: MonitoringConfig | None = None):
        self.config = config if config is not None else MonitoringConfig()
        if not 0 < self.config.psi_warning <= self.config.psi_critical:
            raise ValueError("need 0 < psi_warning <= psi_critical")

    def coverage_changed(self, reference: pd.Series, current: pd.Series) -> bool:
        """Whether the share of missing values moved by more than ``coverage_change_threshold``."""
        ref_missing = 1.0 - float(_present(reference, reference).mean())
        cur_missing = 1.0 - float(_present(current, reference).mean())
        return abs(cur_missing - ref_missing) > self.config.coverage_change_threshold

    def classify(self, value: float) -> str:
        """ "drift" at PSI >= psi_critical, "warning" at PSI >= psi_warning, else "ok"."""
        if value >= self.config.psi_critical:
            return "drift"
        if value >= self.config.psi_warning:
            return "warning"
        return "ok"

    def level_shift(self, levels: DateLevels, column: str, current: pd.Series) -> bool:
        """Whether ``current`` (one day) has a median and a spread training days had, and their
        shape once standardised by them (module docstring); False for a feature ``levels`` does
        not cover."""
        if column not in levels.columns:
            return False
        (m_low, m_high), (s_low, s_high), within = levels.of(column)
        reference = within.dropna()
        if reference.empty:
            return False
        values = pd.to_numeric(current, errors="coerce").astype("float64").dropna()
        if values.empty:
            return False
        median, spread = _median_and_spread(values)
        if not (m_low <= median <= m_high and s_low <= spread <= s_high and spread > 0):
            return False
        cfg = self.config
        shape = psi(reference, (values - median) / spread, cfg.psi_bins, cfg.psi_epsilon, cfg.psi_min_per_bin)
        return shape < cfg.psi_critical

    def check_feature_drift(
        self,
        reference_data: pd.DataFrame,
        current_data: pd.DataFrame,
        features: list[str] | None = None,
        levels: DateLevels | None = None,
    ) -> DriftReport:
        """PSI of every column of ``reference_data`` (or ``features``) in ``current_data``;
        ``levels`` (``date_levels`` of the reference, ``current_data`` one day): tell level
        shifts from drift."""
        if not isinstance(reference_data, pd.DataFrame) or not isinstance(current_data, pd.DataFrame):
            raise TypeError("reference_data and current_data must be DataFrames")
        if reference_data.empty:
            raise ValueError("reference_data has no rows: nothing to compare against")
        cfg = self.config
        columns = list(reference_data.columns) if features is None else list(features)
        scores: dict[str, float] = {}
        status: dict[str, str] = {}
        missing: list[str] = []
        coverage: list[str] = []
        for col in columns:
            if col not in reference_data.columns:
                raise KeyError(f"feature {col!r} is not in reference_data")
            if col not in current_data.columns or len(current_data) == 0:
                missing.append(col)
                status[col] = "missing"
                continue
            ref, cur = reference_data[col], current_data[col]
            if self.coverage_changed(ref, cur):
                coverage.append(col)
                status[col] = "coverage_change"
                ref, cur = ref[_present(ref, ref)], cur[_present(cur, ref)]
                if len(ref) and len(cur):  # the values present, compared for information only
                    scores[col] = psi(ref, cur, cfg.psi_bins, cfg.psi_epsilon, cfg.psi_min_per_bin)
                continue
            value = psi(ref, cur, cfg.psi_bins, cfg.psi_epsilon, cfg.psi_min_per_bin)
            scores[col] = value
            status[col] = self.classify(value)
            if status[col] == "drift" and levels is not None and self.level_shift(levels, col, cur):
                status[col] = "level_shift"
        drifted = [c for c, s in status.items() if s == "drift"]
        warning = [c for c, s in status.items() if s == "warning"]
        compared = [c for c, s in status.items() if s in ("ok", "warning", "drift")]
        share = len(drifted) / len(compared) if compared else 0.0
        return DriftReport(
            overall_drift=bool(compared) and share > cfg.drift_share_threshold,
            psi_scores=scores,
            drifted_features=drifted,
            warning_features=warning,
            missing_features=missing,
            coverage_changes=coverage,
            level_shifts=[c for c, v in status.items() if v == "level_shift"],
            new_features=[c for c in current_data.columns if c not in reference_data.columns],
            feature_status=status,
            drift_share=share,
            n_reference=len(reference_data),
            n_current=len(current_data),
        )
