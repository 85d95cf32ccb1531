"""The summary printed at the end of `make run`: what is in the warehouse, the day's ranking and
where to look next. Every query binds its values as parameters."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pandas as pd

from axion_pipeline.storage.lock import connect
from axion_pipeline.storage.warehouse import table_summary


def _query(con, sql: str, params: list | None = None) -> pd.DataFrame:
    try:
        return con.execute(sql, params or []).fetchdf()
    except duckdb.Error as exc:  # a table missing from a partial build (--stages): say so, don't crash
        return pd.DataFrame({"unavailable": [f"{type(exc).__name__}: {str(exc).splitlines()[0]}"]})


def latest_view(warehouse: str | Path, n: int = 5) -> dict[str, pd.DataFrame]:
    """The newest scored day: top and bottom tickers with their strongest SHAP reason, the regime,
    model health, drifted features, the walk-forward IC and the signals the model loses to or beats."""
    with connect(warehouse) as con:
        day = con.execute("select max(date) from inference.hybrid_scores").fetchone()[0]
        ranked = """
            select h.ticker, round(h.hybrid_score, 3) hybrid, round(h.rule_score, 3) rule, round(h.ml_score, 3) ml,
                   s.feature top_reason, round(s.contribution, 4) contribution
            from inference.hybrid_scores h
            left join monitoring.shap_explanations s on s.date = h.date and s.ticker = h.ticker and s.rank = 1
            where h.date = ? order by h.hybrid_score {order} limit ?"""
        return {
            "day": pd.DataFrame({"date": [pd.Timestamp(day).date()]}),
            "top": _query(con, ranked.format(order="desc"), [day, n]),
            "bottom": _query(con, ranked.format(order="asc"), [day, n]),
            "regime": _query(
                con,
                """
                select r.regime rule_regime, p.regime model_regime, round(p.confidence, 3) confidence, p.duration_days
                from factors.market_regime r left join inference.regime_predictions p on p.date = r.date
                where r.date = ?""",
                [day],
            ),
            "health": _query(
                con,
                """
                select status, round(rolling_ic_3m, 4) rolling_ic_3m, round(ic_trend, 5) ic_trend, needs_retraining,
                       n_matured_dates from monitoring.model_health where date = ?""",
                [day],
            ),
            "drift": _query(
                con,
                """
                select feature, round(psi, 3) psi from monitoring.drift_report
                where date = ? and status = 'drift' order by psi desc limit ?""",
                [day, n],
            ),
            "walk_forward": _query(
                con,
                """
                select fold, round(ic_mean, 4) ic_mean, round(icir, 3) icir, round(hit_rate, 3) hit_rate,
                       round(ic_tstat_nw, 2) ic_tstat_nw, round(ic_ci_low, 4) ic_ci_low, round(ic_ci_high, 4) ic_ci_high
                from training.walk_forward_report where fold = 'all'""",
            ),
            "versus": _query(
                con,
                """
                select baseline signal, kind, round(model_ic_mean, 4) model_ic, round(baseline_ic_mean, 4) signal_ic,
                       round(diff_tstat_nw, 2) paired_t, verdict
                from training.model_vs_baselines where verdict in ('loses', 'beats') order by diff_tstat_nw""",
            ),
        }


NOTES_PER_DATASET = 12  # the shared layout notes every split it found (60): the rest stays in the table


def what_was_skipped(warehouse: str | Path) -> dict[str, pd.DataFrame]:
    """What the loader did (``market.source_notes``: missing optional files first, with what each
    absence skips) and the models not trained, with their reason (``training.model_store`` rows
    whose status is "skipped: ...": folds and the production model)."""
    tables = set(table_summary(warehouse)["table"])
    out = {}
    with connect(warehouse) as con:
        if "source_notes" in tables:
            out["notes"] = _query(con, "select dataset, kind, note from market.source_notes")
        if "model_store" in tables:
            out["models"] = _query(
                con,
                """
                select model_name, string_agg(case when kind = 'fold' then version else 'production' end, ', '
                       order by kind, version) as trainings, status
                from training.model_store where status like 'skipped%'
                group by model_name, status order by model_name""",
            )
    return out


def print_skipped(warehouse: str | Path) -> None:
    view = what_was_skipped(warehouse)
    notes, models = view.get("notes"), view.get("models")
    if notes is not None and len(notes) and "note" in notes:
        print("\nWhat the loader did (market.source_notes; 'missing': an optional file absent, and what that skips):")
        for dataset, group in notes.groupby("dataset", sort=False):
            for kind, note in group[["kind", "note"]].head(NOTES_PER_DATASET).itertuples(index=False):
                print(f"  {kind:<8} {note}")
            if len(group) > NOTES_PER_DATASET:
                print(f"  ...      {len(group) - NOTES_PER_DATASET} more notes on {dataset} in market.source_notes")
    if models is not None and len(models) and "status" in models:
        print("\nModels not trained (the data cannot train them; serving uses each one's rule fallback):")
        for name, trainings, status in models.itertuples(index=False):
            print(f"  {name} ({trainings}): {status}")


def print_summary(warehouse: str | Path) -> None:
    summary = table_summary(warehouse)
    print(f"Warehouse {warehouse}: {len(summary)} tables, {summary['rows'].sum():,} rows")
    print(summary.to_string(index=False))
    print_skipped(warehouse)
    if {"hybrid_scores", "shap_explanations"} <= set(summary["table"]):
        view = latest_view(warehouse)
        print(f"\nNewest scored day: {view['day']['date'].iloc[0]}")
        for title, key in [
            ("Top ranked (hybrid score, strongest SHAP reason)", "top"),
            ("Bottom ranked", "bottom"),
            ("Regime", "regime"),
            ("Model health", "health"),
            ("Drifted features (PSI >= 0.25; a level and spread training days had is not drift)", "drift"),
            ("Walk-forward out-of-sample IC (Newey-West t, block-bootstrap 95% interval)", "walk_forward"),
            ("Signals the model significantly loses to or beats (paired Newey-West t)", "versus"),
        ]:
            frame = view[key]
            print(f"\n{title}:\n{frame.to_string(index=False) if len(frame) else '  none'}")
    print(
        "\nNext: `make ui` (Dagster UI on http://127.0.0.1:3000), or query the warehouse, e.g.\n"
        f"  .venv/bin/python -c \"import duckdb; print(duckdb.connect('{warehouse}', read_only=True)"
        ".sql('select * from inference.hybrid_scores order by date desc, hybrid_score desc limit 10'))\"\n"
        "  More queries in README.md (section 'The warehouse')."
    )
