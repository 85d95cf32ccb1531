import math

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import HybridScorer, HybridScoringConfig

RULE = pd.Series({"A": 0.2, "B": 0.5, "C": 0.9, "D": 0.6})
ML = pd.Series({"A": 1.0, "B": 0.0, "C": 0.4})  # D has no ML score


def test_hand_computed_blend_on_four_tickers():
    out = HybridScorer(HybridScoringConfig(ml_weight=0.3)).compute_hybrid_scores(RULE, ML)
    # A: 0.7*0.2 + 0.3*1.0 = 0.44; B: 0.7*0.5 + 0.3*0.0 = 0.35; C: 0.7*0.9 + 0.3*0.4 = 0.75; D keeps 0.6
    assert out.loc[["A", "B", "C", "D"], "blended"].tolist() == pytest.approx([0.44, 0.35, 0.75, 0.6])
    # ascending B < A < D < C -> percentiles 0, 1/3, 2/3, 1
    assert out.loc[["B", "A", "D", "C"], "hybrid_score"].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert out.loc[["A", "B", "C", "D"], "ml_weight"].tolist() == [0.3, 0.3, 0.3, 0.0]
    assert math.isnan(out.at["D", "ml_score"])


def test_inactive_ml_gives_the_rule_ranking():
    scorer = HybridScorer(HybridScoringConfig(ml_weight=0.3, min_ic_for_ml=0.03))
    assert scorer.update_ml_performance(0.0) is False
    out = scorer.compute_hybrid_scores(RULE, ML)
    assert (out["ml_weight"] == 0).all()
    # rule order A 0.2 < B 0.5 < D 0.6 < C 0.9
    assert out.loc[["A", "B", "D", "C"], "hybrid_score"].tolist() == pytest.approx([0.0, 1 / 3, 2 / 3, 1.0])
    assert scorer.compute_hybrid_score_single(0.4, 0.9) == 0.4


def test_ticker_with_only_an_ml_score_counts_only_while_ml_is_active():
    ml = pd.concat([ML, pd.Series({"E": 0.7})])
    scorer = HybridScorer(HybridScoringConfig(ml_weight=0.3))
    active = scorer.compute_hybrid_scores(RULE, ml)
    assert active.at["E", "blended"] == 0.7 and active.at["E", "ml_weight"] == 1.0
    scorer.update_ml_performance(-0.1)
    assert "E" not in scorer.compute_hybrid_scores(RULE, ml).index


def test_single_score():
    scorer = HybridScorer(HybridScoringConfig(ml_weight=0.3))
    assert scorer.compute_hybrid_score_single(0.4, 0.9) == pytest.approx(0.7 * 0.4 + 0.3 * 0.9)
    assert scorer.compute_hybrid_score_single(0.4, None) == 0.4
    assert scorer.compute_hybrid_score_single(0.4, float("nan")) == 0.4


def test_deactivation_and_reactivation_with_hysteresis():
    scorer = HybridScorer(HybridScoringConfig(ml_weight=0.3, min_ic_for_ml=0.03, reactivation_margin=0.01))
    steps = [
        (0.05, True),
        (0.02, False),
        (0.035, False),
        (0.039, False),
        (float("nan"), False),
        (0.04, True),
        (0.031, True),
        (0.0299, False),
    ]
    for ic, expected in steps:
        assert scorer.update_ml_performance(ic) is expected, ic
        assert scorer.ml_active is expected
    events = scorer.history_frame()["event"].tolist()
    assert events == [
        "unchanged",
        "deactivated",
        "unchanged",
        "unchanged",
        "ignored_nan",
        "reactivated",
        "unchanged",
        "deactivated",
    ]
    assert scorer.effective_ml_weight == 0.0


def test_without_fallback_ml_stays_on():
    scorer = HybridScorer(HybridScoringConfig(fallback_to_rules=False))
    assert scorer.update_ml_performance(-0.5) is True
    assert scorer.effective_ml_weight == 0.3


def test_per_date_reranking_on_a_date_ticker_index():
    idx = pd.MultiIndex.from_product(
        [pd.to_datetime(["2024-01-02", "2024-01-03"]), ["A", "B", "C"]], names=["date", "ticker"]
    )
    rule = pd.Series([0.0, 0.5, 1.0, 1.0, 0.5, 0.0], index=idx)
    ml = pd.Series([1.0, 0.5, 0.0, 0.0, 0.5, 1.0], index=idx)
    out = HybridScorer(HybridScoringConfig(ml_weight=0.25)).compute_hybrid_scores(rule, ml)
    # day 1: A 0.25, B 0.5, C 0.75; day 2 mirrored
    np.testing.assert_allclose(out["blended"], [0.25, 0.5, 0.75, 0.75, 0.5, 0.25])
    np.testing.assert_allclose(out["hybrid_score"], [0.0, 0.5, 1.0, 1.0, 0.5, 0.0])


@pytest.mark.parametrize("bad", [pd.Series({"A": 1.5}), pd.Series({"A": -0.1})])
def test_scores_outside_unit_interval_are_refused(bad):
    with pytest.raises(ValueError, match=r"\[0, 1\]"):
        HybridScorer().compute_hybrid_scores(bad, ML)


def test_invalid_weight_is_refused():
    with pytest.raises(ValueError, match="ml_weight"):
        HybridScorer(HybridScoringConfig(ml_weight=1.5))


@pytest.mark.parametrize(
    ("ic", "tstat", "active", "failed"),
    [
        (0.05, 2.5, True, []),
        (0.01, 3.0, False, ["IC 0.0100 < min_ic_for_ml 0.03"]),
        (0.05, 1.5, False, ["t-statistic 1.50 < min_tstat_for_ml 2"]),
        (0.01, 1.5, False, ["IC 0.0100 < min_ic_for_ml 0.03", "t-statistic 1.50 < min_tstat_for_ml 2"]),
        (0.05, float("nan"), False, ["t-statistic nan < min_tstat_for_ml 2"]),
        (0.05, None, True, []),  # no t-statistic given: the IC alone decides, as before
    ],
)
def test_gate_needs_both_the_ic_and_its_t_statistic(ic, tstat, active, failed):
    scorer = HybridScorer(HybridScoringConfig(min_ic_for_ml=0.03, min_tstat_for_ml=2.0))
    assert scorer.gate_failures(ic, tstat) == failed
    assert scorer.update_ml_performance(ic, tstat) is active
    assert scorer.effective_ml_weight == (0.3 if active else 0.0)


def test_reactivation_needs_the_margin_and_the_t_statistic():
    scorer = HybridScorer(HybridScoringConfig(min_ic_for_ml=0.03, reactivation_margin=0.01, min_tstat_for_ml=2.0))
    assert scorer.update_ml_performance(0.05, 1.0) is False
    assert scorer.gate_failures(0.035, 3.0) == ["IC 0.0350 < min_ic_for_ml 0.03 + reactivation_margin 0.01"]
    assert scorer.update_ml_performance(0.035, 3.0) is False
    assert scorer.update_ml_performance(0.05, 1.9) is False
    assert scorer.update_ml_performance(0.05, 2.0) is True
    history = scorer.history_frame()
    assert history["event"].tolist() == ["deactivated", "unchanged", "unchanged", "reactivated"]
    assert history["tstat"].tolist() == [1.0, 3.0, 1.9, 2.0]
