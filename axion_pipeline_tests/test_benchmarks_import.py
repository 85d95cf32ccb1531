"""Every benchmark script imports: they run only under `make bench`, never in the tests, so a helper
that moved (``markdown_table`` left ``benchmarks/_common.py`` for ``analytics.markdown``) broke four
of them unnoticed. Importing a script runs no benchmark (each has a ``__main__`` guard)."""

import importlib.util
import sys
from pathlib import Path

import pytest

BENCHMARKS = Path(__file__).resolve().parents[1] / "benchmarks"
SCRIPTS = sorted(p for p in BENCHMARKS.glob("*.py") if not p.name.startswith("_"))


def test_there_are_benchmark_scripts():
    assert {p.stem for p in SCRIPTS} >= {"bench_build", "bench_daily_partition", "bench_model_quality"}


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.stem)
def test_a_benchmark_script_imports(script, monkeypatch):
    monkeypatch.syspath_prepend(str(BENCHMARKS))  # the scripts import their helpers as `_common`
    spec = importlib.util.spec_from_file_location(f"benchmark_{script.stem}", script)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, spec.name, module)
    spec.loader.exec_module(module)
    assert callable(getattr(module, "main", None)), f"{script.name} has no main()"
