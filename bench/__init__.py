"""Benchmarks: ``make bench`` (bench/run.py) and the deterministic load generators it uses."""
