# The image of every Airflow component of the production topology (docker-compose.yml): the project and its
# locked environment (uv.lock), nothing installed when a container starts.
#
#   docker build -t clv-warehouse:latest .
FROM python:3.11-slim-bookworm

ARG UV_VERSION=0.13.8
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    UV_LINK_MODE=copy \
    UV_COMPILE_BYTECODE=1 \
    UV_PYTHON_DOWNLOADS=never \
    UV_PROJECT_ENVIRONMENT=/opt/clv/.venv

RUN pip install --no-cache-dir "uv==${UV_VERSION}" \
 && groupadd --gid 50000 airflow \
 && useradd --uid 50000 --gid airflow --create-home --home-dir /home/airflow airflow

WORKDIR /opt/clv
# the dependencies first (a layer that changes only with the lock file), then the project itself
COPY pyproject.toml uv.lock README.md ./
RUN uv sync --frozen --no-dev --no-install-project
COPY python_tasks ./python_tasks
COPY dags ./dags
COPY dbt_project ./dbt_project
COPY contracts ./contracts
COPY expectations ./expectations
COPY config ./config
COPY scripts ./scripts
RUN uv sync --frozen --no-dev \
 && rm -rf dbt_project/target dbt_project/logs \
 && mkdir -p /opt/airflow /var/lib/clv \
 && chown -R airflow:airflow /opt/airflow /var/lib/clv

# the project's code and airflow_local_settings.py (config/airflow) on the path of every Airflow process
ENV PATH=/opt/clv/.venv/bin:$PATH \
    PYTHONPATH=/opt/clv:/opt/clv/config/airflow \
    AIRFLOW_HOME=/opt/airflow \
    AIRFLOW__CORE__DAGS_FOLDER=/opt/clv/dags \
    CLV_HOME=/var/lib/clv

USER airflow
EXPOSE 8080 8793
CMD ["airflow", "version"]
