"""The Dagster UI as a data engineer sees it: `dagster dev` on a small generated market, in headless Chromium.

One `dagster dev` serves every test of the module. The setup goes through the webserver's GraphQL
API: the market tables, then ``daily_job`` over the first ``RANGE_DAYS`` trading days in one run (a
single-run backfill over a range, tagged ``dagster/asset_partition_range_start``/``_end``). The tests
then open the pages a person opens and assert what the page shows (visible text and roles, not
GraphQL):

- the global asset lineage, after "Expand all groups", shows every asset of every group;
- each group's lineage (``group:"<name>"`` in the lineage search) shows each of its assets;
- the code location lists every group with its asset count;
- the market tables run lands in DuckDB and its run page shows Success;
- the run page of the range run opens with its logs within ``RUN_PAGE_BUDGET`` s (the measured time
  is printed; the budget is generous on purpose, the figure is what to watch);
- a day's partition page of ``factor_scores`` and ``prices`` shows that day's own row count
  (``dagster/partition_row_count`` = the rows of that date in DuckDB, not the range's);
- a daily asset check's Partitions tab shows every day of the range Passed, none Skipped or Failed;
- ``factor_scores``' overview has a Columns section (``dagster/column_schema``, described columns);
- every process the module started (dagster dev, the Playwright driver, Chromium) is gone afterwards.

With ``AXION_UPDATE_SCREENSHOT=1`` (``make screenshot``) a last test builds the rest of the pipeline
(``python -m axion_pipeline.run_all``) and writes the docs' screenshots (``docs/lineage_<group>.png``,
``docs/asset_*.png``); without it that test is skipped and nothing is written.

`dagster dev` is used rather than the webserver alone: without a ``run_coordinator`` in dagster.yaml
the instance queues runs (QueuedRunCoordinator) and only the daemon dequeues them. Chromium is
Debian's (``/usr/bin/chromium``, installed by ``scripts/install_browser.sh``), driven by Playwright
(``playwright`` in the dev dependency group; it downloads no browser here). Without Chromium the
tests are skipped, except in CI where they fail.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
import warnings
from dataclasses import dataclass
from pathlib import Path

import duckdb
import pytest

from axion_pipeline_tests.ui_support import (
    CHROMIUM,
    ProcessGroup,
    describe_pids,
    free_port,
    http_json,
    pids_with_marker,
    wait_until,
)

# one `dagster dev` for the module: under `make test` (pytest -n 2 --dist loadgroup) its tests stay on one worker
pytestmark = [pytest.mark.slow, pytest.mark.xdist_group("ui_browser")]

REPO_ROOT = Path(__file__).resolve().parent.parent
DOCS = REPO_ROOT / "docs"
LOCATION = "axion_pipeline"
REPOSITORY = "__repository__"  # the implicit repository of a Definitions object
MARKER = "AXION_UI_TEST_MARKER"
SIM_TICKERS = 30
# A day's target lands in the partition of the day it matures (21 trading days later): a range of
# 26 days starting at the first holds five days of targets, so the targets check has dates to audit.
RANGE_DAYS = 26
VIEWPORT = {"width": 1400, "height": 900}
MAX_VIEWPORT_HEIGHT = 6000
# the lineage graph: an SVG whose CSS-module class keeps this name (the suffix is a build hash)
GRAPH = "svg[class*='svgContainer']"
ASSET_NODE = "foreignObject:not(.group)"  # an asset in the graph (group outlines are foreignObject.group)
SCREENSHOT_MAX_BYTES = 1_000_000

SERVER_START_TIMEOUT = 240
PAGE_TIMEOUT = 90
RUN_TIMEOUT = 300
RUN_PAGE_BUDGET = 30.0  # seconds; generous on purpose (a loaded 2-core machine), the printed figure is the measure
BUILD_TIMEOUT = 1800
IN_PROCESS = {"execution": {"config": {"in_process": {}}}}  # one process per run, as `make run` runs them


def _in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() not in ("", "0", "false", "no")


def _updating_screenshots() -> bool:
    return os.environ.get("AXION_UPDATE_SCREENSHOT") == "1"


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


def _is_browser(pid: int) -> bool:
    """Chromium or Playwright's driver (node, started from the playwright package)."""
    try:
        exe = Path(f"/proc/{pid}/exe").resolve()
        cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return False
    return exe.name.startswith("chrom") or b"playwright" in cmdline


