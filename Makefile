# Axion Pipeline. `make run` and `make test` work on a fresh machine with only Python 3.11.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
export UV_PROJECT_ENVIRONMENT := $(CURDIR)/$(VENV)
export DAGSTER_HOME ?= $(CURDIR)/.dagster_home
export PYTHONUNBUFFERED := 1
# OpenMP threads (LightGBM, XGBoost, scikit-learn) sleep instead of spinning while they wait: on a
# busy 2-core machine (pytest -n 2, parallel fold runs) spinning threads made each boosting round
# 10x slower (2.07 s vs 0.20 s a round, measured under load; the idle-machine effect was not measured).
export OMP_WAIT_POLICY ?= passive
# Single-run backfills write one event per partition: batch them (see axion_pipeline/defs/storage.py)
# and plan a partition range with one event instead of one per partition (Dagster's trade-off: a
# failed range run then does not mark each of its partitions as failed in the UI).
export DAGSTER_EVENT_BATCH_SIZE ?= 10000
export DAGSTER_EMIT_PARTITION_SUBSET_IN_PLANNED_EVENTS ?= true

.PHONY: setup run test lint ui bench clean browser servers screenshot

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --python $(PYTHON) --quiet
	touch $@

$(DAGSTER_HOME)/dagster.yaml: dagster.yaml
	mkdir -p $(DAGSTER_HOME)
	cp dagster.yaml $@

setup: $(VENV)/.synced $(DAGSTER_HOME)/dagster.yaml

## Materialize every asset on the configured source (generated market unless AXION_DATA_DIR is set).
run: setup
	$(VENV)/bin/python -m axion_pipeline.run_all

## Headless Chromium for the browser test (Debian's chromium, driven by Playwright; needs root the first time).
browser:
	scripts/install_browser.sh

## Postgres and Redis servers for the multi-machine test (Debian's postgresql and redis-server, started
## by the test itself on free loopback ports; needs root the first time).
servers:
	scripts/install_servers.sh

## Lint and format check (ruff, config in pyproject.toml), then the whole test suite (CI runs this
## through .ci/run). The multi-machine test (marker `cluster`: Postgres, Redis and two Celery worker
## processes) runs on its own afterwards, without xdist, so its workers have both cores. Under --dist loadgroup the scheduler in
## axion_pipeline_tests/conftest.py keeps every test of a module with a module-scoped fixture (a built
## warehouse, one `dagster dev`) on one worker, so that set-up is built once; the rest are spread as usual.
## Each phase ends with its slowest tests (--durations), so a CI log says where its minutes went.
lint: setup
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

test: setup browser servers lint
	$(VENV)/bin/python -m pytest -n 2 --dist loadgroup -m "not cluster" --durations=25 $(PYTEST_ARGS)
	$(VENV)/bin/python -m pytest -p no:xdist -m cluster --durations=5 $(PYTEST_ARGS)

## Refresh the README's screenshots (docs/lineage_<group>.png, docs/asset_*.png) from the running UI:
## the browser test, then a full build of its small market and the pictures of it.
screenshot: setup browser
	AXION_UPDATE_SCREENSHOT=1 $(VENV)/bin/python -m pytest -p no:xdist axion_pipeline_tests/test_ui_browser.py

## Dagster UI (webserver + daemon for schedules and sensors) on 127.0.0.1:3000.
# Dagster 1.13 marks `dagster dev` superseded by `dg dev` (another package, dagster-dg-cli, which
# expects its own project layout) and says so on each start; the command is supported, so only that
# notice is filtered, by its text.
# Started from inside DAGSTER_HOME: `dagster dev` in a folder holding a dagster.yaml other than the
# instance's warns on every start, and the repository's dagster.yaml is the template DAGSTER_HOME
# copies. Paths the settings read from the environment are made absolute first.
UI_PATHS = $(foreach v,AXION_DATA_DIR AXION_WAREHOUSE AXION_MODEL_DIR,$(if $($(v)),$(v)=$(abspath $($(v)))))
ui: setup
	cd $(abspath $(DAGSTER_HOME)) && DAGSTER_HOME=$(abspath $(DAGSTER_HOME)) $(UI_PATHS) \
		PYTHONWARNINGS="$${PYTHONWARNINGS:+$$PYTHONWARNINGS,}"'ignore:Function `dev_command` is superseded:FutureWarning' \
		$(CURDIR)/$(VENV)/bin/dagster dev -h 127.0.0.1 -p 3000 -w $(CURDIR)/workspace.yaml

## Benchmarks (not part of the tests): every benchmarks/bench_*.py, each appending its table to
## BENCHMARKS.md. A subset: `make bench BENCHES=benchmarks/bench_training.py`. bench_qlib.py installs
## Qlib into its own venv, .bench/qlib-venv (pinned in benchmarks/qlib-requirements.txt), on first use.
BENCHES ?= $(sort $(wildcard benchmarks/bench_*.py))
bench: setup
	for b in $(BENCHES); do echo "== $$b"; $(VENV)/bin/python $$b || exit 1; done

clean:
	rm -rf $(VENV) $(TOOLS) .pytest_cache .bench
