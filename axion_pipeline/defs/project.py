"""The Dagster view of ``ProjectSettings``: partitions definitions and asset decorators built on them.

Each stage package's ``build_*`` function takes a ``DagsterProject`` and returns its assets and
checks, so the definitions are built from one settings object when the code location loads
(``axion_pipeline.definitions``), never at import, and two projects can live in one process.
"""

from __future__ import annotations

import datetime as dt
import inspect
import warnings
from dataclasses import dataclass

import dagster as dg
import pandas as pd

from axion_pipeline.data.calendar import non_trading_weekdays
from axion_pipeline.defs.common import WAREHOUSE_POOL, group_attributes
from axion_pipeline.ml.datasets import FoldPlan
from axion_pipeline.project import ProjectSettings

DATE_FMT = "%Y-%m-%d"
BACKFILL_POLICY_BETA = "Parameter `backfill_policy` of function `asset` is currently in beta"

# The asset groups served every trading day: they carry the freshness policy.
SERVING_GROUPS = ("inference", "monitoring")
# The daily schedule runs at 00:00 UTC on weekdays (the trading day that just ended), so the
# longest gap between two runs with nothing wrong is a weekend (Friday to Monday, 72 hours), or a
# weekend next to a market holiday (Friday to Tuesday, 96 hours); six hours more for the run.
FRESHNESS_WARN = dt.timedelta(hours=72 + 6)
FRESHNESS_FAIL = dt.timedelta(hours=96 + 6)
# A history whose last trading day is older than this when the definitions load is finished
# (the generated market, a dataset that ended): no newer day will arrive.
FINISHED_AFTER = dt.timedelta(days=7)


def serving_freshness(calendar: pd.DatetimeIndex, now=None) -> tuple[dg.FreshnessPolicy | None, str]:
    """The serving assets' freshness policy and the sentence their description adds about it.

    A Dagster freshness policy judges the age of the latest materialization. A finished history
    gets no new trading day, so nothing is ever due and such a policy would turn red on a pipeline
    with nothing wrong (the generated-market demo a day after ``make run``): it gets none, and the
    description says why. A live history (last trading day within ``FINISHED_AFTER``) gets one."""
    last = pd.Timestamp(calendar[-1])
    now = pd.Timestamp.now("UTC").tz_localize(None) if now is None else pd.Timestamp(now)
    rule = (
        "the daily schedule materializes this asset every weekday at 00:00 UTC; the policy warns when the last "
        f"materialization is older than {_hours(FRESHNESS_WARN)} (a weekend plus the night's run) and fails when "
        f"older than {_hours(FRESHNESS_FAIL)} (a weekend next to a market holiday plus the run)"
    )
    if now - last > FINISHED_AFTER:
        return None, (
            f"Freshness: no policy. The history ended on {last.date()}, more than {FINISHED_AFTER.days} days "
            "before the code location loaded: no newer trading day will arrive, so no materialization is due "
            f"and a policy on the age of the last one would only turn red. On a live history {rule}."
        )
    policy = dg.FreshnessPolicy.time_window(fail_window=FRESHNESS_FAIL, warn_window=FRESHNESS_WARN)
    return policy, f"Freshness: {rule[0].upper()}{rule[1:]}."


def _hours(delta: dt.timedelta) -> str:
    return f"{int(delta.total_seconds() // 3600)} hours"


def trading_day_partitions(
    calendar: pd.DatetimeIndex, start: pd.Timestamp | None = None
) -> dg.TimeWindowPartitionsDefinition:
    """Weekday partitions over the calendar's span (from ``start`` when given), the source's
    holidays excluded.

    The exclusions are the whole calendar's even when ``start`` is later: Dagster counts a partition
    mapping's offsets in the downstream definition's partitions, also before its start, so a live-span
    asset's 80-day lookback into the history must step over the same holidays as the history's own
    partitions."""
    if len(calendar) == 0:
        raise ValueError("the data source has no trading days: cannot build daily partitions")
    return dg.TimeWindowPartitionsDefinition(
        start=(calendar[0] if start is None else start).strftime(DATE_FMT),
        # a weekday partition's window runs to the next weekday (Friday's to Monday), so the
        # definition ends on the weekday after the last trading day
        end=(calendar[-1] + pd.offsets.BDay(1)).strftime(DATE_FMT),
        cron_schedule="0 0 * * 1-5",
        fmt=DATE_FMT,
        exclusions=[d.to_pydatetime() for d in non_trading_weekdays(calendar)],
    )


@dataclass(frozen=True)
class PlanUnavailable:
    """Stands in for the ``FoldPlan`` when the history cannot hold the walk-forward layout (too
    short for the warm-up, folds and live span asked for).

    Ingestion does not depend on the training layout: the definitions still load, the fold
    partitions are empty, and the market, factor and feature assets build as usual. Any step that
    uses the plan (fold training, the production models, the live span) fails with the reason."""

    reason: str

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        raise dg.Failure(
            description=f"no walk-forward plan fits this history, so nothing that needs one can run: {self.reason}"
        )


