"""The project's one plotting module: small PNG figures for Dagster metadata and reports.

Every ``plot_*`` function takes a library table, returns PNG bytes (8 x 4 in at 110 dpi,
tens of kB) and holds no state: figures are built on a standalone ``matplotlib.figure.Figure``
rendered by the Agg canvas, never through ``pyplot``, so nothing leaks and no global backend is
switched. matplotlib is imported inside the functions, keeping ``import axion_pipeline.analytics.plots``
cheap for Dagster processes that never draw. ``to_markdown_image`` embeds the bytes in markdown
(``dg.MarkdownMetadataValue``). Plots only draw what they are given: no look-ahead can enter here.
"""

from __future__ import annotations

import base64
import io

import numpy as np
import pandas as pd

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
# 880 x 440 px: readable in Dagster's markdown modal (6 x 3 in at 80 dpi, 480 px, had small fonts)
FIGSIZE = (8.0, 4.0)
DPI = 110
REGIME_COLORS = {"bull": "#2ca02c", "bear": "#d62728", "sideways": "#7f7f7f", "crisis": "#9467bd"}


def to_markdown_image(png_bytes: bytes, alt: str) -> str:
    """``![alt](data:image/png;base64,...)`` for markdown metadata; refuses bytes that are not PNG."""
    if not bytes(png_bytes).startswith(PNG_SIGNATURE):
        raise ValueError("not PNG bytes")
    alt = str(alt).replace("[", "(").replace("]", ")").replace("\n", " ")
    return f"![{alt}](data:image/png;base64,{base64.b64encode(png_bytes).decode('ascii')})"


def _figure(figsize=FIGSIZE, ncols: int = 1, **kwargs):
    from matplotlib.figure import Figure

    fig = Figure(figsize=figsize, dpi=DPI, layout="constrained")
    axes = fig.subplots(1, ncols, **kwargs)
    return fig, axes


def _png(fig) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(fig)
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=DPI)
    return buf.getvalue()


def _style(ax, title: str, ylabel: str = "") -> None:
    ax.set_title(title, fontsize=9)
    ax.set_ylabel(ylabel, fontsize=8)
    ax.tick_params(labelsize=7)
    ax.grid(alpha=0.3, linewidth=0.5)


def _require(frame: pd.DataFrame | pd.Series, what: str) -> None:
    if len(frame) == 0:
        raise ValueError(f"nothing to plot: {what} is empty")


def _hbars(values: pd.Series, title: str, xlabel: str, colors=None, vlines=()) -> bytes:
    """Horizontal bars, largest on top; height grows with the number of bars."""
    _require(values, title)
    fig, ax = _figure((FIGSIZE[0], max(FIGSIZE[1], 0.6 + 0.18 * len(values))))
    ordered = values.iloc[::-1]
    ax.barh(
        [str(i) for i in ordered.index],
        ordered.to_numpy(dtype=float),
        color=colors[::-1] if colors is not None else "#1f77b4",
    )
    for x, color in vlines:
        ax.axvline(x, color=color, linestyle="--", linewidth=0.8)
    _style(ax, title)
    ax.set_xlabel(xlabel, fontsize=8)
    return _png(fig)


