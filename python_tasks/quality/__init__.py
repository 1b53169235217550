"""Data-quality gates: GX suites built from the contracts plus the business rules in ``expectations/``."""