@pytest.fixture(scope="module")
def ui_env(tmp_path_factory, marker) -> dict[str, str]:
    root = tmp_path_factory.mktemp("dagster_ui")
    dagster_home = root / "dagster_home"
    dagster_home.mkdir()
    shutil.copy(REPO_ROOT / "dagster.yaml", dagster_home / "dagster.yaml")
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


@dataclass(frozen=True)
class Definitions:
    groups: dict[str, list[str]]  # group -> its asset keys
    trading_days: list[str]  # partition keys of the daily assets
    folds: list[str]  # partition keys of ranking_model


def _read_definitions(env: dict[str, str]) -> Definitions:
    """Groups and partition keys, read from the Definitions in a fresh process with the server's env."""
    code = (
        "import json\n"
        "import dagster as dg\n"
        "from axion_pipeline.definitions import defs\n"
        "graph = defs().resolve_asset_graph()\n"
        "groups = {}\n"
        "for node in graph.asset_nodes:\n"
        "    groups.setdefault(node.group_name, []).append(node.key.to_user_string())\n"
        "keys = lambda name: graph.get(dg.AssetKey(name)).partitions_def.get_partition_keys()\n"
        "print('DEFS=' + json.dumps({'groups': {g: sorted(k) for g, k in groups.items()},\n"
        "    'trading_days': keys('prices'), 'folds': keys('ranking_model')}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=REPO_ROOT, capture_output=True, text=True, timeout=300, check=False
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("DEFS=")]
    assert done.returncode == 0 and lines, f"loading the Definitions failed:\n{done.stderr[-4000:]}"
    return Definitions(**json.loads(lines[-1].removeprefix("DEFS=")))


class DagsterUI:
    def __init__(self, base_url: str, port: int, env: dict[str, str], definitions: Definitions, process: ProcessGroup):
        self.base_url = base_url
        self.port = port
        self.env = env
        self.definitions = definitions
        self.groups = definitions.groups
        self.process = process

    def graphql(self, query: str, variables: dict | None = None) -> dict:
        answer = http_json(f"{self.base_url}/graphql", {"query": query, "variables": variables or {}})
        assert "errors" not in answer, answer["errors"]
        return answer["data"]

    def url(self, path: str) -> str:
        return f"{self.base_url}{path}"


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
        definitions = _read_definitions(ui_env)  # while the server starts

        def ready() -> bool:
            if process.proc.poll() is not None:
                raise AssertionError(f"dagster dev exited with {process.proc.returncode}:\n{process.log_tail()}")
            http_json(f"{base_url}/server_info", timeout=5)
            return _location_loaded(base_url)

        try:
            wait_until(ready, timeout=SERVER_START_TIMEOUT, interval=0.5, what="dagster dev to serve the code location")
        except TimeoutError as exc:
            raise AssertionError(f"{exc}\n--- dagster dev log ---\n{process.log_tail()}") from exc
        yield DagsterUI(base_url, port, ui_env, definitions, process)
    finally:
        # SIGTERM first; on a loaded 2-core machine dagster dev (webserver, daemon, code servers)
        # can take over a minute to wind down, after which the group is SIGKILLed
        graceful = process.stop(grace=120)
        leftovers = wait_until_gone(ui_env[MARKER], timeout=15, ignore=_is_browser)
    # Reached only when setup succeeded: a setup error propagates from `finally` and is the one to
    # report (the `marker` fixture still checks for leftovers then).
    if not graceful:
        warnings.warn(
            f"dagster dev did not stop on SIGTERM within 120 s and was killed:\n{process.log_tail()[-2000:]}",
            stacklevel=1,
        )
    # the guarantee that matters: nothing the test started is still running
    assert not leftovers, f"dagster processes left after stopping dagster dev:\n{describe_pids(leftovers)}"


