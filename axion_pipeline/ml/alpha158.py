"""Alpha158-style price-volume features and Qlib's stock recipe on top of them, written here.

Definitions follow Qlib's ``Alpha158DL.get_feature_config`` (``qlib/contrib/data/loader.py``) and
its operators (``qlib/data/ops.py``, ``qlib/data/_libs/rolling.pyx``); names and order are Qlib's.
O, H, L, C, V are open, high, low, close, volume; VWAP is the ``vwap`` column or (H + L + C) / 3.
``Ref(X, k)`` is X k dates earlier on the universe's calendar (the union of the input dates: a
ticker's missing day is a NaN, as in Qlib's data); windows of d dates end at t.

- K-bar (9): KMID (C-O)/O, KLEN (H-L)/O, KMID2 (C-O)/(H-L+e), KUP (H-max(O,C))/O, KUP2
  (H-max(O,C))/(H-L+e), KLOW (min(O,C)-L)/O, KLOW2 (min(O,C)-L)/(H-L+e), KSFT (2C-H-L)/O, KSFT2
  (2C-H-L)/(H-L+e), with e = 1e-12.
- Price (4): OPEN0 O/C, HIGH0 H/C, LOW0 L/C, VWAP0 VWAP/C.
- Rolling (29 operators x d in 5, 10, 20, 30, 60), all divided by C_t where Qlib does: ROC
  Ref(C,d)/C; MA mean(C)/C; STD std(C)/C (ddof 1); BETA, RSQR, RESI: slope/C, R^2 and residual of
  the newest point/C of the regression of C on time; MAX max(H)/C; MIN min(L)/C; QTLU, QTLD the
  0.8 and 0.2 quantiles of C (linear interpolation)/C; RANK percentile of C_t among the window's
  closes (average ties, rank / count); RSV (C-min(L))/(max(H)-min(L)+e); IMAX, IMIN position of
  max(H), min(L) in the window counted from its oldest date (1..d, the oldest of ties)/d; IMXD
  (IMAX-IMIN); CORR corr(C, log(V+1)); CORD corr(C/Ref(C,1), log(V/Ref(V,1)+1)); CNTP, CNTN share
  of up / down days (C vs Ref(C,1)), CNTD their difference; SUMP, SUMN, SUMD sum of gains, losses,
  gains - losses of C - Ref(C,1) over sum |C - Ref(C,1)| + e; VMA mean(V)/(V+e); VSTD
  std(V)/(V+e); WVMA std(w)/(mean(w)+e) with w = |C/Ref(C,1)-1| V; VSUMP, VSUMN, VSUMD as SUMP..
  on V.

Differences from Qlib, on purpose: Qlib's windows start with one observation (``min_periods=1``);
here a window needs ``axion_pipeline.factors.rolling.min_obs(d)`` valid values (all 5 for d = 5,
90% otherwise), else NaN, so a feature of a young ticker is missing rather than computed on a few
days. Missing days are left out of a window (Qlib counts a comparison with a missing day as a
down day in CNTP/CNTN; here it is missing). CORR, CORD and RSQR are NaN where a side's window
standard deviation is at most 2e-5, as Qlib does.

Look-ahead: every feature at t uses values on dates <= t only (shifts into the past and trailing
windows). ``Alpha158Reference`` then follows Qlib's benchmark recipe, adapted to this project's
label (see its docstring); its normalisation statistics come from the training window only.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from axion_pipeline.factors.rolling import min_obs
from axion_pipeline.ml.base import InsufficientDataError
from axion_pipeline.ml.datasets import sample_dates

EPS = 1e-12
FLAT_STD = 2e-5  # Qlib: np.isclose(std, 0, atol=2e-5) makes RSQR and CORR missing
WINDOWS = (5, 10, 20, 30, 60)
KBAR = ("KMID", "KLEN", "KMID2", "KUP", "KUP2", "KLOW", "KLOW2", "KSFT", "KSFT2")
PRICE = ("OPEN0", "HIGH0", "LOW0", "VWAP0")
ROLLING = (
    "ROC",
    "MA",
    "STD",
    "BETA",
    "RSQR",
    "RESI",
    "MAX",
    "MIN",
    "QTLU",
    "QTLD",
    "RANK",
    "RSV",
    "IMAX",
    "IMIN",
    "IMXD",
    "CORR",
    "CORD",
    "CNTP",
    "CNTN",
    "CNTD",
    "SUMP",
    "SUMN",
    "SUMD",
    "VMA",
    "VSTD",
    "WVMA",
    "VSUMP",
    "VSUMN",
    "VSUMD",
)


def alpha158_names(windows: tuple[int, ...] = WINDOWS) -> list[str]:
    """Feature names in Qlib's order: K-bar, price, then each rolling operator over the windows."""
    return [*KBAR, *PRICE, *(f"{op}{d}" for op in ROLLING for d in windows)]


