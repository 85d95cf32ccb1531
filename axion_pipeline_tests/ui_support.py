"""Helpers for the browser test of the Dagster UI: a process-group runner and a small Chromium driver.

Chromium is driven over the Chrome DevTools Protocol (CDP) with the ``websockets`` package, which
``dagster-webserver`` already depends on (through ``uvicorn[standard]``): no npm package and no
browser download. Every process started here gets its own process group and carries a marker
environment variable, so a test can prove that nothing it started outlives it.
"""

from __future__ import annotations

import base64
import contextlib
import itertools
import json
import os
import signal
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"

# The flags this machine needs: without the background-networking ones Chromium keeps trying
# Google's hosts through a closed network.
CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
    "--hide-scrollbars",
    "--mute-audio",
]


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_until(predicate: Callable[[], Any], timeout: float, interval: float, what: str) -> Any:
    """Poll ``predicate`` until it returns a truthy value; raise ``TimeoutError`` naming ``what``."""
    deadline = time.monotonic() + timeout
    last_error: BaseException | None = None
    while True:
        try:
            value = predicate()
            if value:
                return value
        except (OSError, urllib.error.URLError, ValueError) as exc:
            last_error = exc
        if time.monotonic() > deadline:
            detail = f" (last error: {last_error!r})" if last_error else ""
            raise TimeoutError(f"timed out after {timeout:.0f} s waiting for {what}{detail}")
        time.sleep(interval)


def http_json(url: str, payload: Mapping[str, Any] | None = None, timeout: float = 30) -> Any:
    data = None if payload is None else json.dumps(payload).encode()
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        return json.loads(response.read())


# --- processes -------------------------------------------------------------------------------


def pids_with_marker(name: str, value: str) -> list[int]:
    """Live processes (not zombies) whose environment holds ``name=value``."""
    needle = f"{name}={value}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        state = stat.rsplit(")", 1)[-1].split()[0]
        if needle in environ.split(b"\0") and state not in ("Z", "X"):
            found.append(int(entry.name))
    return sorted(found)


def describe_pids(pids: Sequence[int]) -> str:
    lines = []
    for pid in pids:
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            cmd = "?"
        lines.append(f"{pid}: {cmd[:160]}")
    return "\n".join(lines)


def _default_interrupt_signals() -> None:
    # A child inherits ignored signals. Started from a shell's background job, SIGINT is ignored,
    # and `dagster dev` maps SIGTERM onto SIGINT's handler: it would then ignore SIGTERM too.
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


class ProcessGroup:
    """A command started in a new session (so a new process group) with a marker in its env."""

    def __init__(self, args: Sequence[str], env: Mapping[str, str], log_path: Path, cwd: Path | None = None):
        self.log_path = log_path
        self._log = open(log_path, "wb")  # noqa: SIM115 - closed in stop()
        self.proc = subprocess.Popen(
            list(args),
            env=dict(env),
            cwd=cwd,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
            preexec_fn=_default_interrupt_signals,
        )
        self.pgid = self.proc.pid

    def log_tail(self, chars: int = 4000) -> str:
        try:
            return self.log_path.read_text(errors="replace")[-chars:]
        except OSError:
            return ""

    def _signal_group(self, sig: int) -> None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.pgid, sig)

    def _group_alive(self) -> bool:
        try:
            os.killpg(self.pgid, 0)
        except ProcessLookupError:
            return False
        # Members may all be zombies awaiting their parent: count only live ones.
        for entry in Path("/proc").iterdir():
            if not entry.name.isdigit():
                continue
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[-1].split()
            except OSError:
                continue
            if int(fields[2]) == self.pgid and fields[0] not in ("Z", "X"):
                return True
        return False

    def stop(self, grace: float = 30.0) -> bool:
        """SIGTERM the whole group, wait up to ``grace`` s, then SIGKILL it. True if it ended on SIGTERM."""
        graceful = True
        if self.proc.poll() is None or self._group_alive():
            self._signal_group(signal.SIGTERM)
            deadline = time.monotonic() + grace
            while time.monotonic() < deadline:
                self.proc.poll()
                if not self._group_alive():
                    break
                time.sleep(0.2)
            else:
                graceful = False
                self._signal_group(signal.SIGKILL)
        try:
            self.proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            graceful = False
            self.proc.kill()
            self.proc.wait(timeout=10)
        self._log.close()
        return graceful


