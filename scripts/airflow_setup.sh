#!/usr/bin/env bash
# Prepare the embedded Airflow: migrate the metadata DB and create the warehouse pool. Idempotent; when
# both are already in place it returns in about a second without starting Airflow.
#
#   bash scripts/airflow_setup.sh          # sources scripts/airflow_env.sh itself
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/airflow_env.sh
source "$here/airflow_env.sh"

POOL_NAME="duckdb_warehouse"   # python_tasks.settings.WAREHOUSE_POOL
POOL_SLOTS=1
POOL_DESCRIPTION="DuckDB allows one writing process: every task that opens the warehouse runs in this pool"

mkdir -p "$AIRFLOW_HOME"
# The fast path compares a stamp of the installed Airflow version, the metadata DB location and the pool
# with what the last successful setup wrote; any difference (or a missing DB file) reruns the setup.
airflow_version="$(python -c 'from importlib.metadata import version; print(version("apache-airflow-core"))')"
stamp_file="$AIRFLOW_HOME/.clv_setup_done"
stamp="airflow=$airflow_version db=$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN pool=$POOL_NAME:$POOL_SLOTS"
db_file=""
case "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in
  sqlite:///*) db_file="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#sqlite:///}" ;;
esac
if [ -f "$stamp_file" ] && [ "$(cat "$stamp_file")" = "$stamp" ] && { [ -z "$db_file" ] || [ -s "$db_file" ]; }; then
  echo "airflow setup: up to date ($AIRFLOW_HOME)"
  exit 0
fi

echo "airflow setup: migrating the metadata database ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
airflow db migrate
echo "airflow setup: pool $POOL_NAME with $POOL_SLOTS slot"
airflow pools set "$POOL_NAME" "$POOL_SLOTS" "$POOL_DESCRIPTION" >/dev/null
printf '%s\n' "$stamp" > "$stamp_file"
echo "airflow setup: done ($AIRFLOW_HOME)"