def _lag(x: np.ndarray, j: int) -> np.ndarray:
    """x shifted ``j`` dates into the past (row t holds x[t - j]; NaN before the first date)."""
    out = np.full(x.shape, np.nan)
    if j < len(x):
        out[j:] = x[: len(x) - j]
    return out


def _div(num: np.ndarray, den: np.ndarray) -> np.ndarray:
    with np.errstate(divide="ignore", invalid="ignore"):
        out = num / den
    return np.where(np.isfinite(out), out, np.nan)


class _Panel:
    """Rolling statistics of the (dates x tickers) price panels, computed once each."""

    def __init__(self, o, h, low, c, v, vwap, windows: tuple[int, ...]):
        self.o, self.h, self.low, self.c, self.v, self.vwap = o, h, low, c, v, vwap
        self.windows = windows
        self._memo: dict = {}
        prev_c, prev_v = _lag(c, 1), _lag(v, 1)
        self.dc, self.dv = c - prev_c, v - prev_v
        self.ret = _div(c, prev_c)
        with np.errstate(invalid="ignore", divide="ignore"):
            self.log_v_change = np.log(_div(v, prev_v) + 1.0)
            self.up = np.where(np.isnan(self.dc), np.nan, self.dc > 0)
            self.down = np.where(np.isnan(self.dc), np.nan, self.dc < 0)
        self.gains, self.losses = np.maximum(self.dc, 0.0), np.maximum(-self.dc, 0.0)
        self.v_gains, self.v_losses = np.maximum(self.dv, 0.0), np.maximum(-self.dv, 0.0)

    def memo(self, key: tuple, fn):
        """``fn()`` computed once per key; ``release(key[0])`` frees a group no later feature needs."""
        if key not in self._memo:
            self._memo[key] = fn()
        return self._memo[key]

    def release(self, group: str) -> None:
        for key in [k for k in self._memo if k[0] == group]:
            del self._memo[key]

    @staticmethod
    def rolling(x: np.ndarray, d: int):
        return pd.DataFrame(x).rolling(d, min_periods=min_obs(d))

    def mean(self, x: np.ndarray, d: int) -> np.ndarray:
        return self.rolling(x, d).mean().to_numpy()

    def std(self, x: np.ndarray, d: int) -> np.ndarray:
        return self.rolling(x, d).std(ddof=1).to_numpy()

    def sum(self, x: np.ndarray, d: int) -> np.ndarray:
        return self.rolling(x, d).sum().to_numpy()

    def corr(self, x: np.ndarray, y: np.ndarray, d: int) -> np.ndarray:
        both = ~np.isnan(x) & ~np.isnan(y)
        x, y = np.where(both, x, np.nan), np.where(both, y, np.nan)
        r = self.rolling(x, d).corr(pd.DataFrame(y)).to_numpy()
        flat = (self.rolling(x, d).std().to_numpy() <= FLAT_STD) | (self.rolling(y, d).std().to_numpy() <= FLAT_STD)
        return np.where(flat | ~np.isfinite(r), np.nan, r)

    def regression(self, d: int) -> dict[str, np.ndarray]:
        """Slope, R^2 and newest residual of y = C_{t-j} / C_t on x = -j (the newest date 0) over
        the window's valid closes. The sums grow lag by lag, so one pass serves every window."""
        if ("regression", d) not in self._memo:
            c = self.c
            acc = {k: np.zeros(c.shape) for k in ("n", "x", "xx", "y", "yy", "xy")}
            for j in range(max(self.windows)):
                y = _div(_lag(c, j), c)
                ok = ~np.isnan(y)
                y0 = np.where(ok, y, 0.0)
                acc["n"] += ok
                acc["x"] -= ok * j
                acc["xx"] += ok * j * j
                acc["y"] += y0
                acc["yy"] += y0 * y0
                acc["xy"] -= y0 * j
                if j + 1 in self.windows:
                    self._memo[("regression", j + 1)] = self._fit(acc, j + 1)
        return self._memo[("regression", d)]

    def _fit(self, s: dict[str, np.ndarray], d: int) -> dict[str, np.ndarray]:
        n = s["n"]
        with np.errstate(divide="ignore", invalid="ignore"):
            sxx = s["xx"] - s["x"] * s["x"] / n
            syy = s["yy"] - s["y"] * s["y"] / n
            sxy = s["xy"] - s["x"] * s["y"] / n
            slope = sxy / sxx
            rsqr = sxy * sxy / (sxx * syy)
            resid = 1.0 - (s["y"] / n - slope * s["x"] / n)  # y at x = 0 is C_t / C_t = 1
            flat = np.sqrt(np.maximum(syy, 0.0) / (n - 1)) * self.c <= FLAT_STD  # std(C) over the window
        ok = (n >= min_obs(d)) & ~np.isnan(self.c)
        return {
            "slope": np.where(ok, slope, np.nan),
            "rsqr": np.where(ok & ~flat & np.isfinite(rsqr), rsqr, np.nan),
            "resid": np.where(ok, resid, np.nan),
        }

    def extremes(self, d: int) -> dict[str, np.ndarray]:
        """max(H), min(L) over the window and their positions counted from the window's oldest date
        (1..d; the oldest of ties, as numpy's argmax over the window in date order)."""
        if ("extremes", d) not in self._memo:
            h, low = self.h, self.low
            hi, lo = np.full(h.shape, np.nan), np.full(h.shape, np.nan)
            hi_lag, lo_lag = np.zeros(h.shape), np.zeros(h.shape)
            n_h, n_l = np.zeros(h.shape), np.zeros(h.shape)
            for j in range(max(self.windows)):
                hj, lj = _lag(h, j), _lag(low, j)
                with np.errstate(invalid="ignore"):
                    up = (hj >= hi) | (np.isnan(hi) & ~np.isnan(hj))  # >=: an older tie wins
                    down = (lj <= lo) | (np.isnan(lo) & ~np.isnan(lj))
                hi, hi_lag = np.where(up, hj, hi), np.where(up, j, hi_lag)
                lo, lo_lag = np.where(down, lj, lo), np.where(down, j, lo_lag)
                n_h += ~np.isnan(hj)
                n_l += ~np.isnan(lj)
                k = j + 1
                if k in self.windows:
                    ok_h, ok_l = n_h >= min_obs(k), n_l >= min_obs(k)
                    self._memo[("extremes", k)] = {
                        "max": np.where(ok_h, hi, np.nan),
                        "min": np.where(ok_l, lo, np.nan),
                        "imax": np.where(ok_h, k - hi_lag, np.nan),
                        "imin": np.where(ok_l, k - lo_lag, np.nan),
                    }
        return self._memo[("extremes", d)]