# --- Chromium over the DevTools Protocol ---------------------------------------------------------


class CDPError(RuntimeError):
    pass


class Chromium:
    """One headless Chromium page, driven over CDP (navigate, evaluate JavaScript, screenshot)."""

    def __init__(
        self,
        profile_dir: Path,
        env: Mapping[str, str],
        log_path: Path,
        width: int = 1400,
        height: int = 900,
        executable: str = CHROMIUM,
    ):
        profile_dir.mkdir(parents=True, exist_ok=True)
        self.group = ProcessGroup(
            [
                executable,
                *CHROMIUM_FLAGS,
                f"--user-data-dir={profile_dir}",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                f"--window-size={width},{height}",
                "about:blank",
            ],
            env=env,
            log_path=log_path,
        )
        try:
            self._connect(profile_dir / "DevToolsActivePort", width, height)
        except BaseException:
            self.group.stop(grace=5)
            raise

    def _connect(self, port_file: Path, width: int, height: int) -> None:
        from websockets.sync.client import connect

        def debug_port() -> int | None:
            if self.group.proc.poll() is not None:
                raise CDPError(f"chromium exited with {self.group.proc.returncode}:\n{self.group.log_tail()}")
            text = port_file.read_text() if port_file.exists() else ""
            return int(text.split()[0]) if text.strip() else None

        port = wait_until(debug_port, timeout=30, interval=0.1, what="chromium's DevTools port")
        targets = wait_until(
            lambda: [t for t in http_json(f"http://127.0.0.1:{port}/json/list") if t.get("type") == "page"],
            timeout=30,
            interval=0.2,
            what="a chromium page target",
        )
        self._connection = contextlib.ExitStack()
        self._ws = self._connection.enter_context(
            connect(targets[0]["webSocketDebuggerUrl"], max_size=None, open_timeout=30)
        )
        self._ids = itertools.count(1)
        self.send(
            "Emulation.setDeviceMetricsOverride",
            {"width": width, "height": height, "deviceScaleFactor": 1, "mobile": False},
        )

    def send(self, method: str, params: Mapping[str, Any] | None = None, timeout: float = 60) -> dict:
        msg_id = next(self._ids)
        self._ws.send(json.dumps({"id": msg_id, "method": method, "params": dict(params or {})}))
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError(f"no CDP answer to {method} within {timeout} s")
            message = json.loads(self._ws.recv(timeout=remaining))
            if message.get("id") != msg_id:
                continue  # an event, or the answer to an abandoned command
            if "error" in message:
                raise CDPError(f"{method}: {message['error']}")
            return message.get("result", {})

    def navigate(self, url: str) -> None:
        result = self.send("Page.navigate", {"url": url})
        if result.get("errorText"):
            raise CDPError(f"navigation to {url} failed: {result['errorText']}")

    def evaluate(self, expression: str) -> Any:
        result = self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True})
        if "exceptionDetails" in result:
            raise CDPError(f"JavaScript error: {result['exceptionDetails']}")
        return result["result"].get("value")

    def wait_for_state(self, expression: str, accept: Callable[[Any], bool], timeout: float, what: str) -> Any:
        """Evaluate ``expression`` until ``accept(value)``; return that value.

        Errors while the page loads (a destroyed execution context, a script error on a half-built
        DOM) count as "not yet". On timeout, the last value or error seen is in the message.
        """
        seen: dict[str, Any] = {}

        def attempt() -> bool:
            try:
                seen["value"] = self.evaluate(expression)
            except CDPError as exc:
                seen["value"] = exc
                return False
            return accept(seen["value"])

        try:
            wait_until(attempt, timeout=timeout, interval=0.5, what=what)
        except TimeoutError as exc:
            raise TimeoutError(f"{exc}; last seen: {seen.get('value')!r}") from exc
        return seen["value"]

    def screenshot(self, path: Path) -> Path:
        data = self.send("Page.captureScreenshot", {"format": "png"})["data"]
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(base64.b64decode(data))
        return path

    def close(self) -> bool:
        """Close the browser (CDP, then SIGTERM to its group). True if it ended without SIGKILL."""
        from websockets.exceptions import ConnectionClosed

        # the browser may drop the connection before answering; the group is stopped below
        with contextlib.suppress(ConnectionClosed, CDPError, TimeoutError, OSError):
            self.send("Browser.close", timeout=10)
        self._connection.close()
        return self.group.stop(grace=15)
