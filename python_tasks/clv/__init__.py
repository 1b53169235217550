"""Risk-adjusted customer lifetime value: pure functions on arrays and frames (docs/clv.md)."""
