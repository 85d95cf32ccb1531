"""Servers for the multi-machine tests and benchmark, each its own process on 127.0.0.1: a Postgres
cluster (Debian's ``postgresql``) for the Dagster instance, a Redis server (Debian's
``redis-server``) as Celery broker, and Celery workers. Each is started on a free port in a fresh
folder and stopped at exit. ``scripts/install_servers.sh`` installs the Debian packages.

Postgres refuses to run as root: as root, the cluster's folder is given to ``nobody`` and the server
binaries run as that user (``runuser``)."""

from __future__ import annotations

import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path


def _postgres_bin() -> Path:
    """``AXION_POSTGRES_BIN``, else the newest of Debian's ``/usr/lib/postgresql/<version>/bin``."""
    if os.environ.get("AXION_POSTGRES_BIN"):
        return Path(os.environ["AXION_POSTGRES_BIN"])
    found = sorted(
        Path("/usr/lib/postgresql").glob("*/bin"), key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0
    )
    return found[-1] if found else Path("/usr/lib/postgresql/15/bin")


POSTGRES_BIN = _postgres_bin()
REDIS_SERVER = os.environ.get("AXION_REDIS_SERVER", "/usr/bin/redis-server")
SERVER_USER = "nobody"  # who runs Postgres when the tests run as root


def missing_servers() -> list[str]:
    """The server programs this machine lacks (``scripts/install_servers.sh`` installs them)."""
    needed = [POSTGRES_BIN / "initdb", POSTGRES_BIN / "pg_ctl", Path(REDIS_SERVER)]
    return [str(p) for p in needed if not os.access(p, os.X_OK)]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _wait_for_port(port: int, proc: subprocess.Popen | None, what: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"{what} exited with code {proc.returncode}")
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise TimeoutError(f"{what} did not listen on 127.0.0.1:{port} within {timeout:.0f} s")


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@contextmanager
def postgres_server(database: str = "dagster") -> Iterator[str]:
    """A throwaway Postgres cluster on a free loopback port holding ``database``: yields its URL."""
    folder = Path(tempfile.mkdtemp(prefix="axion-pg-"))
    data, sockets = folder / "data", folder / "run"
    sockets.mkdir()
    if os.geteuid() == 0:
        shutil.chown(folder, SERVER_USER)
        shutil.chown(sockets, SERVER_USER)
    port, user = free_port(), "axion"
    run = lambda *args: subprocess.run(_as_server_user([str(a) for a in args]), check=True, capture_output=True)
    try:
        run(POSTGRES_BIN / "initdb", "-D", data, "-U", user, "--auth=trust", "--no-sync", "-E", "UTF8")
        options = f"-h 127.0.0.1 -p {port} -k {sockets} -c fsync=off -c full_page_writes=off"
        run(POSTGRES_BIN / "pg_ctl", "-D", data, "-o", options, "-l", folder / "server.log", "-w", "start")
        try:
            _wait_for_port(port, None, "postgres")
            run(POSTGRES_BIN / "createdb", "-h", "127.0.0.1", "-p", port, "-U", user, database)
            # the driver named: SQLAlchemy 2.1 defaults to psycopg 3, dagster-postgres installs psycopg2
            yield f"postgresql+psycopg2://{user}@127.0.0.1:{port}/{database}"
        finally:
            run(POSTGRES_BIN / "pg_ctl", "-D", data, "-m", "immediate", "-w", "stop")
    finally:
        shutil.rmtree(folder, ignore_errors=True)


@contextmanager
def redis_server() -> Iterator[str]:
    """A Redis server on a free loopback port, nothing persisted: yields its URL (database 0)."""
    port = free_port()
    with tempfile.TemporaryDirectory(prefix="axion-redis-") as folder:
        command = [REDIS_SERVER, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"]
        with open(Path(folder) / "redis.log", "w") as log:
            proc = subprocess.Popen([*command, "--dir", folder], stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_for_port(port, proc, "redis-server")
            yield f"redis://127.0.0.1:{port}/0"
        finally:
            proc.terminate()
            proc.wait(timeout=30)


@contextmanager
def celery_workers(n: int, broker: str, backend: str, env: dict[str, str], log_dir: Path) -> Iterator[list[int]]:
    """``n`` Celery workers of dagster-celery's app, each a process of its own with one task slot
    (a prefork child), listening on the ``dagster`` queue: yields their process ids once every
    worker answers a ping."""
    celery = str(Path(sys.executable).with_name("celery"))
    procs = []
    for i in range(n):
        command = [celery, "-A", "dagster_celery.app", "-b", broker, "--result-backend", backend, "worker"]
        command += ["-Q", "dagster", "-c", "1", "-P", "prefork", "--prefetch-multiplier=1", "-n", f"axion{i}@%h"]
        command += ["--without-gossip", "--without-mingle", "-l", "INFO"]
        with open(Path(log_dir) / f"worker{i}.log", "w") as log:
            procs.append(subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT))
    try:
        _wait_for_workers(n, broker, backend, procs)
        yield [p.pid for p in procs]
    finally:
        for p in procs:
            p.terminate()
        for p in procs:
            try:
                p.wait(timeout=30)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait()


def _wait_for_workers(n: int, broker: str, backend: str, procs, timeout: float = 60.0) -> None:
    from celery import Celery

    app = Celery("axion-ping", broker=broker, backend=backend)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for p in procs:
            if p.poll() is not None:
                raise RuntimeError(f"a Celery worker exited with code {p.returncode}")
        answers = app.control.ping(timeout=0.5) or []
        if len(answers) >= n:
            return
    raise TimeoutError(f"{n} Celery workers did not answer within {timeout:.0f} s")
