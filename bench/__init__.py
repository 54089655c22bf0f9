"""The benchmark harness: `make bench`, `make bench-quick` (see BENCHMARKS.md)."""
