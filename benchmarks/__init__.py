"""Benchmarks: measured on demand (`make bench`), never asserted in timed tests."""