RUN_QUERY = """
query ($runId: ID!) {
  runOrError(runId: $runId) {
    __typename
    ... on Run { status }
    ... on PythonError { message }
  }
}
"""


def _run_job(ui: DagsterUI, job: str, tags: dict[str, str] | None = None) -> str:
    """Launch ``job`` through the webserver (in-process executor), wait for it; its run id once it succeeded."""
    from dagster_graphql import DagsterGraphQLClient

    client = DagsterGraphQLClient("127.0.0.1", port_number=ui.port, timeout=60)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", "Using variable_values and operation_name", DeprecationWarning)
        run_id = client.submit_job_execution(
            job,
            repository_location_name=LOCATION,
            repository_name=REPOSITORY,
            run_config=IN_PROCESS,
            tags=tags or {},
        )
    finished = {"SUCCESS", "FAILURE", "CANCELED"}

    def run_finished() -> str | None:
        status = ui.graphql(RUN_QUERY, {"runId": run_id})["runOrError"]["status"]
        return status if status in finished else None

    try:
        status = wait_until(run_finished, timeout=RUN_TIMEOUT, interval=1.0, what=f"{job} run {run_id} to finish")
    except TimeoutError as exc:
        raise AssertionError(f"{exc}\n--- dagster dev log ---\n{ui.process.log_tail()}") from exc
    assert status == "SUCCESS", f"{job} run {run_id} ended {status}:\n{ui.process.log_tail()}"
    return run_id


@dataclass(frozen=True)
class History:
    market_run_id: str
    range_run_id: str
    days: list[str]  # the trading days of the range run


@pytest.fixture(scope="module")
def history(dagster_ui) -> History:
    """The market tables, then ``daily_job`` over the first RANGE_DAYS trading days in one run."""
    market_run_id = _run_job(dagster_ui, "market_tables_job")
    days = dagster_ui.definitions.trading_days[:RANGE_DAYS]
    range_tags = {"dagster/asset_partition_range_start": days[0], "dagster/asset_partition_range_end": days[-1]}
    range_run_id = _run_job(dagster_ui, "daily_job", range_tags)
    return History(market_run_id, range_run_id, days)


@pytest.fixture(scope="module")
def browser(chromium_executable, ui_env, marker):
    from playwright.sync_api import sync_playwright

    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(MARKER, marker)  # Playwright's driver inherits it, so the leak check sees it
        playwright = sync_playwright().start()
    try:
        chromium = playwright.chromium.launch(executable_path=chromium_executable, headless=True, env=ui_env)
        try:
            yield chromium
        finally:
            chromium.close()
    finally:
        playwright.stop()
    leftovers = wait_until_gone(marker, timeout=15, ignore=lambda pid: not _is_browser(pid))
    assert not leftovers, f"browser processes left after closing Playwright:\n{describe_pids(leftovers)}"


@pytest.fixture
def page(browser):
    from playwright.sync_api import expect

    expect.set_options(timeout=PAGE_TIMEOUT * 1000)
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    try:
        yield context.new_page()
    finally:
        context.close()


# --- the asset graph -------------------------------------------------------------------------------


def _group_lineage_path(group: str) -> str:
    """The global lineage filtered to one group: what typing group:"<name>" in its search box shows
    (neighbours outside the selection hidden, the lineage's default)."""
    from urllib.parse import quote

    return "/asset-groups~" + quote(f'group:"{group}"', safe="") + "/"


def _settled_box(locator, timeout: float = PAGE_TIMEOUT) -> dict:
    """The locator's bounding box once two reads 0.5 s apart agree (the graph lays out, then zooms)."""
    deadline = time.monotonic() + timeout
    previous = None
    while True:
        box = locator.bounding_box()
        if box is not None and box == previous and box["height"] > 0:
            return box
        if time.monotonic() > deadline:
            raise AssertionError(f"{locator} did not settle within {timeout} s (last box {box})")
        previous = box
        time.sleep(0.5)


