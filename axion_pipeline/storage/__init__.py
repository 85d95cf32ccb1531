"""The DuckDB warehouse from outside the I/O manager: turn-taking, reads, the build summary."""
