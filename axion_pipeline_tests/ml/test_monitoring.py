import itertools
import json
import math

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.ml import ModelHealthStatus, ModelPerformanceTracker, MonitoringConfig

SYMBOLS = ["A", "B", "C", "D", "E"]
# Spearman on 5 symbols: rho = 1 - 6 sum(d^2) / (5 * 24) = 1 - sum(d^2) / 20, steps of 0.1
_PERMS = {
    round(1 - sum((i - p) ** 2 for i, p in enumerate(perm)) / 20, 1): perm for perm in itertools.permutations(range(5))
}


def pair_with_ic(ic: float) -> tuple[pd.Series, pd.Series]:
    """Scores 0..4 and returns ranked by a permutation whose Spearman correlation is ``ic``."""
    perm = _PERMS[round(ic, 1)]
    return (pd.Series(np.arange(5.0), index=SYMBOLS), pd.Series([0.01 * (p + 1) for p in perm], index=SYMBOLS))


def record_series(tracker, ics, start="2024-01-01"):
    for day, ic in zip(pd.bdate_range(start, periods=len(ics)), ics):
        tracker.record_prediction(day, *pair_with_ic(ic))


def test_ic_hand_computed_and_aligned_on_symbols():
    tracker = ModelPerformanceTracker()
    scores = pd.Series({"D": 4.0, "A": 1.0, "C": 3.0, "B": 2.0})
    actual = pd.Series({"A": 0.1, "B": 0.3, "C": 0.2, "D": 0.4, "Z": 9.9})  # Z has no prediction
    # ranks 1,2,3,4 vs 1,3,2,4: sum d^2 = 2 -> rho = 1 - 6*2 / (4*15) = 0.8
    assert tracker.record_prediction("2024-03-01", scores, actual) == pytest.approx(0.8)
    assert tracker.get_ic_history().tolist() == pytest.approx([0.8])


def test_too_few_symbols_give_nan_ic_that_health_ignores():
    tracker = ModelPerformanceTracker()
    ic = tracker.record_prediction("2024-03-01", pd.Series({"A": 1.0, "B": 2.0}), pd.Series({"A": 0.1, "B": 0.2}))
    assert math.isnan(ic)
    assert tracker.get_health_status().n_observations == 0


def test_history_persists_across_instances(tmp_path):
    path = tmp_path / "monitoring" / "ic.jsonl"
    first = ModelPerformanceTracker(storage_path=str(path))
    record_series(first, [0.5, 0.3, 0.1])
    first.record_prediction("2024-01-02", *pair_with_ic(-0.2))  # re-recording a date replaces it
    second = ModelPerformanceTracker(storage_path=str(path))
    history = second.get_ic_history("stock_ranking")
    assert history.tolist() == pytest.approx([0.5, -0.2, 0.1])
    assert list(history.index) == list(pd.bdate_range("2024-01-01", periods=3))
    lines = [json.loads(x) for x in path.read_text().splitlines()]
    assert len(lines) == 4 and {"model_name", "date", "ic", "n_symbols", "recorded_at"} <= set(lines[0])
    assert second.history(model_name="other").empty


CONFIG = MonitoringConfig(min_ic_healthy=0.3, retrain_ic_threshold=0.1, min_ic_observations=3)


@pytest.mark.parametrize(
    "ics, status, retrain",
    [
        ([0.5] * 5, "healthy", False),
        ([0.2] * 5, "degraded", False),  # flat: watch, no retraining yet
        ([0.4, 0.3, 0.2, 0.1, 0.0], "degraded", True),  # mean 0.2, falling 0.1 a date
        ([0.0] * 5, "critical", True),
        ([0.5, 0.5], "unknown", False),  # 2 < min_ic_observations
    ],
)
def test_health_states(ics, status, retrain):
    tracker = ModelPerformanceTracker(config=CONFIG)
    record_series(tracker, ics)
    health = tracker.get_health_status("stock_ranking")
    assert isinstance(health, ModelHealthStatus)
    assert (health.status, health.needs_retraining) == (status, retrain)
    assert health.current_ic == pytest.approx(ics[-1])
    assert health.rolling_ic_3m == pytest.approx(np.mean(ics))
    assert health.ic_trend == pytest.approx(np.polyfit(np.arange(len(ics)), ics, 1)[0])


def test_rolling_window_uses_the_last_63_dates():
    tracker = ModelPerformanceTracker()
    record_series(tracker, [-1.0] * 7 + [0.5] * 60 + [0.0] * 3)
    health = tracker.get_health_status()
    assert health.n_observations == 63
    assert health.rolling_ic_3m == pytest.approx((60 * 0.5) / 63)
    assert health.current_ic == 0.0 and health.status == "healthy"


def test_no_history_is_unknown():
    health = ModelPerformanceTracker().get_health_status("stock_ranking")
    assert health.status == "unknown" and math.isnan(health.rolling_ic_3m) and not health.needs_retraining


def test_corrupt_storage_line_is_reported(tmp_path):
    path = tmp_path / "ic.jsonl"
    path.write_text('{"model_name": "stock_ranking", "date": "2024-01-01", "ic": 0.1}\nnot json\n')
    with pytest.raises(ValueError, match=r"ic.jsonl:2"):
        ModelPerformanceTracker(storage_path=path).get_health_status()


def test_few_matured_dates_are_unknown_not_healthy():
    # 42 daily ICs of 21-day returns (two independent periods) averaging 0.15: the default asks for 63.
    tracker = ModelPerformanceTracker()
    record_series(tracker, [0.1, 0.2] * 21)
    health = tracker.get_health_status()
    assert health.rolling_ic_3m == pytest.approx(0.15)
    assert health.status == "unknown" and not health.needs_retraining
    assert "63 needed" in health.reasons[0]


def test_a_positive_ic_that_cannot_be_told_from_zero_is_unknown():
    rng = np.random.default_rng(3)
    noisy = rng.permutation([0.6] * 33 + [-0.5] * 30)  # mean 0.076, std 0.55 over 63 dates
    tracker = ModelPerformanceTracker()
    record_series(tracker, list(noisy))
    health = tracker.get_health_status()
    assert health.rolling_ic_3m >= MonitoringConfig().min_ic_healthy
    assert health.ic_tstat_nw < 2 and health.status == "unknown"
    assert "not distinguishable from zero" in health.reasons[0]
    steady = ModelPerformanceTracker()
    record_series(steady, list(rng.choice([0.0, 0.1, 0.2], 63)))
    health = steady.get_health_status()
    assert health.ic_tstat_nw >= 2 and health.status == "healthy"
