"""Input/output boundaries. ``warehouse`` is the only module that opens DuckDB."""
