"""The build runner's split of a daily backfill into runs bounded in stock-days (memory)."""

from axion_pipeline.run_all import backfill_chunks

KEYS = [f"d{i:04d}" for i in range(2087)]


def test_chunks_cover_every_day_once_in_order_and_bound_the_stock_days():
    chunks = backfill_chunks(KEYS, n_tickers=2000, max_stock_days=1_000_000)
    assert [k for chunk in chunks for k in chunk] == KEYS
    assert all(len(chunk) * 2000 <= 1_000_000 for chunk in chunks) and len(chunks) == 5


def test_small_universes_stay_one_run_and_tiny_limits_keep_a_month():
    assert backfill_chunks(KEYS, n_tickers=300, max_stock_days=1_000_000) == [KEYS]
    assert {len(c) for c in backfill_chunks(KEYS[:100], n_tickers=10**6, max_stock_days=10)} <= {21, 16}
