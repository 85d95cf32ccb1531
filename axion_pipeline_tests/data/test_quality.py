"""``split_like_jumps``: an unadjusted split is flagged, a crash or a volatile stock's swing is not."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from axion_pipeline.data.quality import SPLIT_JUMP_COLUMNS, split_like_jumps
from axion_pipeline.data.simulator import simulate_market

DAYS = pd.bdate_range("2022-01-03", periods=40)
EVENT = 30  # the index of the day of the planted event


def ticker(daily_sd: float = 0.015, seed: int = 0, name: str = "AAA") -> pd.DataFrame:
    """40 days of a ticker moving ``daily_sd`` a day (log) on a volume of about 1M shares."""
    rng = np.random.default_rng(seed)
    close = 50.0 * np.exp(np.cumsum(daily_sd * rng.standard_normal(len(DAYS))))
    volume = np.round(1e6 * np.exp(0.1 * rng.standard_normal(len(DAYS))))
    return pd.DataFrame({"date": DAYS, "ticker": name, "close": close, "volume": volume})


def plant(frame: pd.DataFrame, price_factor: float, volume_factor: float = 1.0, day_volume: float = 1.0):
    """Multiply closes from ``EVENT`` on by ``price_factor`` and volumes by ``volume_factor``, and
    the event day's volume by ``day_volume`` more (a crash's spike)."""
    out = frame.copy()
    out.loc[EVENT:, "close"] *= price_factor
    out.loc[EVENT:, "volume"] *= volume_factor
    out.loc[EVENT, "volume"] *= day_volume
    return out


@pytest.mark.parametrize(
    ("price_factor", "volume_factor", "split"),
    [
        (0.5, 2.0, "2:1"),  # raw volume doubles with the share count
        (0.5, 1.0, "2:1"),  # adjusted volume, unadjusted prices
        (2 / 3, 1.5, "3:2"),
        (1 / 3, 3.0, "3:1"),
        (10.0, 0.1, "1:10"),  # reverse split
    ],
)
def test_an_unadjusted_split_is_flagged(price_factor, volume_factor, split):
    frame = plant(ticker(), price_factor, volume_factor)
    flagged = split_like_jumps(frame)
    assert list(flagged.columns) == SPLIT_JUMP_COLUMNS
    assert flagged["date"].tolist() == [DAYS[EVENT]] and flagged["split"].tolist() == [split]
    assert flagged["ratio"].iloc[0] == pytest.approx(price_factor, rel=0.05)
    assert flagged["sigmas"].iloc[0] > 8


def test_a_split_is_flagged_among_other_tickers_and_only_it():
    frame = pd.concat([ticker(seed=1, name="AAA"), plant(ticker(seed=2, name="BBB"), 0.5, 2.0)], ignore_index=True)
    flagged = split_like_jumps(frame.sample(frac=1.0, random_state=0))  # row order does not matter
    assert flagged[["date", "ticker"]].values.tolist() == [[DAYS[EVENT], "BBB"]]


@pytest.mark.parametrize(
    ("case", "frame"),
    [
        # the generated market's floor: -60% on ten times the usual volume
        ("crash to the -60% floor", plant(ticker(), 0.4, 1.0, day_volume=10.0)),
        # -50% exactly as a 2:1 split would move the price, but on a panic's volume
        ("crash of -50% on heavy volume", plant(ticker(), 0.5, 1.0, day_volume=10.0)),
        # a stock already moving 25% a day: a -33% day is an ordinary day for it
        ("volatile stock's -33% day", plant(ticker(daily_sd=0.25, seed=3), 2 / 3, 1.0)),
        # halved for one day, back the next: a bad print, not a split
        (
            "reverted the next day",
            plant(ticker(), 0.5, 2.0).assign(close=lambda f: f["close"].where(f.index != EVENT + 1, f["close"] * 2)),
        ),
    ],
)
def test_a_market_move_is_not_flagged(case, frame):
    moved = np.abs(np.log(frame["close"] / frame["close"].shift(1)))
    assert moved.max() > np.log1p(0.45), case  # the bare threshold would flag it
    assert split_like_jumps(frame).empty, case


def test_no_volume_column_still_flags_a_split():
    frame = plant(ticker(), 0.5).drop(columns="volume")
    assert split_like_jumps(frame)["date"].tolist() == [DAYS[EVENT]]


def test_a_tickers_first_returns_are_not_flagged():
    """A listing-day pop of +100% has no history to compare with: not a split."""
    frame = ticker().copy()
    frame.loc[1:, "close"] *= 2.0
    assert split_like_jumps(frame).empty
    frame = ticker().copy()
    frame.loc[4:, "close"] *= 2.0  # 3 returns before it: judged
    assert split_like_jumps(frame)["date"].tolist() == [DAYS[4]]


@pytest.fixture(scope="module")
def generated_prices() -> pd.DataFrame:
    return simulate_market().prices


def test_generated_market_crashes_are_not_flagged_but_a_planted_split_is(generated_prices):
    """The simulator has no splits but -60% days and a volatile ticker: nothing is flagged; a 2:1
    split planted into one of its tickers is."""
    prices = generated_prices
    log_ratio = np.log(prices["close"] / prices.sort_values("date").groupby("ticker")["close"].shift(1))
    assert (log_ratio < np.log(0.41)).sum() >= 3  # the -60% floor is hit
    assert (log_ratio.abs() > np.log1p(0.45)).sum() >= 10
    assert split_like_jumps(prices).empty

    day = pd.Timestamp("2021-03-01")
    after = (prices["ticker"] == "AJKU") & (prices["date"] >= day)
    planted = prices.copy()
    planted.loc[after, "close"] /= 2.0
    planted.loc[after, "volume"] *= 2.0
    flagged = split_like_jumps(planted)
    assert flagged[["date", "ticker", "split"]].values.tolist() == [[day, "AJKU", "2:1"]]
