"""Long/wide conversions of the feature table."""

import numpy as np
import pandas as pd

from axion_pipeline.ml.feature_inputs import from_long, to_long


def _wide() -> pd.DataFrame:
    idx = pd.MultiIndex.from_product(
        [pd.to_datetime(["2020-01-02", "2020-01-03"]), ["A", "B", "C"]], names=["date", "symbol"]
    )
    return pd.DataFrame(np.arange(12.0).reshape(6, 2), index=idx, columns=["x_rank", "y_lag5d"])


def test_in_place_long_frame_equals_the_copy_and_shares_the_values():
    wide = _wide()
    values = wide["x_rank"].to_numpy()
    copied = to_long(wide.copy())
    in_place = to_long(wide, inplace=True)
    pd.testing.assert_frame_equal(copied, in_place)
    assert in_place is wide and np.shares_memory(in_place["x_rank"].to_numpy(), values)
    assert list(in_place.columns[:2]) == ["date", "ticker"]


def test_long_round_trips_to_wide():
    pd.testing.assert_frame_equal(from_long(to_long(_wide())), _wide())