def plot_ic_over_time(ic_long: pd.DataFrame, factor: str, horizon: int, window: int = 63) -> bytes:
    """Daily IC bars (green >= 0, red < 0) and the ``window``-day rolling mean, from ``TearSheet.ic``."""
    rows = ic_long[(ic_long["factor"] == factor) & (ic_long["horizon"] == horizon)]
    _require(rows, f"IC of {factor!r} at horizon {horizon}")
    ic = rows.set_index("date")["ic"].sort_index()
    fig, ax = _figure()
    colors = np.where(ic.to_numpy() >= 0, "#2ca02c", "#d62728")
    ax.bar(ic.index, ic.to_numpy(), width=1.0, color=colors, alpha=0.5, linewidth=0)
    ax.plot(
        ic.index,
        ic.rolling(window, min_periods=max(1, window // 3)).mean(),
        color="black",
        linewidth=1.2,
        label=f"{window}-day mean",
    )
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, loc="upper left")
    _style(ax, f"IC {factor}, {horizon}d: mean {ic.mean():.3f}, ICIR {ic.mean() / ic.std():.2f}", "Spearman IC")
    return _png(fig)


def plot_quantile_returns(quantile_returns: pd.DataFrame, factor: str, horizon: int) -> bytes:
    """Mean demeaned forward return per quantile (bps) with standard-error bars, ``TearSheet.quantile_returns``."""
    rows = quantile_returns[(quantile_returns["factor"] == factor) & (quantile_returns["horizon"] == horizon)]
    _require(rows, f"quantile returns of {factor!r} at horizon {horizon}")
    rows = rows.sort_values("quantile")
    mean = rows["mean_demeaned_return"].to_numpy(dtype=float) * 1e4
    err = rows["std_error"].to_numpy(dtype=float) * 1e4 if "std_error" in rows else None
    fig, ax = _figure()
    ax.bar(
        rows["quantile"].astype(str),
        mean,
        yerr=err,
        capsize=3,
        color=np.where(mean >= 0, "#2ca02c", "#d62728"),
        alpha=0.8,
    )
    ax.axhline(0, color="black", linewidth=0.5)
    _style(ax, f"{factor}: mean demeaned {horizon}d return by quantile", "bps")
    ax.set_xlabel("quantile (1 = lowest factor)", fontsize=8)
    return _png(fig)


def plot_regime_timeline(regimes: pd.Series, index: pd.Series | None = None) -> bytes:
    """Market regimes (date -> label) as shaded bands, under an index line when one is given."""
    _require(regimes, "regimes")
    regimes = regimes.sort_index().astype(str)
    dates = pd.DatetimeIndex(regimes.index)
    fig, ax = _figure()
    palette = iter(["#1f77b4", "#ff7f0e", "#8c564b", "#e377c2", "#17becf"])
    for label in sorted(regimes.unique()):
        color = REGIME_COLORS.get(label) or next(palette, "#bcbd22")
        mask = (regimes == label).to_numpy()
        mask[1:] |= mask[:-1]  # run the band up to the next regime's first day: no white gaps
        ax.fill_between(
            dates,
            0,
            1,
            where=mask,
            step="post",
            color=color,
            alpha=0.25,
            linewidth=0,
            transform=ax.get_xaxis_transform(),
            label=label,
        )
    if index is not None and len(index):
        index = index.sort_index()
        ax.plot(pd.DatetimeIndex(index.index), index.to_numpy(dtype=float), color="black", linewidth=0.8)
    else:
        ax.set_yticks([])
    ax.set_xlim(dates.min(), dates.max())
    ax.legend(fontsize=7, loc="upper left", ncols=4)
    _style(ax, "Market regimes" + (f" and {index.name}" if index is not None and index.name else ""))
    return _png(fig)


def plot_psi_bars(psi: pd.Series, warn: float = 0.1, crit: float = 0.25, top: int = 25) -> bytes:
    """Population stability index per feature (largest ``top``), coloured by the warn/critical bands."""
    _require(psi, "psi")
    values = psi.dropna().sort_values(ascending=False)
    shown = values.head(top)
    colors = np.where(shown >= crit, "#d62728", np.where(shown >= warn, "#ff7f0e", "#2ca02c"))
    title = f"PSI, {int((values >= crit).sum())} critical, {int(((values >= warn) & (values < crit)).sum())} warn"
    if len(values) > top:
        title += f" (top {top} of {len(values)})"
    return _hbars(shown, title, "PSI", colors=colors, vlines=[(warn, "#ff7f0e"), (crit, "#d62728")])


def plot_feature_importance(importance: pd.Series, top: int = 20) -> bytes:
    """The ``top`` features by importance (gain, split count, ...), largest on top."""
    _require(importance, "importance")
    values = importance.dropna().sort_values(ascending=False)
    suffix = f" (top {top} of {len(values)})" if len(values) > top else ""
    return _hbars(values.head(top), f"Feature importance{suffix}", str(importance.name or "importance"))


def plot_shap_summary(contributions: pd.DataFrame, top: int = 15, beeswarm: bool = False) -> bytes:
    """Mean |contribution| per feature (rows x features, e.g. SHAP values); with ``beeswarm`` a
    second panel scatters each row's contribution, jittered, positive red and negative blue."""
    _require(contributions, "contributions")
    mean_abs = contributions.abs().mean().sort_values(ascending=False).head(top)
    suffix = f" (top {top} of {contributions.shape[1]})" if contributions.shape[1] > top else ""
    if not beeswarm:
        return _hbars(mean_abs, f"Mean |contribution|{suffix}", "mean |contribution|")
    height = max(FIGSIZE[1], 0.6 + 0.2 * len(mean_abs))
    fig, (ax_bar, ax_dot) = _figure((FIGSIZE[0] + 2, height), ncols=2, sharey=True)
    names = [str(c) for c in mean_abs.index[::-1]]
    ax_bar.barh(names, mean_abs.to_numpy()[::-1], color="#1f77b4")
    _style(ax_bar, f"Mean |contribution|{suffix}")
    rng = np.random.default_rng(0)  # fixed jitter: identical inputs give identical bytes
    sample = contributions.sample(min(len(contributions), 120), random_state=0)
    for pos, name in enumerate(mean_abs.index[::-1]):
        vals = sample[name].to_numpy(dtype=float)
        ax_dot.scatter(
            vals,
            pos + rng.uniform(-0.3, 0.3, len(vals)),
            s=2,
            linewidths=0,
            c=np.where(vals >= 0, "#d62728", "#1f77b4"),
        )
    ax_dot.axvline(0, color="black", linewidth=0.5)
    _style(ax_dot, "Per-row contributions")
    return _png(fig)


def plot_walk_forward_ic(ic_by_date: pd.Series, fold_bounds: pd.DataFrame | None = None, window: int = 21) -> bytes:
    """Out-of-sample IC per date with its rolling mean; test windows of ``fold_bounds``
    (columns ``test_start``, ``test_end``, optional ``fold``, as ``fold_windows``) shaded alternately."""
    _require(ic_by_date, "ic_by_date")
    ic = ic_by_date.sort_index()
    dates = pd.DatetimeIndex(ic.index)
    fig, ax = _figure()
    ax.plot(dates, ic.to_numpy(dtype=float), color="#1f77b4", linewidth=0.5, alpha=0.6, label="daily IC")
    ax.plot(dates, ic.rolling(window, min_periods=1).mean(), color="black", linewidth=1.1, label=f"{window}-day mean")
    if fold_bounds is not None:
        if not {"test_start", "test_end"}.issubset(fold_bounds.columns):
            raise ValueError("fold_bounds needs test_start and test_end columns (see fold_windows)")
        for i, fold in enumerate(fold_bounds.itertuples(index=False)):
            ax.axvspan(fold.test_start, fold.test_end, color="#ff7f0e" if i % 2 else "#9467bd", alpha=0.12, linewidth=0)
            label = getattr(fold, "fold", i)
            ax.text(fold.test_start, 1.0, str(label), transform=ax.get_xaxis_transform(), fontsize=6, va="top")
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, loc="lower left")
    _style(ax, f"Walk-forward IC: mean {ic.mean():.3f} over {ic.notna().sum()} dates", "Spearman IC")
    return _png(fig)


