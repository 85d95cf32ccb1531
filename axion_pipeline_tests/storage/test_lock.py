"""``held_connection``: one open warehouse for a short run, every connection of the process a cursor on it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import duckdb
import pytest

from axion_pipeline.storage import lock
from axion_pipeline.storage.lock import connect, held_connection, queued_connection, writer_queue

TAKE_TURN = (
    "import sys; from axion_pipeline.storage.lock import writer_queue\n"
    "try:\n"
    "    with writer_queue(sys.argv[1], wait_seconds=0.2): print('got the turn')\n"
    "except TimeoutError: print('waited')\n"
)
REPO = Path(__file__).resolve().parents[2]


def _other_process_gets_the_turn(path) -> bool:
    done = subprocess.run(
        [sys.executable, "-c", TAKE_TURN, str(path)], capture_output=True, text=True, check=True, cwd=REPO
    )
    return done.stdout.strip() == "got the turn"


def test_every_connection_inside_is_a_cursor_on_the_one_kept_open(tmp_path, monkeypatch):
    path = tmp_path / "w.duckdb"
    opened = []
    real_connect = duckdb.connect
    monkeypatch.setattr(lock.duckdb, "connect", lambda *a, **k: opened.append(a) or real_connect(*a, **k))
    with held_connection(path) as kept:
        kept.execute("create table t as select 1 as x")
        with queued_connection(path, read_only=False) as con:
            con.execute("insert into t values (2)")
        with queued_connection(path) as con:  # a reader's connection: the same database, the same rows
            assert con.execute("select sum(x) from t").fetchone() == (3,)
        with writer_queue(path):  # reentrant: this process holds the turn
            assert connect(path).execute("select count(*) from t").fetchone() == (2,)
        with held_connection(path) as nested:
            assert nested is kept
        assert len(opened) == 1
        assert not _other_process_gets_the_turn(path)
    # closed on exit: the next connection opens the file again, and other processes get their turn
    with queued_connection(path) as con:
        assert con.execute("select count(*) from t").fetchone() == (2,)
    assert len(opened) == 2
    assert _other_process_gets_the_turn(path)


def test_the_turn_is_released_when_the_run_inside_fails(tmp_path):
    path = tmp_path / "w.duckdb"
    with pytest.raises(RuntimeError), held_connection(path):
        raise RuntimeError("a failed run")
    assert not lock._kept and _other_process_gets_the_turn(path)