def _fit_to_window(frame) -> None:
    """Double-click the graph's background (its bottom-left corner; the search bar lies over its top)."""
    box = _settled_box(frame)
    frame.dblclick(position={"x": 10, "y": box["height"] - 10})


def _open_whole_graph(page, url: str, hide_asset_list: bool = False):
    """Open a lineage graph with the window as tall as the graph needs (up to MAX_VIEWPORT_HEIGHT).

    The graph is zoomed to fit its width and draws only the nodes on screen, so a tall graph in a
    900 px window shows its middle third. As a person would: read the height it needs, make the
    window that tall, and double-click the background (the graph fits itself to the window again).
    ``hide_asset_list``: hide the list of assets beside the graph first (the graph gets its width)."""
    from playwright.sync_api import expect

    page.set_viewport_size(VIEWPORT)
    page.goto(url)
    graph = page.locator(GRAPH)
    expect(graph).to_be_visible()
    frame = graph.locator("xpath=../..")  # the graph's viewport: pans, zooms, fits on double-click
    if hide_asset_list:
        page.get_by_role("button").filter(has=page.get_by_role("img", name="panel_show_right", exact=True)).last.click()
        _fit_to_window(frame)
    box = _settled_box(graph)
    top = _settled_box(frame)["y"]
    height = max(VIEWPORT["height"], min(int(top + box["height"] + 40), MAX_VIEWPORT_HEIGHT))
    page.set_viewport_size({"width": VIEWPORT["width"], "height": height})
    _fit_to_window(frame)
    _settled_box(graph)
    expect(graph.get_by_text("Loading...", exact=True)).to_have_count(0)  # every node's status shown
    return graph


def _node_labels(graph) -> list[str]:
    """The names the graph's asset nodes show on screen (the graph draws only the nodes on screen)."""
    texts = graph.locator(f"{ASSET_NODE} > *").filter(visible=True).all_inner_texts()
    return [text.strip().split("\n")[0] for text in texts if text.strip()]


def _shows(label: str, asset: str) -> bool:
    """``label`` names ``asset``: in full, or shortened in the middle as a zoomed-out graph shows
    long names ("hyperparam…_search")."""
    if label == asset:
        return True
    head, ellipsis, tail = label.partition("…")
    return bool(ellipsis) and asset.startswith(head) and asset.endswith(tail) and len(head) + len(tail) < len(asset)


def _assets_not_shown(graph, assets: list[str]) -> list[str]:
    labels = _node_labels(graph)
    return [asset for asset in assets if not any(_shows(label, asset) for label in labels)]


def test_global_lineage_shows_every_asset_once_groups_are_expanded(dagster_ui, page):
    from playwright.sync_api import expect

    groups = dagster_ui.groups
    assert len(groups) > 1, groups
    page.goto(dagster_ui.url("/asset-groups"))
    expect(page).to_have_title(re.compile("Global asset lineage"))
    for group in groups:
        expect(page.get_by_text(group, exact=True).first).to_be_visible()  # sidebar and collapsed boxes
    settings = page.get_by_role("button").filter(has=page.get_by_role("img", name="settings", exact=True))
    settings.filter(has_not_text="Settings").last.click()
    page.get_by_role("menuitem", name="Expand all groups").click()
    expect(page).to_have_url(re.compile(r"expanded="))  # the state a person can bookmark
    graph = _open_whole_graph(page, page.url)
    missing = {g: m for g, assets in groups.items() if (m := _assets_not_shown(graph, assets))}
    assert not missing, f"assets not shown in the expanded global lineage: {missing}"