def plot_signal_ic(overall: pd.DataFrame, highlight: str | None = None) -> bytes:
    """Mean IC per signal with its 95% interval (columns ``signal``, ``ic_mean``, ``ic_ci_low``,
    ``ic_ci_high``, e.g. the "all" rows of ``evaluate_signals``), largest on top; ``highlight``'s
    bar in orange. A NaN interval draws no error bar."""
    _require(overall, "overall")
    rows = overall.dropna(subset=["ic_mean"]).sort_values("ic_mean")
    _require(rows, "signals with a mean IC")
    mean = rows["ic_mean"].to_numpy(dtype=float)
    low, high = rows["ic_ci_low"].to_numpy(dtype=float), rows["ic_ci_high"].to_numpy(dtype=float)
    names = [str(s) for s in rows["signal"]]
    fig, ax = _figure((FIGSIZE[0], max(FIGSIZE[1], 0.6 + 0.22 * len(rows))))
    ax.barh(names, mean, color=["#ff7f0e" if name == highlight else "#1f77b4" for name in names])
    ok = np.isfinite(low) & np.isfinite(high)
    position = np.arange(len(rows))[ok]
    xerr = [mean[ok] - low[ok], high[ok] - mean[ok]]
    ax.errorbar(mean[ok], position, xerr=xerr, fmt="none", ecolor="black", elinewidth=0.8, capsize=2)
    ax.axvline(0, color="black", linewidth=0.5)
    _style(ax, "Mean rank IC with block-bootstrap 95% interval")
    ax.set_xlabel("mean IC", fontsize=8)
    return _png(fig)