def _kbar_and_price(p: _Panel) -> Iterator[tuple[str, np.ndarray]]:
    o, h, low, c = p.o, p.h, p.low, p.c
    span = h - low + EPS
    top, bottom = np.fmax(o, c), np.fmin(o, c)
    top = np.where(np.isnan(o) | np.isnan(c), np.nan, top)  # Greater/Less propagate NaN in Qlib
    bottom = np.where(np.isnan(o) | np.isnan(c), np.nan, bottom)
    yield "KMID", _div(c - o, o)
    yield "KLEN", _div(h - low, o)
    yield "KMID2", _div(c - o, span)
    yield "KUP", _div(h - top, o)
    yield "KUP2", _div(h - top, span)
    yield "KLOW", _div(bottom - low, o)
    yield "KLOW2", _div(bottom - low, span)
    yield "KSFT", _div(2 * c - h - low, o)
    yield "KSFT2", _div(2 * c - h - low, span)
    yield "OPEN0", _div(o, c)
    yield "HIGH0", _div(h, c)
    yield "LOW0", _div(low, c)
    yield "VWAP0", _div(p.vwap, c)


# Rolling operators sharing intermediate statistics (memo group of ``_Panel``), freed after the last.
_GROUP = {
    **dict.fromkeys(("BETA", "RSQR", "RESI"), "regression"),
    **dict.fromkeys(("MAX", "MIN", "RSV", "IMAX", "IMIN", "IMXD"), "extremes"),
    **dict.fromkeys(("CNTP", "CNTN", "CNTD"), "count"),
    **dict.fromkeys(("SUMP", "SUMN", "SUMD"), "sum"),
    **dict.fromkeys(("VSUMP", "VSUMN", "VSUMD"), "vsum"),
}


