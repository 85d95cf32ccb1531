"""The Qlib side-by-side benchmark's own parts, without Qlib: the binary-layout writer read back as
Qlib reads it (``benchmarks/qlib_side/bin_layout.py``), the converter's refusal of bad rows, the
pinned requirements of its separate venv, and that the project never imports Qlib."""

from __future__ import annotations

import ast
import importlib.util
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[1]
LAYOUT_FILE = REPO / "benchmarks" / "qlib_side" / "bin_layout.py"
HEADER = "date,open,high,low,close,volume,Name\n"


@pytest.fixture(scope="module")
def layout():
    spec = importlib.util.spec_from_file_location("bench_qlib_bin_layout", LAYOUT_FILE)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    try:
        spec.loader.exec_module(module)
        yield module
    finally:
        sys.modules.pop(spec.name, None)


def read_bin(path: Path) -> tuple[int, np.ndarray]:
    """Qlib's feature file: little-endian float32, the first value the start index in the calendar."""
    data = np.fromfile(path, dtype="<f4")
    return int(data[0]), data[1:]


def test_the_writer_round_trips_with_gaps_and_late_starts(layout, tmp_path):
    d = pd.to_datetime(["2020-01-02", "2020-01-03", "2020-01-06", "2020-01-07", "2020-01-08"])
    frame = pd.DataFrame(
        {
            "symbol": ["AAA"] * 5 + ["BBB", "BBB", "BBB"] + ["CON"],
            "date": [*d, d[1], d[2], d[4], d[3]],  # BBB starts late and misses d[3]; CON has one day
            "close": [1.5, 2.0, 2.5, 3.0, 3.5, 10.0, np.nan, 12.25, 7.0],
            "volume": [100.0, 0.0, 300.0, 400.0, 500.0, 1e9, 2e9, 3e9, 5.0],
        }
    ).sample(frac=1.0, random_state=0)  # the writer sorts
    result = layout.write_layout(frame, tmp_path, fields=("close", "volume"))
    assert (result.symbols, result.dates, result.rows, result.files) == (3, 5, 9, 6)

    assert (tmp_path / "calendars" / "day.txt").read_text().split() == [f"{x:%Y-%m-%d}" for x in d]
    instruments = [line.split("\t") for line in (tmp_path / "instruments" / "all.txt").read_text().splitlines()]
    assert instruments == [
        ["AAA", "2020-01-02", "2020-01-08"],
        ["BBB", "2020-01-03", "2020-01-08"],
        ["CON", "2020-01-07", "2020-01-07"],
    ]

    start, values = read_bin(tmp_path / "features" / "aaa" / "close.day.bin")
    assert start == 0 and values.tolist() == [1.5, 2.0, 2.5, 3.0, 3.5]
    start, values = read_bin(tmp_path / "features" / "bbb" / "close.day.bin")
    assert start == 1 and len(values) == 4  # d[1]..d[4]: the missing d[3] is a NaN, not a skipped slot
    assert values[0] == 10.0 and np.isnan(values[1]) and np.isnan(values[2]) and values[3] == 12.25
    _, volume = read_bin(tmp_path / "features" / "bbb" / "volume.day.bin")
    assert volume[0] == np.float32(1e9) and np.isnan(volume[2]) and volume[3] == np.float32(3e9)
    # a Windows device name gets Qlib's prefix on its folder (qlib.utils.code_to_fname), not in all.txt
    start, values = read_bin(tmp_path / "features" / "_qlib_con" / "close.day.bin")
    assert start == 3 and values.tolist() == [7.0]

    back = layout.read_field(tmp_path, "BBB", "close")
    assert list(back.index) == list(d[1:]) and back.iloc[3] == 12.25


