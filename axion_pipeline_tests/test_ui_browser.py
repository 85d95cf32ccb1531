"""The Dagster UI, end to end: `dagster dev` on a small generated market, seen in headless Chromium.

- every asset group of the Definitions appears in the UI (global asset lineage and the code
  location's list of groups, with each group's asset count);
- a screenshot of the asset graph (``docs/asset_graph.png`` when ``AXION_UPDATE_SCREENSHOT=1``);
- a materialization of ``sectors`` launched through the webserver's GraphQL API succeeds, lands in
  DuckDB and is shown as a successful run in the UI;
- every process the test started is gone afterwards.

`dagster dev` is used rather than the webserver alone: without a ``run_coordinator`` in
dagster_instance.yaml the instance queues runs (QueuedRunCoordinator) and only the daemon dequeues them.
Chromium is driven over the DevTools Protocol (see ``ui_support.py``); install it with
``scripts/install_browser.sh``. Without it the test is skipped, except in CI where it fails.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
import uuid
import warnings
from pathlib import Path

import duckdb
import pytest

from axion_pipeline_tests.ui_support import (
    CHROMIUM,
    Chromium,
    ProcessGroup,
    describe_pids,
    free_port,
    http_json,
    pids_with_marker,
    wait_until,
)

pytestmark = pytest.mark.slow

REPO_ROOT = Path(__file__).resolve().parent.parent
LOCATION = "axion_pipeline"
REPOSITORY = "__repository__"  # the implicit repository of a Definitions object
MARKER = "AXION_UI_TEST_MARKER"
SIM_TICKERS = 30
VIEWPORT = (1400, 900)

SERVER_START_TIMEOUT = 240
PAGE_TIMEOUT = 90
RUN_TIMEOUT = 300


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


@pytest.fixture(scope="module")
def chromium_executable() -> str:
    if os.access(CHROMIUM, os.X_OK):
        return CHROMIUM
    message = f"{CHROMIUM} not found: run scripts/install_browser.sh (Debian's chromium package)"
    if _in_ci():
        pytest.fail(f"{message}; CI is set, so a missing browser is a failure, not a skip")
    pytest.skip(message)


@pytest.fixture(scope="module")
def marker(chromium_executable):
    """A value put in the environment of every process this module starts; none may outlive it."""
    value = uuid.uuid4().hex
    yield value
    leftovers = wait_until_gone(value, timeout=10)
    if leftovers:
        listing = describe_pids(leftovers)
        for pid in leftovers:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
        pytest.fail(f"processes started by the UI test outlived it (now killed):\n{listing}")


def wait_until_gone(marker_value: str, timeout: float, ignore=lambda pid: False) -> list[int]:
    """The marked processes (less the ignored ones) still alive after up to ``timeout`` s."""
    deadline = time.monotonic() + timeout
    while True:
        pids = [pid for pid in pids_with_marker(MARKER, marker_value) if not ignore(pid)]
        if not pids or time.monotonic() > deadline:
            return pids
        time.sleep(0.2)


@pytest.fixture(scope="module")
def ui_env(tmp_path_factory, marker) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dagster_ui")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster_instance.yaml", dagster_home / "dagster.yaml")
    env = {k: v for k, v in os.environ.items() if k != "AXION_DATA_DIR"}
    env.update(
        {
            "DAGSTER_HOME": str(dagster_home),
            "AXION_WAREHOUSE": str(root / "warehouse.duckdb"),
            "AXION_SIM_TICKERS": str(SIM_TICKERS),
            "AXION_SIM_START": "2021-01-04",
            "AXION_SIM_END": "2023-06-30",
            "AXION_SIM_SEED": "7",
            # the short market fits two small walk-forward folds (as the Dagster-layer tests use)
            "AXION_WF_TRAIN_DAYS": "120",
            "AXION_WF_TEST_DAYS": "21",
            "AXION_WF_FOLDS": "2",
            "DAGSTER_EVENT_BATCH_SIZE": "10000",
            "DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS": "true",
            "PYTHONUNBUFFERED": "1",
            # Chromium writes crash and cache folders under these; keep them out of $HOME.
            "XDG_CONFIG_HOME": str(root / "xdg_config"),
            "XDG_CACHE_HOME": str(root / "xdg_cache"),
            MARKER: marker,
        }
    )
    return env


def _groups_of_definitions(env: dict[str, str]) -> dict[str, list[str]]:
    """Asset keys per group, read from the Definitions in a fresh process with the server's env."""
    code = (
        "import json\n"
        "from axion_pipeline.definitions import defs\n"
        "groups = {}\n"
        "for node in defs().resolve_asset_graph().asset_nodes:\n"
        "    groups.setdefault(node.group_name, []).append(node.key.to_user_string())\n"
        "print('GROUPS=' + json.dumps({g: sorted(k) for g, k in groups.items()}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("GROUPS=")]
    assert done.returncode == 0 and lines, f"loading the Definitions failed:\n{done.stderr[-4000:]}"
    return json.loads(lines[-1].removeprefix("GROUPS="))


class DagsterUI:
    def __init__(
        self, base_url: str, port: int, env: dict[str, str], groups: dict[str, list[str]], process: ProcessGroup
    ):
        self.base_url = base_url
        self.port = port
        self.env = env
        self.groups = groups
        self.process = process

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = http_json(f"{self.base_url}/graphql", {"query": query, "variables": variables or {}})
        assert "errors" not in answer, answer["errors"]
        return answer["data"]


LOCATION_STATUS_QUERY = """
query {
  workspaceOrError {
    __typename
    ... on Workspace {
      locationEntries {
        name
        loadStatus
        locationOrLoadError { __typename ... on PythonError { message stack } }
      }
    }
  }
}
"""


def _location_loaded(ui_url: str) -> bool:
    data = http_json(f"{ui_url}/graphql", {"query": LOCATION_STATUS_QUERY})["data"]["workspaceOrError"]
    entries = {e["name"]: e for e in data.get("locationEntries", [])}
    entry = entries.get(LOCATION)
    if entry is None or entry["loadStatus"] != "LOADED":
        return False
    loaded = entry["locationOrLoadError"]
    if loaded["__typename"] == "PythonError":
        raise AssertionError(
            f"code location {LOCATION} failed to load:\n{loaded['message']}\n" + "".join(loaded["stack"])
        )
    return loaded["__typename"] == "RepositoryLocation"


@pytest.fixture(scope="module")
def dagster_ui(ui_env, tmp_path_factory) -> DagsterUI:
    port = free_port()
    log = tmp_path_factory.mktemp("dagster_ui_logs") / "dagster_dev.log"
    process = ProcessGroup(
        [
            sys.executable,
            "-m",
            "dagster",
            "dev",
            "-h",
            "127.0.0.1",
            "-p",
            str(port),
            "-w",
            str(REPO_ROOT / "workspace.yaml"),
        ],
        env=ui_env,
        log_path=log,
        cwd=REPO_ROOT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        groups = _groups_of_definitions(ui_env)  # while the server starts

        def ready() -> bool:
            if process.proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {process.proc.returncode}:\n{process.log_tail()}")
            http_json(f"{base_url}/server_info", timeout=5)
            return _location_loaded(base_url)

        try:
            wait_until(ready, timeout=SERVER_START_TIMEOUT, interval=0.5, what="dagster dev to serve the code location")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{process.log_tail()}") from exc
        yield DagsterUI(base_url, port, ui_env, groups, process)
    finally:
        # SIGTERM first; on a loaded 2-core machine dagster dev (webserver, daemon, code servers)
        # can take over a minute to wind down, after which the group is SIGKILLed
        graceful = process.stop(grace=120)
        leftovers = wait_until_gone(ui_env[MARKER], timeout=15, ignore=_is_chromium)
    # Reached only when setup succeeded: a setup error propagates from `finally` and is the one to
    # report (the `marker` fixture still checks for leftovers then).
    if not graceful:
        warnings.warn(
            f"dagster dev did not stop on SIGTERM within 120 s and was killed:\n{process.log_tail()[-2000:]}",
            stacklevel=1,
        )
    # the guarantee that matters: nothing the test started is still running
    assert not leftovers, f"dagster processes left after stopping dagster dev:\n{describe_pids(leftovers)}"


def _is_chromium(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/exe").resolve().name.startswith("chrom")
    except OSError:
        return False


@pytest.fixture(scope="module")
def browser(chromium_executable, ui_env, tmp_path_factory):
    root = tmp_path_factory.mktemp("chromium")
    chromium = Chromium(
        root / "profile",
        env=ui_env,
        log_path=root / "chromium.log",
        width=VIEWPORT[0],
        height=VIEWPORT[1],
        executable=chromium_executable,
    )
    try:
        yield chromium
    finally:
        assert chromium.close(), "chromium did not stop on SIGTERM"


# What the global asset lineage shows: the sidebar's items (groups when there are several,
# otherwise assets) and the labels of the group boxes drawn in the graph.
LINEAGE_STATE_JS = """
(() => {
  const titles = (nodes) => Array.from(nodes).map((n) => n.getAttribute('title')).filter(Boolean);
  const sidebarGroups = Array.from(document.querySelectorAll('[aria-label="asset_group"]'))
    .map((icon) => icon.parentElement.querySelector('[title]')).filter(Boolean)
    .map((n) => n.getAttribute('title'));
  const graphGroups = Array.from(document.querySelectorAll('svg foreignObject.group'))
    .map((f) => (f.firstElementChild ? f.firstElementChild.innerText : '').split('\\n')
      .map((s) => s.trim()).filter(Boolean)[0]).filter(Boolean);
  return {
    heading: document.title,
    sidebarItems: titles(document.querySelectorAll('[class*="AssetSidebarNode_itemContainer"] [title]')),
    sidebarGroups, graphGroups,
    graphNodes: document.querySelectorAll('svg foreignObject').length,
    fetchingStatuses: document.body.innerText.includes('fetching statuses'),
  };
})()
"""

# The code location's "Definitions > Assets" tab: one row per asset group with its asset count.
LOCATION_GROUPS_JS = """
(() => Array.from(document.querySelectorAll('[class*="VirtualizedTable_row"]'))
  .filter((row) => row.querySelector('[aria-label="asset_group"]'))
  .map((row) => {
    const tag = row.querySelector('[data-tooltip$=" assets"], [data-tooltip$=" asset"]');
    const icon = row.querySelector('[aria-label="asset_group"]');
    return {name: icon.parentElement.innerText.trim(), count: tag ? tag.getAttribute('data-tooltip') : null};
  }))()
"""


def _lineage_shows(groups: dict[str, list[str]]):
    expected = set(groups)

    def accept(state) -> bool:
        if state["fetchingStatuses"]:
            return False
        if len(expected) > 1:
            # Several groups: each is a sidebar entry and a (collapsed) box in the graph.
            return set(state["sidebarGroups"]) == expected and expected <= set(state["graphGroups"])
        # A single group is not drawn as a box: the sidebar lists its assets instead.
        (assets,) = groups.values()
        return set(state["sidebarItems"]) == set(assets) and state["graphNodes"] > 0

    return accept


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", header[16:24])


def test_every_asset_group_is_shown_in_the_ui(dagster_ui, browser, tmp_path):
    groups = dagster_ui.groups
    assert groups, "the Definitions hold no assets"

    browser.navigate(f"{dagster_ui.base_url}/asset-groups")
    state = browser.wait_for_state(
        LINEAGE_STATE_JS,
        _lineage_shows(groups),
        PAGE_TIMEOUT,
        f"the global asset lineage to show the groups {sorted(groups)}",
    )
    assert state["heading"] == "Global asset lineage"
    time.sleep(1.0)  # let the graph finish its zoom-to-fit animation before the screenshot

    if os.environ.get("AXION_UPDATE_SCREENSHOT") == "1":
        shot = REPO_ROOT / "docs" / "asset_graph.png"
    else:
        shot = tmp_path / "asset_graph.png"
    browser.screenshot(shot)
    assert _png_size(shot) == VIEWPORT
    assert shot.stat().st_size < 1_000_000, f"screenshot unexpectedly large: {shot.stat().st_size} bytes"

    expected_rows = [
        {"name": group, "count": f"{len(keys)} asset{'s' if len(keys) != 1 else ''}"}
        for group, keys in sorted(groups.items())
    ]
    browser.navigate(f"{dagster_ui.base_url}/locations/{LOCATION}/assets")
    browser.wait_for_state(
        LOCATION_GROUPS_JS,
        lambda rows: sorted(rows, key=lambda r: r["name"]) == expected_rows,
        PAGE_TIMEOUT,
        f"the code location's asset groups to be {expected_rows}",
    )


RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on PythonError { message }
  }
}
"""

LATEST_MATERIALIZATION_QUERY = """
query ($path: [String!]!) {
  assetOrError(assetKey: {path: $path}) {
    __typename
    ... on Asset { assetMaterializations(limit: 1) { runId } }
  }
}
"""


@pytest.mark.filterwarnings("ignore:Using variable_values and operation_name:DeprecationWarning:gql")
def test_materialize_sectors_through_graphql(dagster_ui, browser):
    from dagster_graphql import DagsterGraphQLClient

    assert "sectors" in dagster_ui.groups.get("market", []), dagster_ui.groups
    client = DagsterGraphQLClient("127.0.0.1", port_number=dagster_ui.port, timeout=60)
    run_id = client.submit_job_execution(
        "__ASSET_JOB",
        repository_location_name=LOCATION,
        repository_name=REPOSITORY,
        asset_selection=["sectors"],
    )

    finished = {"SUCCESS", "FAILURE", "CANCELED"}

    def run_finished() -> str | None:
        status = dagster_ui.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"]
        return status if status in finished else None

    try:
        status = wait_until(run_finished, timeout=RUN_TIMEOUT, interval=1.0, what=f"run {run_id} to finish")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- dagster dev log ---\n{dagster_ui.process.log_tail()}") from exc
    assert status == "SUCCESS", f"run {run_id} ended {status}:\n{dagster_ui.process.log_tail()}"

    latest = dagster_ui.graphql(LATEST_MATERIALIZATION_QUERY, {"path": ["sectors"]})["assetOrError"]
    assert latest["assetMaterializations"] == [{"runId": run_id}]

    with duckdb.connect(dagster_ui.env["AXION_WAREHOUSE"], read_only=True) as con:
        rows, tickers, sectors = con.execute(
            "SELECT count(*), count(DISTINCT ticker), count(DISTINCT sector) FROM market.sectors"
        ).fetchone()
    assert rows == tickers == SIM_TICKERS, (rows, tickers)
    assert sectors > 1

    browser.navigate(f"{dagster_ui.base_url}/runs/{run_id}")
    browser.wait_for_state(
        "(() => ({text: document.body.innerText, title: document.title}))()",
        lambda s: run_id[:8] in s["title"] + s["text"] and "Success" in s["text"],
        PAGE_TIMEOUT,
        f"the run page of {run_id} to show Success",
    )
