"""The run report: one static, self-contained HTML page per run with the portfolio's value, strategy, migration,
early warnings, CLV change attribution and data quality (docs/report.md).

``queries`` reads the warehouse (read-only), ``figures`` draws the charts as inline SVG, ``page`` assembles
the HTML, ``job.build_report`` is the one entry point (the DAG task and the CLI call it).
"""

from python_tasks.report.job import build_report

__all__ = ["build_report"]