def test_each_group_lineage_shows_its_assets(dagster_ui, page):
    missing = {}
    for group, assets in sorted(dagster_ui.groups.items()):
        graph = _open_whole_graph(page, dagster_ui.url(_group_lineage_path(group)))
        if shown := _assets_not_shown(graph, assets):
            missing[group] = shown
    assert not missing, f"assets missing from their group's lineage: {missing}"


def test_the_code_location_lists_every_group_with_its_asset_count(dagster_ui, page):
    from playwright.sync_api import expect

    page.goto(dagster_ui.url(f"/locations/{LOCATION}/assets"))
    # each group's row: its name in bold, then its asset count (the page's accessibility tree, in order)
    rows = "\n".join(
        f"- strong: {group}\n- text: {len(keys)} asset{'s' if len(keys) != 1 else ''}"
        for group, keys in sorted(dagster_ui.groups.items())
    )
    expect(page.locator("body")).to_match_aria_snapshot(rows)


# --- runs -------------------------------------------------------------------------------------------


def test_the_market_tables_run_lands_in_duckdb_and_shows_success(dagster_ui, history, page):
    from playwright.sync_api import expect

    with duckdb.connect(dagster_ui.env["AXION_WAREHOUSE"], read_only=True) as con:
        rows, tickers, sectors = con.execute(
            "SELECT count(*), count(DISTINCT ticker), count(DISTINCT sector) FROM market.sectors"
        ).fetchone()
    assert rows == tickers == SIM_TICKERS, (rows, tickers)
    assert sectors > 1
    page.goto(dagster_ui.url(f"/runs/{history.market_run_id}"))
    expect(page.get_by_text(history.market_run_id[:8]).first).to_be_visible()
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    expect(page.get_by_text('Finished execution of run for "market_tables_job".')).to_be_visible()


def test_the_range_run_page_opens_with_its_logs_within_budget(dagster_ui, history, page):
    from playwright.sync_api import expect

    started = time.monotonic()
    page.goto(dagster_ui.url(f"/runs/{history.range_run_id}"))
    expect(page.get_by_text("Success", exact=True).first).to_be_visible()
    # the log table ends with the run's last events: every event was loaded
    expect(page.get_by_text("RUN_SUCCESS", exact=True)).to_be_visible()
    expect(page.get_by_text('Finished execution of run for "daily_job".')).to_be_visible()
    elapsed = time.monotonic() - started
    days = history.days
    print(f"\nrun page of daily_job over {len(days)} days ({days[0]} .. {days[-1]}) with its logs: {elapsed:.1f} s")
    assert elapsed < RUN_PAGE_BUDGET, f"the run page took {elapsed:.1f} s (budget {RUN_PAGE_BUDGET:.0f} s)"


# --- a range run, day by day ----------------------------------------------------------------------


def test_a_day_of_the_range_run_shows_its_own_row_count(dagster_ui, history, page):
    from playwright.sync_api import expect

    day = history.days[-3]
    for asset, table in [("factor_scores", "factors.factor_scores"), ("prices", "market.prices")]:
        with duckdb.connect(dagster_ui.env["AXION_WAREHOUSE"], read_only=True) as con:
            (own,) = con.execute(f"SELECT count(*) FROM {table} WHERE date = ?", [day]).fetchone()
            (whole_range,) = con.execute(f"SELECT count(*) FROM {table}").fetchone()
        assert 0 < own < whole_range, (asset, own, whole_range)
        page.goto(dagster_ui.url(f"/assets/{asset}?view=partitions&partition={day}"))
        expect(page.get_by_text(day, exact=True).filter(visible=True).first).to_be_visible()
        row = page.get_by_role("row").filter(
            has=page.get_by_role("cell", name="dagster/partition_row_count", exact=True)
        )
        # the day's own rows, not the range's (a range run once gave every day the whole range's count)
        expect(row.get_by_role("cell").nth(1)).to_have_text(str(own))