def _rolling_feature(p: _Panel, op: str, d: int) -> np.ndarray:
    c, v = p.c, p.v
    if op == "ROC":
        return _div(_lag(c, d), c)
    if op == "MA":
        return _div(p.mean(c, d), c)
    if op == "STD":
        return _div(p.std(c, d), c)
    if op in ("BETA", "RSQR", "RESI"):
        return p.regression(d)[{"BETA": "slope", "RSQR": "rsqr", "RESI": "resid"}[op]]
    if op in ("MAX", "MIN"):
        return _div(p.extremes(d)[op.lower()], c)
    if op in ("QTLU", "QTLD"):
        return _div(p.rolling(c, d).quantile(0.8 if op == "QTLU" else 0.2).to_numpy(), c)
    if op == "RANK":
        return p.rolling(c, d).rank(pct=True).to_numpy()
    if op == "RSV":
        e = p.extremes(d)
        return _div(c - e["min"], e["max"] - e["min"] + EPS)
    if op in ("IMAX", "IMIN", "IMXD"):
        e = p.extremes(d)
        return {"IMAX": e["imax"], "IMIN": e["imin"], "IMXD": e["imax"] - e["imin"]}[op] / d
    if op == "CORR":
        return p.corr(c, np.log(v + 1.0), d)
    if op == "CORD":
        return p.corr(p.ret, p.log_v_change, d)
    if op in ("CNTP", "CNTN", "CNTD"):
        pos, neg = p.memo(("count", d), lambda: (p.mean(p.up, d), p.mean(p.down, d)))
        return {"CNTP": pos, "CNTN": neg, "CNTD": pos - neg}[op]
    if op in ("SUMP", "SUMN", "SUMD", "VSUMP", "VSUMN", "VSUMD"):
        if op.startswith("V"):
            op = op[1:]
            gains, losses, total = p.memo(
                ("vsum", d), lambda: (p.sum(p.v_gains, d), p.sum(p.v_losses, d), p.sum(np.abs(p.dv), d) + EPS)
            )
        else:
            gains, losses, total = p.memo(
                ("sum", d), lambda: (p.sum(p.gains, d), p.sum(p.losses, d), p.sum(np.abs(p.dc), d) + EPS)
            )
        return _div({"SUMP": gains, "SUMN": losses, "SUMD": gains - losses}[op], total)
    if op == "VMA":
        return _div(p.mean(v, d), v + EPS)
    if op == "VSTD":
        return _div(p.std(v, d), v + EPS)
    if op == "WVMA":
        w = np.abs(p.ret - 1.0) * v
        return _div(p.std(w, d), p.mean(w, d) + EPS)
    raise ValueError(f"unknown operator {op}")