@dataclass(frozen=True)
class DagsterProject:
    """Settings plus the partitions definitions every asset of one code location shares.

    ``trading_days`` partitions the history (market data through features and targets);
    ``live_days`` the serving and monitoring assets, which can only exist on the live span (the
    trading days after the production models' training window): their partitions start there, so
    the UI shows them filled rather than 97% missing. Without a walk-forward plan there is no live
    span and ``live_days`` is ``trading_days`` (every serving step then fails with the reason)."""

    settings: ProjectSettings
    trading_days: dg.TimeWindowPartitionsDefinition
    folds: dg.StaticPartitionsDefinition
    fold_plan: FoldPlan | PlanUnavailable
    live_days: dg.TimeWindowPartitionsDefinition

    @classmethod
    def from_settings(cls, settings: ProjectSettings) -> DagsterProject:
        try:
            plan = settings.plan
        except ValueError as exc:  # the history is too short for the walk-forward layout
            plan = PlanUnavailable(str(exc))
        trading_days = trading_day_partitions(settings.calendar)
        if isinstance(plan, PlanUnavailable):
            return cls(settings, trading_days, dg.StaticPartitionsDefinition([]), plan, trading_days)
        live_days = trading_day_partitions(settings.calendar, plan.live_start)
        return cls(settings, trading_days, dg.StaticPartitionsDefinition(plan.keys), plan, live_days)

    @property
    def calendar(self) -> pd.DatetimeIndex:
        return self.settings.calendar

    @property
    def plan(self) -> FoldPlan:
        """The fold plan; a ``PlanUnavailable`` that fails on first use when none fits the history."""
        return self.fold_plan

    def live_keys(self) -> list[str]:
        """Trading-day partition keys of the live span (after the production models' window)."""
        start = self.plan.live_start.strftime(DATE_FMT)  # fails with the reason when no plan fits
        return [k for k in self.live_days.get_partition_keys() if k >= start]

    # -- decorators -----------------------------------------------------------------------------
    def daily_asset(self, group: str, live: bool = False, **kwargs):
        """``@dg.asset`` for a trading-day partitioned table: single-run backfills, stored by date.
        ``live``: partitioned by the live span's days (serving and monitoring).

        The assets of the serving groups (``SERVING_GROUPS``) carry the project's freshness policy
        (``serving_freshness``), and their description says what it means."""
        metadata = {"partition_expr": "date", "schema": group, **kwargs.pop("metadata", {})}
        attributes = group_attributes(group, "daily", kwargs.pop("tags", None))
        note = None
        if group in SERVING_GROUPS:
            kwargs["freshness_policy"], note = serving_freshness(self.calendar)

        def decorate(fn):
            described = dict(kwargs)
            if note is not None:
                described["description"] = (
                    f"{kwargs.get('description') or inspect.cleandoc(fn.__doc__ or '')}\n\n{note}"
                )
            # ``backfill_policy`` of ``@dg.asset`` is marked beta in Dagster 1.13, and a single-run
            # backfill policy is the only way to backfill a range of days in one run (what the
            # vectorised daily assets are built for): accept that API here, and only its warning.
            with warnings.catch_warnings():
                warnings.filterwarnings("ignore", BACKFILL_POLICY_BETA, dg.BetaWarning)
                return dg.asset(
                    partitions_def=self.live_days if live else self.trading_days,
                    backfill_policy=dg.BackfillPolicy.single_run(),
                    **attributes,
                    kinds=described.pop("kinds", {"duckdb", "pandas"}),
                    metadata=metadata,
                    pool=WAREHOUSE_POOL,
                    **described,
                )(fn)

        return decorate

    def live_asset(self, group: str, **kwargs):
        """``daily_asset`` over the live span's days (``live_days``): serving and monitoring tables."""
        return self.daily_asset(group, live=True, **kwargs)

    def fold_asset(self, group: str, kinds: set[str], ins: dict[str, dg.AssetIn], deps: list | None = None):
        """``@dg.asset`` partitioned by walk-forward fold, stored by the ``fold`` column.

        Not in the ``duckdb_warehouse`` pool: folds train in parallel (one run per fold, or the
        multiprocess executor), and only their reads and writes queue for the warehouse."""
        return dg.asset(
            partitions_def=self.folds,
            **group_attributes(group, "per-fold"),
            kinds=kinds,
            ins=ins,
            deps=deps,
            metadata={"partition_expr": "fold", "schema": group},
        )

    # -- guards ---------------------------------------------------------------------------------
    def require_lookback(self, frame: pd.DataFrame, start, days: int, what: str, date_column: str = "date") -> None:
        """The ``days`` trading days before ``start`` must be present in ``frame``.

        Lookback windows are loaded from earlier partitions; if those were never materialized the
        computation would silently run on a shorter history, so fail and say which dates are missing.
        """
        cal = self.calendar
        pos = int(cal.searchsorted(pd.Timestamp(start)))
        needed = cal[max(pos - days, 0) : pos]
        present = pd.DatetimeIndex(pd.to_datetime(frame[date_column].unique())) if len(frame) else pd.DatetimeIndex([])
        missing = needed.difference(present)
        if len(missing):
            raise dg.Failure(
                description=f"{what}: {len(missing)} of the {len(needed)} lookback trading days before "
                f"{pd.Timestamp(start).date()} are not materialized ({missing[0].date()} .. {missing[-1].date()}); "
                f"backfill {what} over that range first",
            )

    def trading_days_in(self, start, end) -> pd.DatetimeIndex:
        """Trading days in [start, end)."""
        cal = self.calendar
        return cal[(cal >= pd.Timestamp(start)) & (cal < pd.Timestamp(end))]