def test_convert_adds_vwap_and_factor_and_notes_what_it_kept(layout, tmp_path):
    csv = tmp_path / "prices.csv"
    csv.write_text(
        HEADER
        + "2020-01-02,10,12,8,11,100,AAA\n"
        + "2020-01-03,,,,11.5,0,AAA\n"  # empty prices stay NaN, zero volume kept
        + "2020-01-03,5,4,6,5,10,BBB\n"  # high < low kept
    )
    result = layout.convert(csv, tmp_path / "qlib")
    assert (result.symbols, result.dates, result.rows) == (2, 2, 3)
    assert result.notes == [
        "open: 1 empty cell(s) kept as NaN",
        "high: 1 empty cell(s) kept as NaN",
        "low: 1 empty cell(s) kept as NaN",
        "1 row(s) with high < low kept",
        "1 row(s) with zero volume kept",
    ]
    vwap = layout.read_field(tmp_path / "qlib", "AAA", "vwap")
    assert vwap.iloc[0] == pytest.approx((12 + 8 + 11) / 3) and np.isnan(vwap.iloc[1])
    assert layout.read_field(tmp_path / "qlib", "AAA", "factor").tolist() == [1.0, 1.0]
    assert sorted(p.name for p in (tmp_path / "qlib" / "features" / "bbb").iterdir()) == sorted(
        f"{f}.day.bin" for f in layout.FIELDS
    )


@pytest.mark.parametrize(
    "rows, where",
    [
        ("2020-01-02,10,12,8,11,100,AAA\n2020-01-03,10,12,8,eleven,100,AAA\n", "row 3, column 'close': not a number"),
        ("2020-01-02,10,12,8,11,100,AAA\n2020-13-03,10,12,8,11,100,AAA\n", "row 3, column 'date': not a date"),
        ("2020-01-02,10,12,8,11,100,AAA\n2020-01-02,10,12,8,11,100,AAA\n", "row 3, column 'date': second row"),
        ("2020-01-02,10,12,8,11,-100,AAA\n", "row 2, column 'volume': negative"),
        ("2020-01-02,10,12,8,inf,100,AAA\n", "row 2, column 'close': infinite"),
        ("2020-01-02,10,12,8,11,100,AAA\n2020-01-03,10,12,8,11,100,\n", "row 3, column 'Name': empty symbol"),
    ],
    ids=["text", "date", "duplicate", "negative", "infinite", "symbol"],
)
def test_bad_rows_stop_the_conversion_naming_file_row_and_column(layout, tmp_path, rows, where):
    csv = tmp_path / "prices.csv"
    csv.write_text(HEADER + rows)
    with pytest.raises(layout.LayoutError) as err:
        layout.convert(csv, tmp_path / "qlib")
    assert str(csv) in str(err.value) and where in str(err.value)
    assert not (tmp_path / "qlib").exists()  # nothing written before the whole file passed


def test_a_missing_column_is_named(layout, tmp_path):
    csv = tmp_path / "prices.csv"
    csv.write_text("date,open,high,low,close,Name\n2020-01-02,10,12,8,11,AAA\n")
    with pytest.raises(layout.LayoutError, match=r"prices\.csv: missing column\(s\) 'volume'"):
        layout.convert(csv, tmp_path / "qlib")


def test_the_qlib_venv_is_fully_pinned():
    lines = [
        line.strip()
        for line in (REPO / "benchmarks" / "qlib-requirements.txt").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert "pyqlib==0.9.7" in lines
    assert all("==" in line for line in lines), [line for line in lines if "==" not in line]


def _imports_qlib(tree: ast.AST) -> list[int]:
    """Lines of ``import qlib...``, ``from qlib... import``, and ``import_module``/``__import__`` of
    a constant naming qlib."""
    hits = []
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            names = [node.module]
        elif isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant):
            func = node.func
            called = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
            if called in ("import_module", "__import__") and isinstance(node.args[0].value, str):
                names = [node.args[0].value]
        if any(n == "qlib" or n.startswith("qlib.") for n in names):
            hits.append(node.lineno)
    return hits


def test_the_project_never_imports_qlib():
    assert _imports_qlib(ast.parse("import qlib\nfrom qlib.data import D\nimportlib.import_module('qlib')")) == [
        1,
        2,
        3,
    ]
    assert _imports_qlib(ast.parse("import qlibrary\nfrom .qlib import x\n# import qlib")) == []
    offenders = {}
    for path in sorted((REPO / "axion_pipeline").rglob("*.py")):
        lines = _imports_qlib(ast.parse(path.read_text(), filename=str(path)))
        if lines:
            offenders[str(path.relative_to(REPO))] = lines
    assert not offenders, f"Qlib is a benchmark-only dependency; imported by {offenders}"
