"""Corporate-lending CLV warehouse: ingestion, quality gates and value models behind the Airflow DAGs."""

__version__ = "0.1.0"