def test_a_daily_check_shows_every_day_of_the_passing_range_run_passed(dagster_ui, history, page):
    from playwright.sync_api import expect

    missing = len(dagster_ui.definitions.trading_days) - len(history.days)
    for asset, check in [("prices", "prices_unique_keys"), ("factor_scores", "scores_within_unit_interval")]:
        page.goto(dagster_ui.url(f"/assets/{asset}?view=checks&checkDetail={check}"))
        expect(page.get_by_text(check, exact=True).last).to_be_visible()
        page.get_by_role("tab", name="Partitions").last.click()  # the check's tab, not the asset's
        # every day of the range passed; before per-partition results (and their target
        # materializations) the range showed as Skipped, then as Missing
        expect(page.get_by_text(f"Passed ({len(history.days)})", exact=True)).to_be_visible()
        for status, count in [("Skipped", 0), ("Failed", 0), ("Execution Failed", 0), ("Missing", missing)]:
            expect(page.get_by_text(f"{status} ({count})", exact=True)).to_be_visible()


def test_the_factor_scores_overview_shows_its_columns(dagster_ui, history, page):
    from playwright.sync_api import expect

    page.goto(dagster_ui.url("/assets/factor_scores"))
    expect(page.get_by_role("button", name="Description")).to_be_visible()
    expect(page.get_by_role("button", name="Metadata")).to_be_visible()
    expect(page.get_by_role("button", name="Columns")).to_be_visible(timeout=10_000)


# --- screenshots for the README -------------------------------------------------------------------


def _build_everything(ui: DagsterUI, log_path: Path) -> None:
    """Every stage of `make run` on the test's market, into the instance dagster dev shows."""
    with open(log_path, "w") as log:
        done = subprocess.run(
            [sys.executable, "-m", "axion_pipeline.run_all"],
            env=ui.env,
            cwd=REPO_ROOT,
            stdout=log,
            stderr=subprocess.STDOUT,
            timeout=BUILD_TIMEOUT,
            check=False,
        )
    assert done.returncode == 0, f"run_all failed:\n{log_path.read_text()[-4000:]}"


def _save(page, name: str) -> Path:
    path = DOCS / name
    page.wait_for_timeout(1000)  # let the last status spinners settle
    page.screenshot(path=path)
    size = path.stat().st_size
    assert size < SCREENSHOT_MAX_BYTES, f"{path} is {size} bytes"
    return path


@pytest.mark.skipif(not _updating_screenshots(), reason="writes docs/*.png only with AXION_UPDATE_SCREENSHOT=1")
def test_screenshots_for_the_docs(dagster_ui, history, browser, tmp_path):
    from playwright.sync_api import expect

    _build_everything(dagster_ui, tmp_path / "run_all.log")
    context = browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(PAGE_TIMEOUT * 1000)
    page = context.new_page()
    try:
        page.goto(dagster_ui.url(_group_lineage_path("market")))
        page.get_by_role("button", name="Hide navigation").click()  # remembered for the pages that follow
        for group, assets in sorted(dagster_ui.groups.items()):
            graph = _open_whole_graph(page, dagster_ui.url(_group_lineage_path(group)), hide_asset_list=True)
            assert not _assets_not_shown(graph, assets), group
            _save(page, f"lineage_{group}.png")

        page.set_viewport_size(VIEWPORT)
        day = dagster_ui.definitions.trading_days[-1]
        page.goto(dagster_ui.url(f"/assets/factor_scores?view=partitions&partition={day}"))
        expect(page.get_by_role("cell", name="dagster/partition_row_count", exact=True)).to_be_visible()
        _save(page, "asset_factor_scores_partition.png")

        fold = dagster_ui.definitions.folds[-1]
        page.goto(dagster_ui.url(f"/assets/ranking_model?view=partitions&partition={fold}"))
        expect(page.get_by_role("cell", name="train_window", exact=True)).to_be_visible()
        _save(page, "asset_ranking_model_fold.png")

        page.goto(dagster_ui.url("/assets/hybrid_scores"))
        expect(page.get_by_role("button", name="Metadata")).to_be_visible()
        _save(page, "asset_hybrid_scores.png")
    finally:
        context.close()
