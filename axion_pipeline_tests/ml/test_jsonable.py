"""jsonable: the one numpy/pandas -> plain-JSON conversion, against the four helpers it replaces.

The ``_old_*`` functions are the helpers as they were (ml.base._jsonable,
ml.monitoring._nan_to_none, training_glue._clean, defs/training/report._plain), copied verbatim.
On the values their callers pass, ``jsonable`` with the options named in each test returns the
same values of the same types; the last test pins where they differ on other inputs.
"""

from __future__ import annotations

import json
import math
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml.jsonable import jsonable

NAN, INF = float("nan"), float("inf")


def _old_jsonable(value: Any) -> Any:  # ml.base._jsonable
    if isinstance(value, dict):
        return {str(k): _old_jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_old_jsonable(v) for v in value]
    if hasattr(value, "tolist"):
        return value.tolist()
    if hasattr(value, "item"):
        return value.item()
    return value


def _old_nan_to_none(value: float) -> float | None:  # ml.monitoring._nan_to_none
    return None if value is None or math.isnan(value) else float(value)


def _old_clean(value: Any) -> Any:  # training_glue._clean
    if isinstance(value, dict):
        return {str(k): _old_clean(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_old_clean(v) for v in value]
    if isinstance(value, (np.floating, float)):
        return float(value) if np.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    return value


def _old_plain(value):  # defs/training/report._plain
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):
        value = value.item()
    return None if isinstance(value, float) and value != value else value


def same(a: Any, b: Any) -> bool:
    """Equal values of equal types, NaN equal to NaN, containers compared item by item."""
    if type(a) is not type(b):
        return False
    if isinstance(a, dict):
        return list(a) == list(b) and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and math.isnan(a):
        return math.isnan(b)
    return a == b


# Metric dicts as the models, training_glue and hyperopt build them.
METRICS = {
    "accuracy": np.float64(0.4),
    "information_coefficient": 0.031,
    "ic_pvalue": NAN,
    "ic_std": np.float64("nan"),
    "n_train": np.int64(1200),
    "n_eval": 300,
    "best_iterations": [np.int64(40), 55],
    "backend": "lightgbm",
    "classes": np.array([1.0, 2.0, 3.0]),
    "class_counts": {"bull": 10, "bear": np.int64(3)},
    "auc": None,
    "surprise_ic": np.float32(0.25),
    "ratio": INF,
    "neg": -np.inf,
    "params": {"lr": 0.05, 3: (1, 2.5)},
    "flag": True,
    "np_flag": np.bool_(False),
    "series": pd.Series([1.0, NAN]),
    "when": pd.Timestamp("2024-01-02"),
    "details": {"logits": [0.1, NAN], "reason": "too few trials"},
}


def test_model_metadata_keeps_nan_and_inf_as_before():
    for key, value in METRICS.items():
        assert same(jsonable(value, keep_nan=True, keep_inf=True), _old_jsonable(value)), key
    # what metadata.json holds is the same text
    new = {k: jsonable(v, keep_nan=True, keep_inf=True) for k, v in METRICS.items()}
    old = {k: _old_jsonable(v) for k, v in METRICS.items()}
    assert json.dumps(new, sort_keys=True, default=str) == json.dumps(old, sort_keys=True, default=str)


@pytest.mark.parametrize("ic", [0.0, -0.25, 0.999, np.float64(0.125), NAN, np.float64("nan"), None])
def test_monitoring_ic_as_before(ic):
    assert same(jsonable(ic), _old_nan_to_none(ic))


def test_training_metrics_as_before():
    scalars = {k: v for k, v in METRICS.items() if k not in ("classes", "series", "np_flag")}
    for key, value in scalars.items():
        assert same(jsonable(value), _old_clean(value)), key
    assert same(jsonable(scalars), _old_clean(scalars))


class _Markdown(NamedTuple):  # stands for dagster's MetadataValue.md(...), a tuple subclass
    text: str


@pytest.mark.parametrize(
    "value",
    [
        np.float64(0.02),
        np.int64(5),
        7,
        0.5,
        NAN,
        np.float64("nan"),
        INF,
        np.float64(-np.inf),
        "fold_1",
        None,
        np.bool_(True),
        _Markdown("| a |"),
    ],
)
def test_dagster_metadata_values_as_before(value):
    assert same(jsonable(value, keep_inf=True), _old_plain(value))


def test_where_the_old_helpers_differed():
    # _clean left numpy arrays and numpy booleans as they were (json.dumps refuses both)
    assert jsonable(np.array([1.0, NAN])) == [1.0, None] and type(_old_clean(np.array([1.0]))) is np.ndarray
    assert jsonable(np.bool_(True)) is True and type(_old_clean(np.bool_(True))) is np.bool_
    # _nan_to_none kept +-inf and turned ints into floats
    assert jsonable(INF) is None and _old_nan_to_none(INF) == INF
    assert jsonable(3) == 3 and type(jsonable(3)) is int and type(_old_nan_to_none(3)) is float
    # _plain took .item() of one-element arrays and left containers alone
    assert jsonable(np.array([2.0]), keep_inf=True) == [2.0] and _old_plain(np.array([2.0])) == 2.0
    assert jsonable({"a": np.float64(NAN)}, keep_inf=True) == {"a": None}
    # _jsonable turned any tuple subclass into a list
    assert jsonable(_Markdown("x")) == _Markdown("x") and _old_jsonable(_Markdown("x")) == ["x"]


def test_output_is_plain_json():
    text = json.dumps(jsonable({k: v for k, v in METRICS.items() if k != "when"}), allow_nan=False)
    assert json.loads(text)["ic_pvalue"] is None and json.loads(text)["params"]["3"] == [1, 2.5]
    assert jsonable(np.longdouble(1.5)) == np.longdouble(1.5)  # no plain equivalent: unchanged