def plot_cumulative_ic(ic_by_date: pd.DataFrame, columns: list[str] | None = None) -> bytes:
    """Cumulative sum of the daily IC of each column of ``ic_by_date`` (dates x signals; a date
    without an IC adds 0), one line per signal in ``columns`` (default: all); a signal without any
    IC is named "(no IC)" in the legend."""
    from matplotlib.dates import AutoDateLocator, ConciseDateFormatter

    columns = list(ic_by_date.columns) if columns is None else [c for c in columns if c in ic_by_date.columns]
    shown = ic_by_date[columns].sort_index()
    _require(shown.dropna(how="all"), "ic_by_date")
    fig, ax = _figure()
    for name in columns:
        cumulative = shown[name].fillna(0.0).cumsum()
        label = str(name) if shown[name].notna().any() else f"{name} (no IC)"
        ax.plot(pd.DatetimeIndex(shown.index), cumulative.to_numpy(), linewidth=1.1, label=label)
    locator = AutoDateLocator()
    ax.xaxis.set_major_locator(locator)
    ax.xaxis.set_major_formatter(ConciseDateFormatter(locator))
    ax.axhline(0, color="black", linewidth=0.5)
    ax.legend(fontsize=7, loc="upper left")
    _style(ax, f"Cumulative daily IC over {len(shown)} out-of-sample dates", "sum of IC")
    return _png(fig)


def plot_exposures(exposures: pd.DataFrame, characteristics: list[str], signals: list[str] | None = None) -> bytes:
    """Exposure of each signal to each characteristic per fold (rows ``signal``, ``fold`` and one
    column per characteristic, as ``signal_exposures``): one panel per signal, grouped bars per
    fold in table order (the "all" row last)."""
    _require(exposures, "exposures")
    signals = list(dict.fromkeys(exposures["signal"])) if signals is None else signals
    characteristics = [c for c in characteristics if c in exposures.columns]
    fig, axes = _figure((FIGSIZE[0] + 2, FIGSIZE[1]), ncols=len(signals), sharey=True, squeeze=False)
    for ax, name in zip(axes[0], signals):
        rows = exposures.loc[exposures["signal"] == name]
        folds = [str(f) for f in rows["fold"]]
        width = 0.8 / max(len(characteristics), 1)
        for j, char in enumerate(characteristics):
            x = np.arange(len(folds)) + (j - (len(characteristics) - 1) / 2) * width
            ax.bar(x, rows[char].to_numpy(dtype=float), width=width, label=char)
        ax.set_xticks(np.arange(len(folds)), folds, rotation=30, fontsize=7)
        ax.axhline(0, color="black", linewidth=0.5)
        _style(ax, f"{name}: exposures per fold", "rank correlation / R^2")
    axes[0][0].legend(fontsize=6, loc="best")
    return _png(fig)
