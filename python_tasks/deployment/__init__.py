"""The production topology (Airflow on PostgreSQL and Celery with Redis): one definition of its services,
used by docker-compose.yml's tests and by the native test that runs the same processes on this machine."""