def _panels(prices: pd.DataFrame):
    need = {"date", "ticker", "open", "high", "low", "close", "volume"}
    missing = need - set(prices.columns)
    if missing:
        raise ValueError(f"prices lack columns {sorted(missing)}")
    rows, dates = pd.factorize(pd.DatetimeIndex(prices["date"]).astype("datetime64[ns]"), sort=True)
    cols, tickers = pd.factorize(prices["ticker"].astype(str), sort=True)
    if np.bincount(rows.astype(np.int64) * max(len(tickers), 1) + cols).max(initial=0) > 1:
        raise ValueError("prices hold duplicate (date, ticker) rows")

    def wide(name: str) -> np.ndarray:
        out = np.full((len(dates), len(tickers)), np.nan)
        out[rows, cols] = pd.to_numeric(prices[name], errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
        return out

    o, h, low, c, v = (wide(k) for k in ("open", "high", "low", "close", "volume"))
    vwap = wide("vwap") if "vwap" in prices.columns else (h + low + c) / 3.0
    return (o, h, low, c, v, vwap), rows, cols, dates, tickers


def alpha158(prices: pd.DataFrame, windows: tuple[int, ...] = WINDOWS, dtype=np.float32) -> pd.DataFrame:
    """Long frame (date, ticker, 158 features in Qlib's order), one row per input row, sorted by
    (date, ticker). Features are ``dtype`` (float32 by default: 158 columns of 1.8M rows take 1.1
    GB instead of 2.3); a value that is not finite is NaN."""
    arrays, rows, cols, dates, tickers = _panels(prices)
    panel = _Panel(*arrays, windows=tuple(sorted(windows)))
    order = np.lexsort((cols, rows))
    rows, cols = rows[order], cols[order]
    names = alpha158_names(tuple(windows))
    values = np.empty((len(names), len(rows)), dtype=dtype)
    position = {name: j for j, name in enumerate(names)}

    def put(name: str, x: np.ndarray) -> None:
        row = values[position[name]]
        row[:] = x[rows, cols]
        row[~np.isfinite(row)] = np.nan

    for name, x in _kbar_and_price(panel):
        put(name, x)
    for i, op in enumerate(ROLLING):
        for d in windows:
            put(f"{op}{d}", _rolling_feature(panel, op, d))
        group = _GROUP.get(op)
        if group and all(_GROUP.get(later) != group for later in ROLLING[i + 1 :]):
            panel.release(group)
    features = pd.DataFrame(values.T, columns=names, copy=False)
    features.insert(0, "ticker", tickers[cols].to_numpy())
    features.insert(0, "date", dates[rows].to_numpy())
    return features


# Qlib's LightGBM benchmark on Alpha158 (examples/benchmarks/LightGBM/workflow_config_lightgbm_Alpha158.yaml,
# task.model.kwargs), with num_threads 20 -> 2 here. Qlib's LGBModel (qlib/contrib/model/gbdt.py) turns
# ``loss`` into ``objective`` and trains up to 1000 rounds, early-stopped after 50 rounds without improvement
# on "valid". As there, ``subsample`` comes without ``bagging_freq``, so LightGBM does not bag rows.
QLIB_LGB_PARAMS = {
    "objective": "mse",
    "colsample_bytree": 0.8879,
    "learning_rate": 0.2,
    "subsample": 0.8789,
    "lambda_l1": 205.6999,
    "lambda_l2": 580.9768,
    "max_depth": 8,
    "num_leaves": 210,
    "num_threads": 2,
    "verbosity": -1,
}
QLIB_NUM_BOOST_ROUND = 1000
QLIB_EARLY_STOPPING_ROUNDS = 50
MAD_TO_STD = 1.4826  # Qlib's RobustZScoreNorm: std = (MAD + EPS) * 1.4826
CLIP = 3.0
CS_RANK_SCALE = 3.46  # Qlib's CSRankNorm: (rank_pct - 0.5) * 3.46, about unit std


@dataclass
class Alpha158ReferenceConfig:
    """How the reference is fitted on each walk-forward window (``ml.training.train_alpha158_reference``).

    ``enabled``: False leaves the reference out (the evaluation then has no reference column).
    ``sample_every_n_days``: every n-th fitted date trains the trees, counted back from the last
    (the ranking model's ``MLConfig.sample_every_n_days``: overlapping 21-day labels make
    consecutive dates nearly redundant). Rounds and early stopping are Qlib's; ``num_threads``
    LightGBM threads; ``per_date_norm`` as ``Alpha158Reference``.
    """

    enabled: bool = True
    sample_every_n_days: int = 5
    num_boost_round: int = QLIB_NUM_BOOST_ROUND
    early_stopping_rounds: int = QLIB_EARLY_STOPPING_ROUNDS
    per_date_norm: bool = False
    num_threads: int = 2
    seed: int = 0

    def model(self) -> Alpha158Reference:
        """An unfitted ``Alpha158Reference`` with these settings and Qlib's LightGBM parameters."""
        return Alpha158Reference(
            sample_every=self.sample_every_n_days,
            per_date_norm=self.per_date_norm,
            params={**QLIB_LGB_PARAMS, "num_threads": self.num_threads},
            num_boost_round=self.num_boost_round,
            early_stopping_rounds=self.early_stopping_rounds,
            seed=self.seed,
        )


def cs_rank_norm(values: pd.Series) -> pd.Series:
    """Qlib's CSRankNorm of a (date, ticker)-indexed series: (percentile rank within the date
    - 0.5) x 3.46, ranks averaged over ties, NaN kept."""
    pct = values.groupby(level="date").rank(pct=True)
    return (pct - 0.5) * CS_RANK_SCALE


def _dates(frame: pd.DataFrame) -> pd.DatetimeIndex:
    """The date of every row of a long frame (``date`` column) or a (date, ticker)-indexed one."""
    if "date" in frame.columns:
        return pd.DatetimeIndex(frame["date"])
    return pd.DatetimeIndex(frame.index.get_level_values("date"))


def _as_indexed(frame: pd.DataFrame | pd.Series) -> pd.DataFrame | pd.Series:
    """(date, ticker)-indexed long frame or series, sorted (re-sorted only when it is not)."""
    if isinstance(frame, pd.DataFrame) and {"date", "ticker"}.issubset(frame.columns):
        frame = frame.set_index(["date", "ticker"])
    if list(frame.index.names) != ["date", "ticker"]:
        raise ValueError("expected a long frame with date and ticker columns, or a (date, ticker) index")
    if not frame.index.is_unique:
        raise ValueError("duplicate (date, ticker) rows")
    return frame if frame.index.is_monotonic_increasing else frame.sort_index()


@dataclass
class Alpha158Reference:
    """Qlib's Alpha158 + LightGBM recipe, adapted to this project's 21-day label.

    - Features: Qlib's RobustZScoreNorm (``fields_group: feature``, ``clip_outlier: true``): per
      feature, (x - median) / ((MAD + 1e-12) x 1.4826) with median and MAD over all rows of the
      training window (``fit``'s features), clipped to [-3, 3], applied unchanged to validation and
      test rows; then Fillna (NaN -> 0). ``per_date_norm=True`` uses each date's own median and MAD
      instead (no fitted state), a variant that removes market-wide level shifts.
    - Label: Qlib's DropnaLabel + CSRankNorm of the given label (here the 21-day forward return):
      rows without a label are dropped, the rest become (within-date percentile - 0.5) x 3.46.
    - Model: LightGBM regression with ``QLIB_LGB_PARAMS`` (Qlib's benchmark, 2 threads), up to
      1000 rounds with early stopping after 50 rounds without improvement of the validation l2.
    - Training rows: every ``sample_every``-th training date counted back from the last (all of
      its tickers; as the ranking model samples), to bound the cost; the normalisation uses every
      training row. Validation rows are all used.

    Memory: ``fit`` reads the training features one column at a time for the normalisation and
    copies only the sampled rows, so a long frame (or a row slice of one, which is a view) the
    size of the whole feature panel is not copied. Data that cannot train the model (no labelled
    training or validation row) raises ``InsufficientDataError``.

    Look-ahead: the caller must end the training labels before the validation dates and those
    before the test dates (a 21-day label known at t + 21: purge at least 21 dates); ``fit`` refuses
    overlapping date ranges. The normalisation never sees validation or test rows.
    """

    sample_every: int = 5
    label: str = "fwd_return"
    features: tuple[str, ...] | None = None  # None: every numeric column of the training features
    per_date_norm: bool = False
    params: dict = field(default_factory=lambda: dict(QLIB_LGB_PARAMS))
    num_boost_round: int = QLIB_NUM_BOOST_ROUND
    early_stopping_rounds: int = QLIB_EARLY_STOPPING_ROUNDS
    seed: int = 0

    def __post_init__(self):
        self.feature_names: list[str] = list(self.features or [])
        self.median: np.ndarray | None = None
        self.scale: np.ndarray | None = None
        self.booster = None
        self.best_iteration: int = 0
        self.n_train_rows: int = 0
        self.valid_curve: list[float] = []  # validation l2 after each boosting round

    def _names(self, frame: pd.DataFrame) -> list[str]:
        """The feature columns: ``features``, else every numeric column but the keys (set once)."""
        if not self.feature_names:
            keys = ("date", "ticker")
            self.feature_names = [c for c in frame.columns if c not in keys and pd.api.types.is_numeric_dtype(frame[c])]
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ValueError(f"features lack {len(missing)} columns, e.g. {missing[:3]}")
        return self.feature_names

    def _features(self, features_long) -> pd.DataFrame:
        frame = _as_indexed(features_long)
        names = self._names(frame)
        return frame if list(frame.columns) == names else frame[names]

    def _labels(self, labels_long, index: pd.Index) -> pd.Series:
        labels = _as_indexed(labels_long)
        if isinstance(labels, pd.DataFrame):
            labels = labels[self.label]
        return cs_rank_norm(labels.astype("float64")).reindex(index)

    def normalize(self, features: pd.DataFrame) -> np.ndarray:
        """Robust z-score (fitted, or per date), clipped at +-3, NaN -> 0, as float32. Computed a
        column at a time in float64 into the float32 result: no float64 copy of every column."""
        out = np.empty(features.shape, dtype=np.float32)
        if self.per_date_norm:
            codes = pd.factorize(features.index.get_level_values("date"))[0]
        for j in range(features.shape[1]):
            x = features.iloc[:, j].to_numpy(dtype="float64")
            x = np.where(np.isfinite(x), x, np.nan)
            if self.per_date_norm:
                median = pd.Series(x).groupby(codes).transform("median").to_numpy()
                mad = pd.Series(np.abs(x - median)).groupby(codes).transform("median").to_numpy()
                z = (x - median) / ((mad + EPS) * MAD_TO_STD)
            else:
                z = (x - self.median[j]) / self.scale[j]
            out[:, j] = np.nan_to_num(np.clip(z, -CLIP, CLIP), nan=0.0)
        return out

    def fit(self, features_long, labels_long, valid_features, valid_labels) -> Alpha158Reference:
        """Fit the normalisation on the training features and LightGBM on the sampled training
        dates, early-stopped on the validation rows."""
        import lightgbm as lgb

        from axion_pipeline.ml.ranking import MULTITHREAD_MIN_ROWS

        self.feature_names = list(self.features or [])
        names = self._names(features_long)
        valid = self._features(valid_features)
        train_dates = _dates(features_long)
        valid_dates = valid.index.get_level_values("date")
        if len(train_dates) == 0 or len(valid) == 0:
            raise InsufficientDataError("no training or no validation rows")
        if train_dates.max() >= valid_dates.min():
            raise ValueError("training dates must end before the validation dates start")
        if not self.per_date_norm:  # one column at a time: a float64 copy of all of them may not fit
            self.median, self.scale = np.empty(len(names)), np.empty(len(names))
            for j, name in enumerate(names):
                x = features_long[name].to_numpy(dtype="float64")
                x = x[np.isfinite(x)]
                self.median[j] = np.median(x) if len(x) else np.nan
                self.scale[j] = (np.median(np.abs(x - self.median[j])) + EPS) * MAD_TO_STD if len(x) else np.nan
        kept = sample_dates(train_dates, max(int(self.sample_every), 1))
        train = self._features(features_long[train_dates.isin(kept)])  # the sampled rows only
        y_train = self._labels(labels_long, train.index)
        y_valid = self._labels(valid_labels, valid.index)
        has_train, has_valid = y_train.notna().to_numpy(), y_valid.notna().to_numpy()
        if not has_train.any() or not has_valid.any():
            raise InsufficientDataError("no labelled training or validation rows")
        self.n_train_rows = int(has_train.sum())
        params = {**self.params, "seed": self.seed}
        if has_train.sum() < MULTITHREAD_MIN_ROWS:  # small data: threads cost more than they save
            params["num_threads"] = 1
        train_set = lgb.Dataset(self.normalize(train[has_train]), y_train[has_train].to_numpy(), free_raw_data=True)
        del train
        valid_set = lgb.Dataset(
            self.normalize(valid[has_valid]), y_valid[has_valid].to_numpy(), reference=train_set, free_raw_data=True
        )
        evals: dict = {}
        self.booster = lgb.train(
            params,
            train_set,
            num_boost_round=self.num_boost_round,
            valid_sets=[valid_set],
            valid_names=["valid"],
            callbacks=[lgb.early_stopping(self.early_stopping_rounds, verbose=False), lgb.record_evaluation(evals)],
        )  # the returned booster keeps the rounds up to the best one
        self.valid_curve = [float(v) for v in evals["valid"]["l2"]]
        self.best_iteration = int(self.booster.best_iteration or self.booster.current_iteration())
        return self

    def predict(self, features_long) -> pd.Series:
        """Score per (date, ticker), higher = better expected rank of the forward return."""
        if self.booster is None:
            raise ValueError("Alpha158Reference is not fitted")
        frame = self._features(features_long)
        scores = self.booster.predict(self.normalize(frame), num_iteration=self.best_iteration)
        return pd.Series(scores, index=frame.index, name="score")
