"""Forward-return targets: hand-checked returns and labels, NaN rules, window locality."""

from __future__ import annotations

import hypothesis.extra.numpy as hnp
import numpy as np
import pandas as pd
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from axion_pipeline.ml import FeatureEngineer
from axion_pipeline.ml.targets import quintile_labels, target_for_date, target_panel

DATES = pd.bdate_range("2024-01-01", periods=6)


@pytest.fixture
def returns() -> pd.DataFrame:
    return pd.DataFrame(
        {
            "A": [0.0, 0.10, 0.10, -0.05, 0.0, 0.02],
            "B": [0.0, 0.02, np.nan, 0.01, 0.03, 0.0],
            "C": [0.0, -0.01, 0.05, 0.05, 0.0, 0.01],
        },
        index=DATES,
    )


def test_hand_checked_forward_returns_and_unelapsed_window(returns):
    panel = target_panel(returns, forward_days=2, num_quintiles=2)
    fwd = panel["fwd_return"].unstack()
    assert fwd.loc[DATES[0], "A"] == pytest.approx(1.1 * 1.1 - 1)
    assert fwd.loc[DATES[0], "C"] == pytest.approx(0.99 * 1.05 - 1)
    assert fwd.loc[DATES[3], "A"] == pytest.approx(1.0 * 1.02 - 1)
    # B misses a return inside its windows starting 01-01 and 01-02 (the NaN is on 01-03).
    assert fwd["B"].isna().tolist() == [True, True, False, False, True, True]
    # The last two dates lack two later returns: NaN, kept as rows, not dropped or filled.
    assert len(panel) == 18 and fwd.loc[DATES[4:]].isna().all().all()
    labels = panel["label"].unstack()
    assert labels.loc[DATES[0]].tolist()[0::2] == [2.0, 1.0] and np.isnan(labels.loc[DATES[0], "B"])
    assert labels.loc[DATES[4:]].isna().all().all()


def test_quintile_labels_ties_missing_and_symbol_order():
    symbols = [f"S{i:02d}" for i in range(11)]
    nxt = [0.01, 0.01, 0.01, 0.02, -0.01, np.nan, 0.03, 0.0, 0.0, 0.05, 0.04]
    returns = pd.DataFrame([[0.0] * 11, nxt], index=DATES[:2], columns=symbols)
    labels = FeatureEngineer().create_target(returns, target_date=DATES[0], forward_days=1, num_quintiles=5)
    # Ranks with ties broken by symbol name: S04 < S07 < S08 < S00 < S01 < S02 < S03 < S06 < S10 < S09.
    want = {"S04": 1, "S07": 1, "S08": 2, "S00": 2, "S01": 3, "S02": 3, "S03": 4, "S06": 4, "S10": 5, "S09": 5}
    assert labels.drop("S05").to_dict() == {k: float(v) for k, v in want.items()}
    assert np.isnan(labels["S05"])  # missing return: NaN label
    shuffled = returns[symbols[::-1]]
    pd.testing.assert_series_equal(FeatureEngineer().create_target(shuffled, DATES[0], 1, 5), labels)
    # Fewer valid returns than quintiles: no labels.
    few = returns.iloc[:, :4]
    assert FeatureEngineer().create_target(few, DATES[0], 1, 5).isna().all()


@pytest.mark.parametrize("seed", range(4))
def test_labels_are_balanced_monotone_buckets_of_first_ranks(seed):
    rng = np.random.default_rng(seed)
    for n in range(5, 41):
        q = int(rng.integers(2, min(n, 10) + 1))
        x = rng.integers(0, 6, size=n).astype(float)  # heavy ties
        labels = quintile_labels(x[None, :], q)[0]
        ranks = pd.Series(x).rank(method="first").to_numpy()
        assert np.all(np.diff(labels[np.argsort(ranks)]) >= 0)
        sizes = np.bincount(labels.astype(int), minlength=q + 1)[1:]
        assert sizes.max() - sizes.min() <= 1 and sizes.sum() == n
        if n % q == 0:
            np.testing.assert_array_equal(labels, pd.qcut(ranks, q, labels=False) + 1)


