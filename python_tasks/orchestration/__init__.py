"""What the Airflow DAG files need at parse time: source lists, the business date, the shared assets.

Every module here except ``assets`` uses only the standard library and pyyaml, so the DAG processor can
import it cheaply; ``assets`` imports ``airflow.sdk`` and is therefore imported by DAG files only.
"""
