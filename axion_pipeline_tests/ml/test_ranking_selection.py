"""The ranking model's tree size and round count: validation curves per window, pooled over the
window's own and earlier validation slices, never a later one."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.simulator import SimulationConfig, simulate_market
from axion_pipeline.ml.config import SCORE_BLEND_SIGNAL, MLConfig, RankingModelConfig, WalkForwardConfig
from axion_pipeline.ml.datasets import TrainWindow, plan_walk_forward
from axion_pipeline.ml.feature_inputs import ranking_inputs
from axion_pipeline.ml.training import (
    choose_ranking_config,
    no_curves,
    ranking_validation_curves,
    train_ranking,
    usable_curves,
    walk_forward_ranking,
)

SIZES = RankingModelConfig(candidate_num_leaves=[3, 15], candidate_min_child_samples=[50, 20])


def _window(key: str, start: str) -> TrainWindow:
    """Windows 100 business days apart: train_end = start + 60, test from start + 82."""
    day = pd.bdate_range(start, periods=200)
    return TrainWindow(
        key=key,
        train_start=day[0],
        fit_end=day[38],
        val_start=day[40],
        train_end=day[60],
        test_start=day[82],
        test_end=day[99],
    )


WINDOWS = [_window("fold_0", "2020-01-01"), _window("fold_1", "2020-05-20"), _window("fold_2", "2020-10-07")]


def _curve(window: TrainWindow, ic_by_point: dict[tuple[int, int], float]) -> pd.DataFrame:
    rows = [
        dict(
            num_leaves=leaves,
            min_child_samples=child,
            rounds=rounds,
            validation_ic=ic_by_point.get((leaves, rounds), 0.0),
        )
        for leaves, child in [(3, 50), (15, 20)]
        for rounds in (10, 20, 30)
    ]
    frame = pd.DataFrame(rows)
    frame.insert(0, "fold", window.key)
    frame.insert(1, "val_start", window.val_start)
    frame.insert(2, "val_end", window.train_end)
    frame["n_dates"] = 21
    return frame


def test_the_choice_pools_own_and_earlier_slices_and_never_a_later_one():
    curves = pd.concat(
        [
            _curve(WINDOWS[0], {(3, 10): 0.05, (15, 30): 0.02}),
            _curve(WINDOWS[1], {(3, 10): 0.00, (15, 30): 0.04}),
            # the later fold's slice is the best by far at another point: fold_1 must not see it
            _curve(WINDOWS[2], {(15, 20): 0.50}),
        ],
        ignore_index=True,
    )
    first = choose_ranking_config(curves, WINDOWS[0], SIZES)
    assert (first.num_leaves, first.rounds, first.windows) == (3, 10, ("fold_0",))
    second = choose_ranking_config(curves, WINDOWS[1], SIZES)
    # mean over fold_0 and fold_1: (3, 10) -> 0.025, (15, 30) -> 0.03
    assert (second.num_leaves, second.min_child_samples, second.rounds) == (15, 20, 30)
    assert second.pooled_validation_ic == pytest.approx(0.03) and second.own_validation_ic == pytest.approx(0.04)
    assert second.windows == ("fold_0", "fold_1")
    assert set(usable_curves(curves, WINDOWS[1])["fold"]) == {"fold_0", "fold_1"}
    third = choose_ranking_config(curves, WINDOWS[2], SIZES)
    assert (third.num_leaves, third.rounds) == (15, 20) and len(third.windows) == 3


def test_ties_go_to_fewer_rounds_and_unscored_windows_are_never_chosen():
    curves = pd.concat([_curve(WINDOWS[0], {(3, 20): 0.03, (3, 30): 0.03}), no_curves(WINDOWS[1])])
    choice = choose_ranking_config(curves, WINDOWS[1], SIZES)
    assert (choice.num_leaves, choice.rounds) == (3, 20) and choice.windows == ("fold_0",)
    assert choose_ranking_config(no_curves(WINDOWS[0]), WINDOWS[0], SIZES) is None
    # a size the config does not ask for is ignored
    other = replace(SIZES, candidate_num_leaves=[15], candidate_min_child_samples=[20])
    assert choose_ranking_config(curves, WINDOWS[1], other).num_leaves == 15


@pytest.fixture(scope="module")
def small_market():
    market = simulate_market(SimulationConfig(n_tickers=60, start="2019-01-01", end="2022-06-30", seed=11))
    features, targets, calendar = ranking_inputs(market)
    wf = WalkForwardConfig(n_splits=2, train_size=252, test_size=42, gap=21, validation_size=42, expanding=True)
    plan = plan_walk_forward(calendar, wf, horizon=21, warmup_days=300, live_days=42)
    config = MLConfig(
        ranking=replace(SIZES, n_ensemble=2, num_leaves=3, min_child_samples=50, n_estimators=60),
    )
    return features, targets, plan, config, market.sectors.set_index("ticker")["sector"]


def test_curves_cover_every_size_and_checkpoint_and_the_model_trains_the_chosen_rounds(small_market):
    features, targets, plan, config, sectors = small_market
    window = plan.windows[0]
    curves = ranking_validation_curves(features, targets, window, config, sectors=sectors)
    assert len(curves) == 2 * 6 and set(curves["rounds"]) == {10, 20, 30, 40, 50, 60}
    assert curves["validation_ic"].notna().all() and (curves["val_end"] == window.train_end).all()
    assert curves["n_dates"].iloc[0] == 42
    # a curve made to favour 40 rounds of the 15-leaf trees decides the model's size and rounds
    rigged = curves.assign(validation_ic=np.where((curves["num_leaves"] == 15) & (curves["rounds"] == 40), 1.0, 0.0))
    run = train_ranking(features, targets, window, config, sectors=sectors, curves=rigged)
    boosters = run.model.raw_boosters()
    assert len(boosters) == 2 and all(b.current_iteration() == 40 for b in boosters)
    assert run.model.config.num_leaves == 15 and run.info["pooled_validation_ic"] == 1.0
    # the validation slice is fitted too (refit_on_validation), every 5th date from its last, as
    # the fitted span is sampled: 9 of its 42 dates
    per_date = run.info["n_validation_rows"] / 42
    assert run.train_metrics["n_train"] == pytest.approx(run.info["n_fit_rows"] + 9 * per_date, abs=per_date)
    assert run.train_metrics["n_train"] > run.info["n_fit_rows"]
    # curves from another ranking config are refused, not silently ignored
    with pytest.raises(ValueError, match="same ranking config"):
        train_ranking(features, targets, window, config, sectors=sectors, curves=rigged.assign(num_leaves=63))


def test_walk_forward_folds_choose_from_their_own_and_earlier_curves(small_market):
    features, targets, plan, config, sectors = small_market
    _, predictions, runs = walk_forward_ranking(features, targets, plan.windows, config, sectors=sectors)
    assert [run.train_metrics["selection_windows"] for run in runs] == [["fold_0"], ["fold_0", "fold_1"]]
    assert set(predictions["fold"]) == {"fold_0", "fold_1"}
    # a fold trained alone computes its own curves and chooses from them only
    alone = train_ranking(features, targets, plan.windows[0], config, sectors=sectors)
    pd.testing.assert_frame_equal(alone.predictions, runs[0].predictions)


def test_the_ml_score_averages_the_model_with_residual_reversal_which_the_model_never_sees(small_market):
    features, targets, plan, config, sectors = small_market
    window = plan.windows[0]
    assert features[SCORE_BLEND_SIGNAL].notna().mean() > 0.5
    run = train_ranking(features, targets, window, config, sectors=sectors)
    assert SCORE_BLEND_SIGNAL not in run.model.feature_names
    assert run.model.metadata.extra["score_blend"] == {"signal": SCORE_BLEND_SIGNAL, "weight": 0.5}
    p = run.predictions
    keys = pd.MultiIndex.from_frame(p[["date", "ticker"]])
    signal = features.set_index(["date", "ticker"])[SCORE_BLEND_SIGNAL].reindex(keys).to_numpy()
    pct = (
        p.groupby("date")["model_score"]
        .rank(pct=False)
        .sub(1)
        .div(p.groupby("date")["model_score"].transform("size") - 1)
    )
    sig = pd.Series(signal).groupby(p["date"].to_numpy()).rank().sub(1)
    sig = sig.div(pd.Series(signal).notna().groupby(p["date"].to_numpy()).transform("sum") - 1).to_numpy()
    expected = np.where(np.isfinite(sig), 0.5 * pct + 0.5 * sig, pct)
    np.testing.assert_allclose(p["score"], expected, atol=1e-12)
    # weight 0: the model's own score, and the same model (the signal never changed the fit)
    alone = train_ranking(features, targets, window, replace(config, score_blend_weight=0.0), sectors=sectors)
    np.testing.assert_array_equal(alone.predictions["score"], alone.predictions["model_score"])
    np.testing.assert_array_equal(alone.predictions["model_score"], p["model_score"])
    # without the column (features built without prices) the score is the model's alone too
    bare = train_ranking(features.drop(columns=[SCORE_BLEND_SIGNAL]), targets, window, config, sectors=sectors)
    np.testing.assert_array_equal(bare.predictions["score"], p["model_score"])
