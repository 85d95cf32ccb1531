"""Shared helpers of the benchmarks: machine description, run statistics, markdown tables,
appending a timestamped section to BENCHMARKS.md, and a throw-away Dagster home + warehouse.

Benchmarks are not tests: they print tables and never gate CI on an absolute time.
"""

from __future__ import annotations

import contextlib
import os
import platform
import shutil
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import psutil

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

BENCHMARKS_MD = REPO / "BENCHMARKS.md"

# The Makefile's settings for single-run backfills (see axion_pipeline/defs/storage.py).
DAGSTER_ENV = {"DAGSTER_EVENT_BATCH_SIZE": "10000", "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true"}


def memory_gib() -> float:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30


def machine() -> str:
    """One line: architecture, cores, memory, Python, load average (other jobs slow every side alike)."""
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{platform.machine()}, {os.cpu_count()} cores, {memory_gib():.1f} GiB RAM, Python "
        f"{platform.python_version()}; load average {load}"
    )


@dataclass(frozen=True)
class Stats:
    """Median, min and max of repeated measurements."""

    values: tuple[float, ...]

    @property
    def median(self) -> float:
        return statistics.median(self.values)

    @property
    def min(self) -> float:
        return min(self.values)

    @property
    def max(self) -> float:
        return max(self.values)

    @property
    def n(self) -> int:
        return len(self.values)

    def cells(self, fmt: str = ".2f") -> list[str]:
        return [format(self.median, fmt), format(self.min, fmt), format(self.max, fmt)]


def stats(values: Sequence[float]) -> Stats:
    if not values:
        raise ValueError("no measurements")
    return Stats(tuple(float(v) for v in values))


def timed(fn: Callable[[], object], repeats: int) -> tuple[list[float], object]:
    """Wall times of ``repeats`` calls of ``fn`` and the last result."""
    times, result = [], None
    for _ in range(repeats):
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return times, result


def ratio(numerator: float, denominator: float) -> float:
    return numerator / denominator if denominator > 0 else float("nan")


def section(title: str, *paragraphs: str, level: int = 2) -> str:
    """A markdown section whose heading carries the UTC time of the measurement."""
    heading = f"{'#' * level} {title} ({datetime.now(UTC):%Y-%m-%d %H:%M} UTC)"
    return "\n\n".join([heading, *[p for p in paragraphs if p]]) + "\n"


def publish(text: str, append: bool = True, path: Path = BENCHMARKS_MD) -> None:
    """Print a section and append it to BENCHMARKS.md (created with its title when missing)."""
    print(text, flush=True)
    if not append:
        return
    prefix = "" if path.exists() else "# Benchmarks\n"
    with path.open("a") as fh:
        fh.write(prefix + "\n" + text)
    print(f"appended to {path}", flush=True)


@contextmanager
def scratch_dir(prefix: str, keep: bool = False) -> Iterator[Path]:
    """A temporary folder (removed afterwards unless ``keep``)."""
    path = Path(tempfile.mkdtemp(prefix=prefix))
    try:
        yield path
    finally:
        if not keep:
            shutil.rmtree(path, ignore_errors=True)


def dagster_home(root: Path) -> Path:
    """A DAGSTER_HOME under ``root`` holding a copy of the repository's dagster.yaml."""
    home = root / "dagster_home"
    home.mkdir(parents=True, exist_ok=True)
    shutil.copy(REPO / "dagster.yaml", home / "dagster.yaml")
    return home


def bench_env(root: Path, **settings: object) -> dict[str, str]:
    """Environment of a benchmark subprocess: its own DAGSTER_HOME and warehouse under ``root``,
    the Makefile's Dagster settings, and the given AXION_* settings (None removes a variable)."""
    env = dict(os.environ)
    env.update(DAGSTER_ENV)
    env["DAGSTER_HOME"] = str(dagster_home(root))
    env["PYTHONUNBUFFERED"] = "1"
    (root / "warehouse").mkdir(parents=True, exist_ok=True)
    env["AXION_WAREHOUSE"] = str(root / "warehouse" / "axion.duckdb")
    env.pop("AXION_DATA_DIR", None)
    for key, value in settings.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = str(value)
    return env


