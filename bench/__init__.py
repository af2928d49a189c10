"""Benchmarks: commands, not timed tests (`make bench`, `make bench-smoke`)."""