def test_single_date_equals_panel_and_validation(returns):
    panel = target_panel(returns, forward_days=2, num_quintiles=2)
    for t in DATES:
        single = target_for_date(returns, t, forward_days=2, num_quintiles=2)
        pd.testing.assert_frame_equal(single, panel.xs(t, level="date"), check_exact=True)
    eng = FeatureEngineer()
    pd.testing.assert_series_equal(eng.create_target(returns, None, 2, 2), panel["label"])
    pd.testing.assert_frame_equal(eng.create_target_panel(returns, 2, 2), panel)
    with pytest.raises(ValueError, match="no row"):
        eng.create_target(returns, "2023-12-29", 2, 2)
    with pytest.raises(ValueError, match="forward_days"):
        target_panel(returns, forward_days=0)
    with pytest.raises(ValueError, match="unique"):
        target_panel(pd.concat([returns, returns.iloc[:1]]))


@st.composite
def returns_and_window(draw):
    n_dates, n_symbols = draw(st.integers(4, 12)), draw(st.integers(2, 6))
    cells = st.one_of(st.just(np.nan), st.floats(-0.2, 0.2, allow_nan=False), st.sampled_from([0.0, 0.01]))
    values = draw(hnp.arrays(np.float64, (n_dates, n_symbols), elements=cells))
    returns = pd.DataFrame(
        values, index=pd.bdate_range("2024-05-01", periods=n_dates), columns=[f"X{i}" for i in range(n_symbols)]
    )
    h = draw(st.integers(1, 4))
    pos = draw(st.integers(0, n_dates - 1))
    noise = draw(hnp.arrays(np.float64, (n_dates, n_symbols), elements=cells))
    return returns, pos, h, noise, draw(st.integers(2, 3))


@settings(max_examples=80, deadline=None)
@given(returns_and_window())
def test_target_at_t_depends_only_on_returns_in_the_forward_window(case):
    returns, pos, h, noise, q = case
    t = returns.index[pos]
    inside = np.zeros(len(returns), dtype=bool)
    inside[pos + 1 : pos + 1 + h] = True
    outside_changed = returns.where(np.broadcast_to(inside[:, None], returns.shape), noise)
    before = target_for_date(returns, t, h, q)
    pd.testing.assert_frame_equal(target_for_date(outside_changed, t, h, q), before, check_exact=True)
    pd.testing.assert_frame_equal(target_panel(outside_changed, h, q).xs(t, level="date"), before, check_exact=True)
    if inside.sum() == h:  # window elapsed: a change inside it does move the forward return
        bumped = returns.copy()
        bumped.iloc[pos + h, 0] = (0.0 if np.isnan(returns.iloc[pos + h, 0]) else returns.iloc[pos + h, 0]) + 0.5
        after = target_for_date(bumped, t, h, q)["fwd_return"]
        assert np.isnan(after.iloc[0]) or after.iloc[0] != before["fwd_return"].iloc[0]
    else:
        assert before.isna().all().all()


def test_membership_ranks_the_members_of_each_date_only(returns):
    """C is a member from DATES[2] on: before, A and B are ranked between themselves alone."""
    membership = pd.DataFrame(
        {"ticker": ["A", "B", "C"], "start_date": [DATES[0], DATES[0], DATES[2]], "end_date": pd.NaT}
    )
    full = target_panel(returns, forward_days=1, num_quintiles=2)
    members = target_panel(returns, forward_days=1, num_quintiles=2, membership=membership)
    fwd, labels = members["fwd_return"].unstack(), members["label"].unstack()
    assert fwd.loc[DATES[:2], "C"].isna().all() and labels.loc[DATES[:2], "C"].isna().all()  # no target
    # on DATES[0] A (+0.10 next day) beats B (+0.02); with C (-0.01) in, B would still be in the bottom half
    assert labels.loc[DATES[0], ["A", "B"]].tolist() == [2.0, 1.0]
    assert full["label"].unstack().loc[DATES[0]].tolist() == [2.0, 1.0, 1.0]
    # from DATES[2] on C is in and everything equals the unrestricted panel
    pd.testing.assert_frame_equal(members.loc[DATES[2] :], full.loc[DATES[2] :])
    # a member leaving inside the window keeps the return of its own prices
    left = membership.assign(end_date=[pd.NaT, DATES[0], pd.NaT])
    kept = target_panel(returns, forward_days=2, num_quintiles=2, membership=left)["fwd_return"].unstack()
    assert np.isnan(kept.loc[DATES[1], "B"]) and np.isnan(kept.loc[DATES[0], "B"])  # the NaN return of 01-03
    assert kept.loc[DATES[0], "A"] == pytest.approx(1.1 * 1.1 - 1)
