"""Benchmarks: `python -m benchmarks` runs every bench_*.py, or one: python -m benchmarks.NAME."""
