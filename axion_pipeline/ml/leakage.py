"""Leakage audit: recompute stored features and targets from truncated inputs and compare exactly.

Features: for each sampled date ``t`` the builder is called with ``t`` and must build from inputs
cut after ``t`` (``make_truncating_builder`` does the cutting, so the builder itself cannot see
later rows). Stored rows for ``t`` must equal the rebuilt rows exactly (NaN == NaN): any feature
that used data after ``t`` differs, because that data is absent from the rebuild.

Index membership is an input like any other: ``truncate_after`` cuts a membership frame
(``ticker, start_date, end_date``) to what was known at ``t`` (intervals starting after ``t``
dropped, ends after ``t`` open, ``axion_pipeline.data.universe.truncate_membership``). That
leaves membership on every date up to ``t`` unchanged, so features that depend on later
membership (a ticker kept because it joins later, or dropped because it leaves later) differ from
the rebuild.

Targets: the target at ``t`` must equal the one recomputed from returns in (t, t+h] alone (among
the members of ``t`` given membership), and must not change when every return outside that window
is perturbed.

The audit is only as strong as its sample: a feature that leaks on some dates only is caught on
those dates. Sample dates spread over the history (``sample_audit_dates``), not just the last one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from axion_pipeline.data.universe import has_membership, membership_panel, truncate_membership
from axion_pipeline.ml.targets import prepare_returns, target_panel, targets_at_rows

FeatureBuilder = Callable[[pd.Timestamp | None], pd.DataFrame]


@dataclass
class LeakageReport:
    """Dates checked and the (date, column) pairs whose stored values differ from the rebuild.

    A column of ``"<rows>"`` means the symbols differ (targets: stored symbols absent from the
    returns); ``"<missing>"`` that a side has no rows for the date at all.
    """

    checked_dates: list[pd.Timestamp]
    mismatches: list[tuple[pd.Timestamp, str]] = field(default_factory=list)
    n_values_compared: int = 0

    @property
    def passed(self) -> bool:
        return bool(self.checked_dates) and not self.mismatches

    @property
    def leaking_columns(self) -> list[str]:
        return sorted({column for _, column in self.mismatches})

    def to_dict(self) -> dict[str, Any]:
        return {
            "passed": self.passed,
            "checked_dates": [str(d.date()) for d in self.checked_dates],
            "mismatches": [[str(d.date()), c] for d, c in self.mismatches],
            "n_values_compared": self.n_values_compared,
        }


MEMBERSHIP_COLUMNS = {"ticker", "start_date", "end_date"}


def truncate_after(data: Any, cutoff: pd.Timestamp | None) -> Any:
    """``data`` as known at ``cutoff``: a membership frame (``ticker, start_date, end_date``)
    through ``truncate_membership``; other frames keep the rows dated on or before ``cutoff``, by a
    ``date`` column, else by the (first level of the) index. Anything that is not a DataFrame or
    Series is returned unchanged."""
    if cutoff is None or not isinstance(data, pd.DataFrame | pd.Series):
        return data
    if isinstance(data, pd.DataFrame) and set(data.columns) >= MEMBERSHIP_COLUMNS:
        return truncate_membership(data, cutoff)
    if isinstance(data, pd.DataFrame) and "date" in data.columns:
        return data[pd.to_datetime(data["date"]) <= cutoff]
    return data[pd.to_datetime(data.index.get_level_values(0)) <= cutoff]


def make_truncating_builder(build: Callable[..., pd.DataFrame], **inputs: Any) -> FeatureBuilder:
    """Builder for ``audit_feature_leakage``: ``build(t, **inputs cut after t)``."""

    def builder(cutoff: pd.Timestamp | None) -> pd.DataFrame:
        return build(cutoff, **{k: truncate_after(v, cutoff) for k, v in inputs.items()})

    return builder


def sample_audit_dates(dates: Iterable, n: int = 10, skip_last: int = 0) -> list[pd.Timestamp]:
    """``n`` dates spread evenly over the sorted unique ``dates`` (deterministic), the last
    ``skip_last`` excluded (e.g. dates whose later data does not exist yet)."""
    unique = pd.DatetimeIndex(pd.to_datetime(pd.Index(dates).unique())).sort_values()
    unique = unique[: len(unique) - skip_last] if skip_last else unique
    if len(unique) == 0:
        return []
    picks = np.unique(np.linspace(0, len(unique) - 1, min(n, len(unique))).round().astype(int))
    return list(unique[picks])


def _rows_on(frame: pd.DataFrame, t: pd.Timestamp) -> pd.DataFrame:
    dates = pd.to_datetime(frame.index.get_level_values(0))
    rows = frame[dates == t]
    return rows.set_axis(rows.index.get_level_values(1), axis=0)


def _differs(a: pd.DataFrame, b: pd.DataFrame) -> np.ndarray:
    """Per column: does any value differ (NaN equal to NaN)?"""
    x, y = a.to_numpy(dtype=object), b.to_numpy(dtype=object)
    both_na = pd.isna(a).to_numpy() & pd.isna(b).to_numpy()
    return ((x != y) & ~both_na).any(axis=0)


def audit_feature_leakage(
    build_features: FeatureBuilder, stored: pd.DataFrame, sample_dates: Iterable
) -> LeakageReport:
    """Compare ``stored`` (date, symbol) rows with ``build_features(t)`` rows for each sampled ``t``."""
    dates = [pd.Timestamp(d) for d in sample_dates]
    if not dates:
        raise ValueError("no sample dates: an audit that checks nothing cannot pass")
    report = LeakageReport(checked_dates=dates)
    for t in dates:
        want, got = _rows_on(stored, t), _rows_on(build_features(t), t)
        if want.empty or got.empty:
            report.mismatches.append((t, "<missing>"))
            continue
        if not want.index.sort_values().equals(got.index.sort_values()):
            report.mismatches.append((t, "<rows>"))
        report.mismatches += [(t, c) for c in want.columns.symmetric_difference(got.columns)]
        common = [c for c in want.columns if c in got.columns]
        symbols = want.index.intersection(got.index)
        a, b = want.loc[symbols, common], got.loc[symbols, common]
        report.mismatches += [(t, c) for c, bad in zip(common, _differs(a, b)) if bad]
        report.n_values_compared += a.size
    return report


def _perturbed_outside(frame: pd.DataFrame, start: int, stop: int) -> pd.DataFrame:
    """Every return outside rows [start, stop) changed (missing ones filled), the window kept."""
    values = frame.to_numpy().copy()
    outside = np.ones(len(values), dtype=bool)
    outside[start:stop] = False
    values[outside] = np.where(np.isnan(values[outside]), 0.004, -1.5 * values[outside] + 0.003)
    return pd.DataFrame(values, index=frame.index, columns=frame.columns)


def audit_target_window(
    returns_data: pd.DataFrame,
    targets: pd.DataFrame | pd.Series,
    forward_days: int,
    sample_dates: Iterable,
    num_quintiles: int = 5,
    membership: pd.DataFrame | None = None,
) -> LeakageReport:
    """Check stored targets at each sampled ``t`` against returns in (t, t+h] only.

    ``membership``: the index membership intervals the targets were built with; the recomputation
    ranks the members of ``t`` (membership on ``t`` is known at ``t``).

    ``targets`` is ``target_panel`` output ((date, symbol) -> ``fwd_return``, ``label``) or a Series
    of labels. Mismatch columns: ``fwd_return``/``label`` (stored value differs from the window
    recomputation) and ``<name>:perturbed`` (recomputing the full panel after perturbing returns
    outside the window changed the value).
    """
    dates = [pd.Timestamp(d) for d in sample_dates]
    if not dates:
        raise ValueError("no sample dates: an audit that checks nothing cannot pass")
    frame = prepare_returns(returns_data, forward_days, num_quintiles)
    stored = targets.to_frame("label") if isinstance(targets, pd.Series) else targets
    columns = [c for c in ("fwd_return", "label") if c in stored.columns]
    if not columns:
        raise ValueError("targets hold neither 'fwd_return' nor 'label': nothing to audit")
    report = LeakageReport(checked_dates=dates)
    for t in dates:
        pos = frame.index.get_indexer([t])[0]
        want = _rows_on(stored, t)
        if pos < 0 or want.empty:
            report.mismatches.append((t, "<missing>"))
            continue
        window = frame.iloc[pos + 1 : pos + 1 + forward_days]
        # Recompute from a blank anchor row plus the window: nothing outside (t, t+h] is passed in.
        only_window = pd.concat([frame.iloc[[pos]] * np.nan, window])
        members = membership_panel([t], frame.columns, membership) if has_membership(membership) else None
        fwd, label = targets_at_rows(only_window, np.array([0]), forward_days, num_quintiles, members)
        recomputed = pd.DataFrame({"fwd_return": fwd[0], "label": label[0]}, index=frame.columns)
        perturbed = target_panel(
            _perturbed_outside(frame, pos + 1, pos + 1 + forward_days), forward_days, num_quintiles, membership
        )
        perturbed = _rows_on(perturbed, t)
        if not want.index.isin(frame.columns).all():
            report.mismatches.append((t, "<rows>"))
        symbols = want.index.intersection(frame.columns)
        for c in columns:
            a = want.loc[symbols, [c]]
            if _differs(a, recomputed.loc[symbols, [c]])[0]:
                report.mismatches.append((t, c))
            if _differs(a, perturbed.loc[symbols, [c]])[0]:
                report.mismatches.append((t, f"{c}:perturbed"))
            report.n_values_compared += 2 * a.size
    return report