def apply_env(env: dict[str, str]) -> None:
    """Set this process's environment to ``env`` (before axion_pipeline is imported: the partitions
    definition is built from the environment at import)."""
    if "axion_pipeline.definitions" in sys.modules:
        raise RuntimeError("apply_env must run before axion_pipeline.definitions is imported")
    os.environ.clear()
    os.environ.update(env)


def real_data_dir() -> Path:
    return Path(os.environ.get("AXION_DATA_DIR") or REPO.parent / "shared" / "data")


def fmt_seconds(seconds: float) -> str:
    if seconds >= 600:
        return f"{seconds / 60:.1f} min"
    return f"{seconds:.1f} s" if seconds >= 10 else f"{seconds:.2f} s"


def _cpu_of(procs: Sequence[psutil.Process]) -> float:
    """CPU seconds (user + system) of these processes, each with its reaped children (``children_*``)."""
    total = 0.0
    for proc in procs:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            t = proc.cpu_times()
            total += t.user + t.system + t.children_user + t.children_system
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds (user + system) used so far by a process and its descendants: its own and its
    reaped children's, plus the same for every live descendant (a live process is in no one's
    ``children_*`` yet, so nothing counts twice). A descendant that exited unreaped, or was
    re-parented away, is missed: the figure is a lower bound."""
    try:
        root = psutil.Process(pid)
        return _cpu_of([root, *root.children(recursive=True)])
    except psutil.NoSuchProcess:
        return 0.0


def reap(proc, sampler: RssSampler) -> tuple[int, int, float]:
    """Wait for ``proc`` and stop ``sampler``: (exit code, peak RSS bytes, CPU seconds). wait4, not
    Popen.wait, reads the child's own rusage; each figure is the larger of the kernel's (ru_maxrss;
    user + system of the process and its reaped descendants) and the sampled one."""
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    peak = max(sampler.stop(), usage.ru_maxrss * 1024)
    return proc.returncode, peak, max(usage.ru_utime + usage.ru_stime, sampler.cpu_peak)


class RssSampler(threading.Thread):
    """Peak summed RSS of a process and its descendants, sampled every ``interval`` seconds.

    With ``limit_bytes``, the process tree is killed when it grows past the limit (``exceeded``
    is then True): a build that would exhaust the machine's memory stops before the kernel's OOM
    killer picks a victim, which could be another process.

    ``cpu_peak`` is the largest CPU total of the tree seen at a sample (``tree_cpu_seconds``): it
    also counts descendants that exit without being reaped, which the parent's wait4 misses."""

    def __init__(self, pid: int, interval: float = 0.2, limit_bytes: int | None = None):
        super().__init__(daemon=True)
        self.pid, self.interval, self.peak, self.window_peak, self.cpu_peak = pid, interval, 0, 0, 0.0
        self.limit_bytes, self.exceeded = limit_bytes, False
        self._stop_event = threading.Event()

    def run(self) -> None:
        try:
            root = psutil.Process(self.pid)
        except psutil.NoSuchProcess:
            return
        while not self._stop_event.is_set():
            total = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                return
            for proc in procs:
                with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
                    total += proc.memory_info().rss
            self.peak = max(self.peak, total)
            self.cpu_peak = max(self.cpu_peak, _cpu_of(procs))
            self.window_peak = max(self.window_peak, total)
            if self.limit_bytes and total > self.limit_bytes and self.pid != os.getpid():
                self.exceeded = True
                for proc in reversed(procs):
                    with contextlib.suppress(psutil.NoSuchProcess):
                        proc.kill()
                return
            self._stop_event.wait(self.interval)

    def take_window_peak(self) -> int:
        """Peak since the previous call (or the start): the peak of one stage of a build. Memory a
        stage freed but the allocator kept shows up in the next stage's peak too."""
        peak, self.window_peak = self.window_peak, 0
        return peak

    def stop(self) -> int:
        self._stop_event.set()
        self.join()
        return self.peak
