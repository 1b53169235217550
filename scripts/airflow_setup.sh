#!/usr/bin/env bash
# Prepare the embedded Airflow: migrate the metadata DB, create the warehouse pool, and write the DAGs
# into the DB (so `airflow dags list` and `airflow dags trigger` work before a DAG processor has run).
# Idempotent, with a fast path: when nothing changed since the last setup it returns at once.
#
#   bash scripts/airflow_setup.sh          # sources scripts/airflow_env.sh itself
#   CLV_AIRFLOW_SETUP_FORCE=1 bash scripts/airflow_setup.sh    # redo every step
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=scripts/airflow_env.sh
source "$here/airflow_env.sh"

POOL_NAME="duckdb_warehouse"   # python_tasks.settings.WAREHOUSE_POOL
POOL_SLOTS=1
POOL_DESCRIPTION="DuckDB allows one writing process: every task that opens the warehouse runs in this pool"

mkdir -p "$AIRFLOW_HOME/logs"
setup_log="$AIRFLOW_HOME/logs/setup.log"
# Run an Airflow command with its output in the setup log; show the log if the command fails.
quietly() {
  if ! "$@" >>"$setup_log" 2>&1; then
    echo "airflow setup: '$*' failed; its output (from $setup_log):" >&2
    tail -n 60 "$setup_log" >&2
    exit 1
  fi
}
db_stamp="$AIRFLOW_HOME/.clv_setup_db"
dags_stamp="$AIRFLOW_HOME/.clv_setup_dags"
[ "${CLV_AIRFLOW_SETUP_FORCE:-0}" = "1" ] && rm -f "$db_stamp" "$dags_stamp"

# 1. Metadata DB and pool: redone when the Airflow version, the DB location or the pool changed, or the
#    SQLite file is missing.
airflow_version="$(python -c 'from importlib.metadata import version; print(version("apache-airflow-core"))')"
wanted="airflow=$airflow_version db=$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN pool=$POOL_NAME:$POOL_SLOTS"
db_file=""
case "$AIRFLOW__DATABASE__SQL_ALCHEMY_CONN" in
  sqlite:///*) db_file="${AIRFLOW__DATABASE__SQL_ALCHEMY_CONN#sqlite:///}" ;;
esac
if [ -f "$db_stamp" ] && [ "$(cat "$db_stamp")" = "$wanted" ] && { [ -z "$db_file" ] || [ -s "$db_file" ]; }; then
  echo "airflow setup: metadata DB and pool up to date"
else
  rm -f "$dags_stamp"
  echo "airflow setup: migrating the metadata DB ($AIRFLOW__DATABASE__SQL_ALCHEMY_CONN)"
  : >"$setup_log"
  quietly airflow db migrate
  echo "airflow setup: pool $POOL_NAME with $POOL_SLOTS slot"
  quietly airflow pools set "$POOL_NAME" "$POOL_SLOTS" "$POOL_DESCRIPTION"
  printf '%s\n' "$wanted" > "$db_stamp"
fi

# 2. DAGs in the DB: re-parsed when a DAG file, the orchestration helpers or a raw contract changed.
if [ -f "$dags_stamp" ] && [ -z "$(find "$AIRFLOW__CORE__DAGS_FOLDER" "$CLV_PROJECT_ROOT/python_tasks/orchestration" \
      "$CLV_PROJECT_ROOT/contracts/raw" -newer "$dags_stamp" -print -quit 2>/dev/null)" ]; then
  echo "airflow setup: DAGs up to date"
else
  echo "airflow setup: parsing the DAGs into the metadata DB"
  quietly airflow dags reserialize
  # Import errors of DAG files that still exist (the DB keeps errors of deleted files until a DAG
  # processor has run).
  errors="$({ airflow dags list-import-errors -o json 2>/dev/null || true; } | python -c '
import json, os, sys
lines = [line for line in sys.stdin if line.startswith("[")]
for error in json.loads(lines[-1]) if lines else []:
    path = os.path.join(os.environ["AIRFLOW__CORE__DAGS_FOLDER"], error["filepath"])
    if os.path.exists(path):
        print(path + ":", error["error"], sep="\n")
')"
  if [ -n "$errors" ]; then
    echo "airflow setup: DAG import errors:" >&2
    echo "$errors" >&2
    exit 1
  fi
  touch "$dags_stamp"
fi
echo "airflow setup: done (AIRFLOW_HOME=$AIRFLOW_HOME)"
