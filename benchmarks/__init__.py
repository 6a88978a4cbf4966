"""Benchmarks: `python -m benchmarks` runs every bench_*.py; each also runs alone (python -m benchmarks.NAME)."""
