"""Turn-taking on the DuckDB warehouse file across processes.

DuckDB lets one process open a database file for writing and refuses everyone else. Every
connection of the project is opened in the warehouse's turn (``writer_queue``, an ``flock`` on
``<warehouse>.lock``): other processes wait their turn instead of failing, and a killed holder
releases its turn with its process (the kernel drops the lock). Programs outside the project that
hold DuckDB's own lock are waited for by ``connect``.
"""

from __future__ import annotations

import fcntl
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb

# How long a step waits for its turn at the warehouse, and a plain reader for DuckDB's own lock.
QUEUE_WAIT_SECONDS = 3600.0
LOCK_WAIT_SECONDS = 120.0

_held: dict[str, int] = {}
_held_guard = threading.Lock()
# warehouse (resolved path) -> the connection ``held_connection`` keeps open in this process
_kept: dict[str, duckdb.DuckDBPyConnection] = {}


@contextmanager
def writer_queue(path: str | Path, exclusive: bool = True, wait_seconds: float | None = None) -> Iterator[None]:
    """Take the warehouse's turn: a cross-process lock (``flock`` on ``<warehouse>.lock``) held while
    a connection is open. Readers share the lock (``exclusive=False``). Reentrant within a
    process, which shares one DuckDB database instance.
    Waits up to ``wait_seconds`` (default ``QUEUE_WAIT_SECONDS``; ``AXION_DUCKDB_QUEUE_WAIT`` in the
    project settings), then raises."""
    key = str(Path(path).resolve())
    with _held_guard:
        reentrant = bool(_held.get(key))
        if reentrant:
            _held[key] += 1
    if reentrant:
        try:
            yield
        finally:
            with _held_guard:
                _held[key] -= 1
        return
    limit = QUEUE_WAIT_SECONDS if wait_seconds is None else wait_seconds
    try:
        fd = os.open(key + ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise WarehouseUnavailable(
            f"cannot open the warehouse's lock file {key}.lock ({exc.strerror}): every connection takes its "
            "turn through it; make its folder writable, or set AXION_WAREHOUSE to a writable path"
        ) from exc
    try:
        deadline, delay = time.monotonic() + limit, 0.01
        while True:
            try:
                fcntl.flock(fd, (fcntl.LOCK_EX if exclusive else fcntl.LOCK_SH) | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if time.monotonic() > deadline:
                    raise TimeoutError(
                        f"waited {limit:.0f} s for the warehouse {path}: another process holds "
                        f"{key}.lock (raise AXION_DUCKDB_QUEUE_WAIT to wait longer)"
                    ) from None
                time.sleep(delay)
                delay = min(delay * 2, 0.25)
        with _held_guard:
            _held[key] = 1
        try:
            yield
        finally:
            with _held_guard:
                _held.pop(key, None)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)


@contextmanager
def queued_connection(
    path: str | Path, read_only: bool = True, wait_seconds: float | None = None
) -> Iterator[duckdb.DuckDBPyConnection]:
    """A connection opened in the warehouse's turn (see ``writer_queue``), closed on exit."""
    with writer_queue(path, exclusive=not read_only, wait_seconds=wait_seconds), connect(path, read_only) as con:
        yield con


@contextmanager
def held_connection(path: str | Path, wait_seconds: float | None = None) -> Iterator[duckdb.DuckDBPyConnection]:
    """Take the warehouse's turn once and keep one read-write connection open until exit.

    Meanwhile every connection this process opens to the same warehouse (``connect``: the I/O
    manager's reads and writes, the checks' and sensors' reads) is a cursor on the kept one, in
    the turn this process already holds. Opening the file costs about 35 ms on a 1 GB warehouse
    (DuckDB reads its catalogue each time), and one trading day through the daily and serving
    jobs opens it about 70 times. Other processes wait for their turn until exit, as they wait
    for any connection: hold it for a short run (one day through ``execute_in_process``), not
    around hours of training that other processes would queue behind."""
    key = str(Path(path).resolve())
    if key in _kept:  # nested: the outer one keeps it
        yield _kept[key]
        return
    with writer_queue(path, exclusive=True, wait_seconds=wait_seconds):
        con = connect(path, read_only=False)
        _kept[key] = con
        try:
            yield con
        finally:
            _kept.pop(key, None)
            con.close()


class WarehouseUnavailable(OSError):
    """The warehouse file cannot be opened for a reason waiting will not fix (corrupt, not a
    DuckDB file, not writable, a directory): the message says what is wrong and what to do."""


# (what DuckDB says, what it means, what to do); checked in order on a failed open
_PERMANENT = [
    (
        ("could not read enough bytes", "checksum", "corrupt"),
        "is truncated or corrupt",
        "restore it from a backup, or move it aside and rebuild it (`make run`; the warehouse is derived data)",
    ),
    (
        ("not a valid duckdb database file",),
        "is not a DuckDB database (garbled, empty, or another kind of file)",
        "move it aside and rebuild it (`make run`), or point AXION_WAREHOUSE at the right file",
    ),
    (
        ("operation not permitted", "permission denied", "read-only file system"),
        "cannot be opened for writing (an immutable or read-only file, or a read-only file system)",
        "make it writable (e.g. `chattr -i` or `chmod u+w`), or set AXION_WAREHOUSE to a writable path",
    ),
    (
        ("is a directory",),
        "is a directory, not a DuckDB file",
        "set AXION_WAREHOUSE to a file path",
    ),
    (
        ("no such file or directory",),
        "cannot be created: its folder does not exist",
        "create the folder, or set AXION_WAREHOUSE to a path in an existing one",
    ),
]


def connect(
    path: str | Path, read_only: bool = True, wait_seconds: float | None = None, config: dict | None = None
) -> duckdb.DuckDBPyConnection:
    """Open the warehouse. DuckDB lets one process write at a time and locks the file meanwhile;
    a lock held by another program is waited for, retrying with backoff for up to
    ``wait_seconds`` (default ``LOCK_WAIT_SECONDS``). Any other failure to open is permanent (a
    truncated, garbled, immutable file, a directory) and raises ``WarehouseUnavailable`` at once,
    saying what is wrong and what to do: retrying it only delays the same error by minutes.
    Inside ``held_connection`` on the same warehouse: a cursor on the kept connection (read-write,
    whatever ``read_only`` and ``config`` say)."""
    kept = _kept.get(str(Path(path).resolve())) if _kept else None
    if kept is not None:  # ``held_connection``: a cursor on the connection this process keeps open
        return kept.cursor()
    if read_only and not Path(path).exists():
        raise FileNotFoundError(f"warehouse {path} does not exist: run `make run` first")
    limit = LOCK_WAIT_SECONDS if wait_seconds is None else wait_seconds
    deadline, delay = time.monotonic() + limit, 0.05
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only, config=config or {})
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise _unavailable(path, exc) from exc
            if time.monotonic() + delay > deadline:
                raise TimeoutError(
                    f"waited {limit:.0f} s for the warehouse {path}: another program holds DuckDB's lock on it "
                    f"({str(exc).splitlines()[0]}); close that program or raise AXION_DUCKDB_LOCK_WAIT"
                ) from exc
            time.sleep(delay)
            delay = min(delay * 2, 2.0)
        except duckdb.Error as exc:  # e.g. a file written by an incompatible DuckDB version
            raise _unavailable(path, exc) from exc


def _is_lock_conflict(exc: Exception) -> bool:
    return "could not set lock" in str(exc).lower() or "conflicting lock" in str(exc).lower()


def _unavailable(path: str | Path, exc: Exception) -> WarehouseUnavailable:
    said = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
    lowered = said.lower()
    for needles, problem, remedy in _PERMANENT:
        if any(n in lowered for n in needles):
            return WarehouseUnavailable(f"the warehouse {path} {problem}: {remedy} (DuckDB: {said})")
    return WarehouseUnavailable(f"the warehouse {path} cannot be opened (DuckDB: {said}); it is not retried")
