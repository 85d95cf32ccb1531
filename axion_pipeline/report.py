"""The summary printed at the end of `make run`: what is in the warehouse and where to look next."""

from __future__ import annotations

from pathlib import Path

from axion_pipeline.warehouse import table_summary


def print_summary(warehouse: str | Path) -> None:
    summary = table_summary(warehouse)
    print(f"Warehouse {warehouse}: {len(summary)} tables, {summary['rows'].sum():,} rows")
    print(summary.to_string(index=False))
    print("\nNext: `make ui` (Dagster UI on http://127.0.0.1:3000) or query the tables with DuckDB, e.g.\n"
          f"  duckdb {warehouse} \"select * from market.prices limit 5\"")
