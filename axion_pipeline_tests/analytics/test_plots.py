"""Plots: valid, small PNG bytes from the library's tables; markdown embedding round-trips."""

from __future__ import annotations

import base64
import io
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.analytics import plots
from axion_pipeline.analytics.tearsheet import compute_tear_sheet

DATES = pd.bdate_range("2022-01-03", periods=300)
RNG = np.random.default_rng(11)


@pytest.fixture(scope="module")
def tear_sheet():
    close = pd.DataFrame(
        100 * np.exp(np.cumsum(0.01 * RNG.normal(size=(300, 30)), axis=0)),
        index=DATES,
        columns=[f"T{i}" for i in range(30)],
    )
    factor = close.pct_change(5).stack().rename("momentum").rename_axis(["date", "ticker"]).reset_index()
    return compute_tear_sheet(factor, close)


def _regimes() -> pd.Series:
    labels = np.repeat(["bull", "sideways", "bear", "crisis", "bull"], 60)
    return pd.Series(labels, index=DATES)


FEATURES = [f"feature_{i}" for i in range(40)]
CASES = {
    "ic_over_time": lambda ts: plots.plot_ic_over_time(ts.ic, "momentum", 5),
    "quantile_returns": lambda ts: plots.plot_quantile_returns(ts.quantile_returns, "momentum", 21),
    "regime_timeline": lambda ts: plots.plot_regime_timeline(
        _regimes(), pd.Series(np.linspace(100, 130, 300), index=DATES, name="S&P 500")
    ),
    "regime_timeline_no_index": lambda ts: plots.plot_regime_timeline(_regimes(), None),
    "psi_bars": lambda ts: plots.plot_psi_bars(pd.Series(RNG.gamma(1.0, 0.08, 40), index=FEATURES)),
    "feature_importance": lambda ts: plots.plot_feature_importance(
        pd.Series(RNG.random(40), index=FEATURES, name="gain")
    ),
    "shap_summary": lambda ts: plots.plot_shap_summary(pd.DataFrame(RNG.normal(size=(800, 40)), columns=FEATURES)),
    "shap_beeswarm": lambda ts: plots.plot_shap_summary(
        pd.DataFrame(RNG.normal(size=(800, 40)), columns=FEATURES), beeswarm=True
    ),
    "walk_forward_ic": lambda ts: plots.plot_walk_forward_ic(
        pd.Series(RNG.normal(0.03, 0.1, 300), index=DATES),
        pd.DataFrame({"fold": [0, 1, 2], "test_start": DATES[[0, 100, 200]], "test_end": DATES[[99, 199, 299]]}),
    ),
    "walk_forward_ic_no_folds": lambda ts: plots.plot_walk_forward_ic(
        pd.Series(RNG.normal(0.03, 0.1, 300), index=DATES), None
    ),
    "signal_ic": lambda ts: plots.plot_signal_ic(
        pd.DataFrame(
            {
                "signal": ["ml_score", "composite", "momentum_12_1", "reference"],
                "ic_mean": [0.04, 0.03, -0.01, 0.02],
                "ic_ci_low": [0.01, 0.0, -0.04, np.nan],
                "ic_ci_high": [0.07, 0.06, 0.02, np.nan],
            }
        ),
        highlight="ml_score",
    ),
    "cumulative_ic": lambda ts: plots.plot_cumulative_ic(
        pd.DataFrame(RNG.normal(0.02, 0.1, (300, 3)), index=DATES, columns=["ml_score", "composite", "reference"]),
        ["ml_score", "composite", "reference", "absent"],
    ),
    "exposures": lambda ts: plots.plot_exposures(
        pd.DataFrame(
            {
                "signal": ["ml_score"] * 3 + ["composite"] * 3,
                "fold": ["fold_0", "fold_1", "all"] * 2,
                "beta": RNG.normal(0, 0.2, 6),
                "size": RNG.normal(0, 0.2, 6),
                "sector_r2": RNG.random(6) * 0.2,
            }
        ),
        ["beta", "size", "sector_r2"],
    ),
}


@pytest.mark.parametrize("name", sorted(CASES))
def test_plot_returns_small_valid_png(name, tear_sheet):
    from matplotlib.image import imread

    png = CASES[name](tear_sheet)
    assert isinstance(png, bytes) and png.startswith(b"\x89PNG\r\n\x1a\n")
    assert 2_000 < len(png) < 200_000
    image = imread(io.BytesIO(png), format="png")
    assert image.shape[1] >= 8 * plots.DPI and image.shape[0] >= 4 * plots.DPI  # decodes, real size
    assert image.shape[1] >= 800  # readable in the UI's markdown view, not a 480 px thumbnail
    assert image[..., :3].std() > 0.01  # something was drawn


def test_markdown_image_round_trips():
    png = plots.plot_feature_importance(pd.Series([3.0, 2.0, 1.0], index=["a", "b", "c"]))
    text = plots.to_markdown_image(png, "importance [gain]")
    assert text.startswith("![importance (gain)](data:image/png;base64,")
    assert base64.b64decode(text[text.index(",") + 1 : -1]) == png
    with pytest.raises(ValueError, match="PNG"):
        plots.to_markdown_image(b"GIF89a", "x")


def test_psi_top_and_invalid_inputs():
    psi = pd.Series([0.3, 0.05, 0.15, np.nan], index=["a", "b", "c", "d"])
    assert plots.plot_psi_bars(psi, top=2).startswith(b"\x89PNG")
    with pytest.raises(ValueError, match="empty"):
        plots.plot_psi_bars(pd.Series(dtype=float))
    with pytest.raises(ValueError, match="empty"):
        plots.plot_ic_over_time(pd.DataFrame({"date": [], "factor": [], "horizon": [], "ic": []}), "x", 1)
    with pytest.raises(ValueError, match="test_start"):
        plots.plot_walk_forward_ic(pd.Series([0.1, 0.2], index=DATES[:2]), pd.DataFrame({"start": DATES[:1]}))


def test_same_input_same_bytes():
    contributions = pd.DataFrame(np.random.default_rng(1).normal(size=(100, 5)), columns=list("abcde"))
    first = plots.plot_shap_summary(contributions, beeswarm=True)
    assert plots.plot_shap_summary(contributions, beeswarm=True) == first


def test_import_does_not_load_matplotlib():
    code = "import sys, axion_pipeline.analytics.plots; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
