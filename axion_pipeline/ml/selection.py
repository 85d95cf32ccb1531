"""Fitted, unsupervised feature selection: a collinearity filter and a ``max_features`` cap.

Fit on TRAINING rows only: the choice depends on the data's correlations and missing shares, so
fitting it on test or live rows would let their distribution leak into the model definition. The
target is never used. Once fit, ``apply_feature_selection`` keeps the same columns on any data,
even where the dropped columns are no longer collinear. The selection round-trips through a
JSON-able dict so it is stored with the model.

Deterministic rule:
1. columns with fewer than two distinct non-missing values are dropped (``dropped_constant``);
2. the rest are visited by missing share (ascending), ties by column order; a column is dropped
   when its |Pearson| or |Spearman| correlation with an already kept column exceeds the threshold
   (``dropped_collinear`` records the kept partner), so of a collinear pair the one with more
   missing values, or else the later one, goes;
3. the first ``max_features`` kept columns in that visiting order stay (``dropped_cap``).

Correlations use pairwise-complete rows of at most ``max_rows`` evenly spaced training rows;
Spearman ranks each column once over its non-missing values (not re-ranked per pair).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field

import numpy as np
import pandas as pd

FORMAT = "axion.feature_selection"
VERSION = 1


@dataclass
class FeatureSelection:
    selected: list[str]
    max_features: int
    collinearity_threshold: float
    dropped_constant: list[str] = field(default_factory=list)
    dropped_collinear: dict[str, dict] = field(default_factory=dict)  # dropped -> {kept, correlation}
    dropped_cap: list[str] = field(default_factory=list)
    n_train_rows: int = 0

    def to_dict(self) -> dict:
        return {"format": FORMAT, "version": VERSION, **asdict(self)}

    @classmethod
    def from_dict(cls, data: dict) -> FeatureSelection:
        if data.get("format") != FORMAT or data.get("version") != VERSION:
            raise ValueError(f"not a {FORMAT} v{VERSION} dict: {data.get('format')!r} v{data.get('version')!r}")
        fields = {k: v for k, v in data.items() if k not in ("format", "version")}
        if not isinstance(fields.get("selected"), list) or not all(isinstance(c, str) for c in fields["selected"]):
            raise ValueError("'selected' must be a list of column names")
        return cls(**fields)


def pairwise_correlation(x: np.ndarray) -> np.ndarray:
    """Pearson correlation of every column pair over rows where both are non-missing (NaN if < 3)."""
    valid = ~np.isnan(x)
    centred = np.where(valid, x - np.nanmean(x, axis=0), 0.0)
    m = valid.astype("float64")
    n = m.T @ m
    sx = centred.T @ m  # sx[i, j]: sum of column i over rows where j is valid too
    sxx = (centred * centred).T @ m
    sxy = centred.T @ centred
    with np.errstate(invalid="ignore", divide="ignore"):
        cov = sxy - sx * sx.T / n
        var_i = sxx - sx * sx / n
        corr = cov / np.sqrt(var_i * var_i.T)
    corr[n < 3] = np.nan
    return np.clip(corr, -1.0, 1.0)


def _sample_rows(n: int, max_rows: int) -> np.ndarray:
    if n <= max_rows:
        return np.arange(n)
    return np.unique(np.linspace(0, n - 1, max_rows).round().astype(np.int64))


def fit_feature_selection(
    features: pd.DataFrame, max_features: int, collinearity_threshold: float, max_rows: int = 50_000
) -> FeatureSelection:
    """Decide which columns of ``features`` (training rows only) to keep; see the module rule."""
    if max_features < 1 or not 0.0 < collinearity_threshold <= 1.0:
        raise ValueError("max_features must be >= 1 and collinearity_threshold in (0, 1]")
    non_numeric = [c for c in features.columns if not pd.api.types.is_numeric_dtype(features[c])]
    if non_numeric or len(features) == 0:
        raise ValueError(f"features must be non-empty and numeric; non-numeric columns: {non_numeric}")
    columns = [str(c) for c in features.columns]
    missing = features.isna().mean().to_numpy()
    low, high = features.min().to_numpy(dtype="float64"), features.max().to_numpy(dtype="float64")
    varies = ~np.isnan(low) & (low != high)  # at least two distinct non-missing values
    constant = [c for c, v in zip(columns, varies) if not v]
    order = sorted(np.flatnonzero(varies), key=lambda i: (missing[i], i))

    sample = features.iloc[_sample_rows(len(features), max_rows), order].to_numpy(dtype="float64", na_value=np.nan)
    sample[~np.isfinite(sample)] = np.nan
    pearson = pairwise_correlation(sample)
    spearman = pairwise_correlation(pd.DataFrame(sample).rank(method="average").to_numpy())
    strength = np.fmax(np.abs(pearson), np.abs(spearman))  # NaN only where both are undefined

    kept: list[int] = []  # positions in ``order``
    collinear: dict[str, dict] = {}
    for pos in range(len(order)):
        if kept:
            s = strength[pos, kept]
            best = int(np.nanargmax(s)) if not np.isnan(s).all() else -1
            if best >= 0 and s[best] > collinearity_threshold:
                collinear[columns[order[pos]]] = {
                    "kept": columns[order[kept[best]]],
                    "correlation": float(s[best]),
                }
                continue
        kept.append(pos)
    keep = [order[p] for p in kept[:max_features]]
    return FeatureSelection(
        selected=[columns[i] for i in sorted(keep)],
        max_features=int(max_features),
        collinearity_threshold=float(collinearity_threshold),
        dropped_constant=constant,
        dropped_collinear=collinear,
        dropped_cap=[columns[order[p]] for p in kept[max_features:]],
        n_train_rows=int(len(features)),
    )


def apply_feature_selection(features: pd.DataFrame, selection: FeatureSelection) -> pd.DataFrame:
    """The selected columns of ``features``, in the stored order; raises if any is missing."""
    missing = [c for c in selection.selected if c not in features.columns]
    if missing:
        raise ValueError(f"features lack selected columns: {missing}")
    return features[selection.selected]
